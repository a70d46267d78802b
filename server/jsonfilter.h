/* jsonfilter.c - read a large JSON document, keeping only the members asked for.
 *
 * A Criminal IP report can be tens of MB, almost all of it domains, certificates and
 * banners the classifier never looks at; jansson would build all of it in memory
 * (several times the text) before a single field could be read. This reader checks
 * the whole text as strictly as jansson does, but builds jansson values only along a
 * tree of rules, and skips the rest as it goes. Pure: no I/O, no globals, any thread.
 *
 * Rules: at an object, a member whose key has a rule is kept, any other is skipped.
 * A rule without sub-rules keeps the member's whole value; a rule with sub-rules
 * applies them to the value when it is an object, to each element when it is an
 * array (arrays are looked through), and keeps it as it is when it is a scalar.
 * Strings are kept as valid UTF-8: a byte that is not (a banner copied raw) becomes
 * '?', as does a lone surrogate escape. Integers too large for json_int_t become
 * reals. Nesting is limited to JSONF_MAX_DEPTH. */
#ifndef THREATBL_JSONFILTER_H
#define THREATBL_JSONFILTER_H

#include <stddef.h>

#include <jansson.h>

#define JSONF_MAX_DEPTH 2048

struct jsonf_rule {
	const char *key;                 /* NULL ends a list of rules */
	const struct jsonf_rule *sub;    /* NULL: keep the whole value */
};

/* Read text (len bytes, NUL bytes inside strings allowed) with rules applied to its
 * top-level value. Returns the new value (caller frees with json_decref), or NULL
 * when the text is not one JSON value (or memory ran out: *nomem is then set to 1;
 * nomem may be NULL). */
json_t *jsonf_read(const char *text, size_t len, const struct jsonf_rule *rules,
		   int *nomem);

#endif
