/* store_op.h - a queued change, shared by the store's front (store.c: the queue and
 * the writer thread) and its backends (sqlite in store.c, PostgreSQL in store_pg.c).
 * Private to the store: nothing else includes it. */
#ifndef THREATBL_STORE_OP_H
#define THREATBL_STORE_OP_H

#include <stdint.h>

#include "ipaddr.h"
#include "store.h"
#include "verdict.h"

enum store_kind { STORE_OP_PUT, STORE_OP_DEL, STORE_OP_PROBE };

/* One queued change, in one allocation with its strings. */
struct store_op {
	struct store_op *next;
	struct ipaddr ip;
	struct verdict v;
	uint32_t when;  /* unix time of the put: the row's created/updated; of a probe */
	uint8_t kind;   /* enum store_kind */
	char *facts;    /* NULL, or inside text[] */
	char text[];    /* source, NUL[, facts, NUL]; STORE_OP_PROBE: the result, NUL */
};

/* One provider's count of calls on a UTC day, as the writer hands it to a backend:
 * calls is the count known here (sqlite keeps the larger of its row and this); add
 * is what this process counted since its last write that no claim counted
 * (PostgreSQL adds it to the fleet's row and reads the row back into calls). */
struct store_budget {
	char provider[STORE_PROVIDER_MAX];
	int64_t day;
	uint32_t calls;
	uint32_t add;
};

#endif
