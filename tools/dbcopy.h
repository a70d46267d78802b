/* dbcopy.c - `threatbl db copy FROM TO`: every verdict from one database to another,
 * sqlite or PostgreSQL either way (doc/fleet.md#moving), through store.h so that
 * both ends get the schema threatbld makes. TO must be empty (a new sqlite file is
 * made); a row's verdict, source, facts, checked time and last probe are copied, its
 * created and updated times become its checked time. */
#ifndef THREATBL_DBCOPY_H
#define THREATBL_DBCOPY_H

/* password_file: PostgreSQL's password for either end (NULL: the credential
 * threatbl-db-password, the URI's or libpq's own). An exit status of threatbl. */
int dbcopy_main(const char *from, const char *to, const char *password_file);

#endif
