/* config_ini.c - INI lines for config.c (see config_ini.h). */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_ini.h"
#include "config_value.h"

_Static_assert(INI_MAX_LINE == CONFIG_INI_MAX_LINE + 1, "inih's line buffer changed");

struct ini_state {
	const struct config_ini_ops *ops;
	void *arg;
	FILE *fp;
	unsigned lineno;
	int oom;
	unsigned first_syntax; /* first syntax error we reported: inih returns it too */
	int prev_key;          /* inih's prev_name: an indented line continues that key */
	int cont;              /* the line just read is a continuation */
	char *key, *val;       /* the key waiting for continuation lines, or NULL */
	unsigned key_line;
};

static void syntax_error(struct ini_state *st, const char *msg)
{
	st->ops->error(st->arg, st->lineno, msg);
	if (!st->first_syntax)
		st->first_syntax = st->lineno;
}

static void pend_flush(struct ini_state *st)
{
	if (!st->key)
		return;
	st->ops->key(st->arg, st->key_line, st->key, st->val);
	free(st->key);
	free(st->val);
	st->key = st->val = NULL;
}

/* inih's scan: up to one of chars, or to a ';' after whitespace (an inline comment). */
static char *find_chars_or_comment(char *s, const char *chars)
{
	int was_space = 0;

	while (*s && !(chars && strchr(chars, *s)) && !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

/* Classify a line as inih is about to, with the same tests in the same order. */
static void line_classify(struct ini_state *st, const char *raw)
{
	char buf[INI_MAX_LINE + 1], *start = buf, *s, *end;

	snprintf(buf, sizeof(buf), "%s", raw);
	if (st->lineno == 1 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		start += 3;
	s = config_value_trim(start);
	st->cont = 0;
	if (!*s || *s == ';' || *s == '#')
		return;
	if (st->prev_key && s > buf) {
		st->cont = 1;
		return;
	}
	pend_flush(st);
	if (*s == '[') {
		end = find_chars_or_comment(s + 1, "]");
		if (*end == ']') {
			*end = '\0';
			st->ops->section(st->arg, st->lineno, config_value_trim(s + 1));
			st->prev_key = 0;
		} else {
			syntax_error(st, "no ']' at the end of the section header");
			st->ops->section(st->arg, st->lineno, NULL);
		}
		return;
	}
	end = find_chars_or_comment(s, "=:");
	if (*end == '=' || *end == ':')
		st->prev_key = end > s;
	else
		syntax_error(st, "expected 'key = value', a [section] or a comment");
}

/* inih's reader: one physical line at a time, counting lines and refusing the ones
 * inih would cut or misread. getc rather than fgets: a NUL byte must not hide the
 * rest of a line, which would then be parsed as a line of its own. */
static char *line_reader(char *str, int num, void *stream)
{
	struct ini_state *st = stream;
	size_t len = 0, max = (size_t)num - 1;
	int c, nul = 0, too_long = 0, cr = 0;

	c = getc(st->fp);
	if (c == EOF) {
		pend_flush(st);
		return NULL;
	}
	st->lineno++;
	for (; c != EOF && c != '\n'; c = getc(st->fp)) {
		if (cr) /* a '\r' past the limit is fine only right before the line end */
			too_long = 1;
		if (c == '\0')
			nul = 1;
		else if (len < max)
			str[len++] = (char)c;
		else if (c == '\r')
			cr = 1;
		else
			too_long = 1;
	}
	str[len] = '\0';
	if (nul || too_long) {
		char msg[64];

		if (nul)
			snprintf(msg, sizeof(msg), "NUL byte in the line");
		else
			snprintf(msg, sizeof(msg), "line too long (at most %d characters)",
				 num - 1);
		st->ops->error(st->arg, st->lineno, msg);
		str[0] = '\0'; /* inih sees an empty line */
		st->cont = 0;
		return str;
	}
	line_classify(st, str);
	return str;
}

static int key_handler(void *user, const char *section, const char *name, const char *value)
{
	struct ini_state *st = user;
	char *c, *v;
	size_t n;

	(void)section; /* the caller follows sections: inih cuts names at 50 characters */
	if (st->cont && st->key) {
		/* this inih keeps " ;" comments in continuation lines: drop them here too */
		c = find_chars_or_comment((char *)value, NULL);
		n = (size_t)(c - value);
		while (n && isspace((unsigned char)value[n - 1]))
			n--;
		if (!n)
			return 1;
		if (asprintf(&v, "%s%s%.*s", st->val, *st->val ? " " : "", (int)n, value) < 0) {
			st->oom = 1;
			return 1;
		}
		free(st->val);
		st->val = v;
		return 1;
	}
	pend_flush(st);
	st->key = strdup(name);
	st->val = strdup(value);
	st->key_line = st->lineno;
	if (!st->key || !st->val) {
		st->oom = 1;
		free(st->key);
		free(st->val);
		st->key = st->val = NULL;
	}
	return 1; /* problems with values are the caller's to report */
}

int config_ini_parse(FILE *fp, const struct config_ini_ops *ops, void *arg)
{
	struct ini_state st = { .ops = ops, .arg = arg, .fp = fp };
	int r;

	r = ini_parse_stream(line_reader, &st, key_handler, &st);
	pend_flush(&st);
	if (r > 0 && (unsigned)r != st.first_syntax)
		ops->error(arg, (unsigned)r, "syntax error");
	if (st.oom || r < 0)
		return -ENOMEM;
	return ferror(fp) ? -EIO : 0;
}
