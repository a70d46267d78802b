/* dbexport.c - `threatbl db export` (the verdicts of a database file as an rbldnsd
 * dataset, a zone file or JSON lines) and `import` (those JSON lines back, checked
 * whole, then in one transaction): doc/operations.md#export-and-import. */
#ifndef THREATBL_DBEXPORT_H
#define THREATBL_DBEXPORT_H

#include "dbcmd.h"

/* argv[0] is "export" or "import"; the tool's exit status. */
int dbexport_export(const struct dbcmd_opts *o, int argc, char **argv);
int dbexport_import(const struct dbcmd_opts *o, int argc, char **argv);

#endif
