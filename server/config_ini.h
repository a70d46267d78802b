/* config_ini.c - INI lines for config.c: inih, with line numbers and every error.
 *
 * This inih (Debian's) cannot give the handler a line number, cuts lines at 199
 * characters and reads the rest as a new line, does not report section headers, and
 * returns only the first syntax error. config_ini_parse() feeds inih through a reader
 * that counts lines, refuses long lines whole, and classifies each line exactly as inih
 * will, so that headers and all syntax errors are seen with their line. A key reaches
 * the caller once its continuation lines (indented lines after it: inih's multiline
 * rule) are appended to its value, separated by one space. */
#ifndef THREATBL_CONFIG_INI_H
#define THREATBL_CONFIG_INI_H

#include <stdio.h>

struct config_ini_ops {
	/* "[text]": text is what is between the brackets, trimmed, writable. text is NULL
	 * for a broken header (already reported through error). */
	void (*section)(void *arg, unsigned line, char *text);
	/* "key = value" (or "key: value"), " ;" comments removed, value trimmed. */
	void (*key)(void *arg, unsigned line, const char *key, const char *value);
	/* A line that is not a comment, a header or a key, or is too long. */
	void (*error)(void *arg, unsigned line, const char *msg);
};

/* Read fp to its end. Returns 0, -ENOMEM or -EIO (a read error; the lines before it
 * were delivered). The longest line accepted has CONFIG_INI_MAX_LINE characters. */
int config_ini_parse(FILE *fp, const struct config_ini_ops *ops, void *arg);

#define CONFIG_INI_MAX_LINE 199

#endif
