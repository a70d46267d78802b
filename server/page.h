/* page.c - the lookup page's documents: HTML and JSON for one address, the form, the
 * style sheet.
 *
 * Pure rendering: no sockets, no locks, no clock of its own, so every route's body is
 * unit-testable. Every string that came from a provider, a list or a configuration
 * (TXT texts, evidence, list entries, zone names) is escaped here and nowhere else:
 * the HTML is built only through page_esc(). */
#ifndef THREATBL_PAGE_H
#define THREATBL_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "explain.h"

/* A growing buffer; oom set once an allocation failed (the document is then useless). */
struct page_buf {
	char *p;
	size_t len, cap;
	int oom;
};

void page_buf_free(struct page_buf *b);

/* What the page says about re-checking. */
struct page_recheck {
	int enabled;           /* [http] recheck = yes */
	uint32_t next;         /* unix time from which a re-check is possible; 0: now */
	const char *notice;    /* one sentence shown above the verdict, or NULL */
};

/* The verdict page of e. */
int page_html(const struct explain *e, const struct page_recheck *r, struct page_buf *out);

/* The same as one JSON object (doc/lookup-page.md#json). */
int page_json(const struct explain *e, const struct page_recheck *r, struct page_buf *out);

/* The start page with the form; message (escaped) shown above it when not NULL. */
int page_form(const char *message, struct page_buf *out);

/* The style sheet (static). */
const char *page_css(size_t *len);

#endif
