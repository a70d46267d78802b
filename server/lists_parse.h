/* lists_parse.c - the line syntax of the static lists (the format is in lists.h).
 *
 * lists_parse_line() says what one line of a list file holds: nothing (blank,
 * comment, directive or a bad line), a new default value, or an entry (IPv4 prefix
 * or range, IPv6 prefix, "!" exclusion) with its value as written. Problems are
 * reported through the callback as they are found, in line order. What the values
 * mean (defaults, interning) and where entries go is lists.c's business. */
#ifndef THREATBL_LISTS_PARSE_H
#define THREATBL_LISTS_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* TXT templates longer than this are truncated (with a warning). */
#define LISTS_PARSE_TXT_MAX 255

/* One problem on the current line. level: 0 = error (the line is skipped),
 * 1 = warning. msg is formatted already. */
typedef void (*lists_parse_say_fn)(void *arg, int level, const char *msg);

/* Parser state for one file after another; set say and arg, then call
 * lists_parse_file() at the start of every file. */
struct lists_parse {
	lists_parse_say_fn say;
	void *arg;
	/* private */
	const char *why; /* why the last parse step failed */
	int saw_zero, zero_warned;
};

/* A value as written. The parts left out are those of the default: the file's
 * current default for an entry, 127.0.0.2 with no text for a default line. */
struct lists_parse_value {
	int has_a;     /* else the default's A */
	uint8_t a[4];
	const char *txt; /* NULL: the default's text; else txtlen bytes in the line */
	size_t txtlen;   /* at most LISTS_PARSE_TXT_MAX */
};

enum lists_parse_kind {
	LISTS_PARSE_NOTHING = 0, /* blank, comment, directive, or a bad line (reported) */
	LISTS_PARSE_DEFAULT,     /* ":A:TEXT": val is the file's new default */
	LISTS_PARSE_ENTRY,       /* an entry: see struct lists_parse_entry */
};

struct lists_parse_entry {
	int excl;        /* "!": never listed; val is not set */
	int has_val;     /* else the file's current default */
	int v6;
	uint8_t net[16]; /* v6: the prefix, host bits cleared */
	unsigned len;    /* v6: its length, 0-128 */
	uint32_t lo, hi; /* v4: the first and last address (host order) */
	int bits;        /* v4: the prefix length (lo masked), -1 for a range */
	struct lists_parse_value val;
};

/* A new file starts: warnings said once per file are said again. */
void lists_parse_file(struct lists_parse *p);

/* Parse line s (no newline; trimmed here, in place). An entry or default is put in
 * *e; its TXT points into s, valid as long as s is. Never allocates. */
enum lists_parse_kind lists_parse_line(struct lists_parse *p, char *s,
				       struct lists_parse_entry *e);

#endif
