/* store_pg_int.h - what store_pg.c (connection, schema, load, writer) and
 * store_pg_fleet.c (listener, claimer) share. Private to those two files. */
#ifndef THREATBL_STORE_PG_INT_H
#define THREATBL_STORE_PG_INT_H

#include <endian.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store_pg.h"

#define PG_FETCH_ROWS 10000         /* rows per FETCH / catch-up query */
#define PG_POLL_MS 250              /* how often the threads look at their stop flag */
#define PG_BACKOFF_MIN_MS 500       /* reconnection delay, doubling */
#define PG_BACKOFF_MAX_MS 8000
#define PG_CLAIMS_MAX 100000        /* claim requests waiting */
#define PG_HEARTBEAT_S 5            /* a node says it is alive this often ... */
#define PG_ALIVE_S 30               /* ... and counts as alive for this long */
#define PG_PURGES_KEEP "7 days"     /* purges the other nodes can still follow */
#define PG_STR2(x) #x
#define PG_STR(x) PG_STR2(x)

/* A claim request, or a release (cb NULL). */
struct pg_claim {
	struct pg_claim *next;
	struct ipaddr ip;
	struct store_claim_args a;  /* a.provider points at provider */
	char provider[STORE_PROVIDER_MAX];
	store_claim_cb cb;
	void *arg;
};

struct store_pg {
	char *uri;
	char *password;             /* NULL: none of ours (never logged) */
	char name[512];             /* the URI without its password, for the log */
	char node[40];              /* this process, in claims and verdicts.node */
	PGconn *wconn;              /* the writer's (the opener's before start) */
	int wprepared;

	pthread_mutex_t mu;         /* guards what follows */
	pthread_cond_t wake;        /* to the claimer */
	int stop, started;
	struct pg_claim *chead, *ctail;
	size_t nclaims;
	int64_t last_change;        /* listener: the last change number seen */
	struct store_fleet_stats stats;
	store_verdict_fn listener;
	void *listener_arg;
	void (*overrides_changed)(void *arg); /* set before start; NULL: none */
	void *overrides_arg;
	pthread_t listen_thread, claim_thread;
	/* The budgets while PostgreSQL is away (doc/fleet.md#faults): this node's share
	 * of what the fleet had left of each provider's, split between the nodes alive
	 * then. The claimer's (the opener's before start), but nodes. */
	unsigned nodes;             /* nodes alive at the last heartbeat (>= 1) */
	struct pg_share {
		char provider[STORE_PROVIDER_MAX];
		int64_t day;
		uint32_t fleet_calls;   /* the fleet's count on day, as last known */
		uint32_t local_calls;   /* calls decided locally, not yet counted there */
	} share[STORE_BUDGETS];
	unsigned nshare;
};

/* The share entry of provider, made when there is none; NULL when the table is full. */
struct pg_share *store_pg_share(struct store_pg *pg, const char *provider);

/* A new connection with notices sent to the debug log, or NULL with a line in err. */
PGconn *store_pg_connect(struct store_pg *pg, char *err, size_t errlen);
/* PostgreSQL's last message on one line. */
void store_pg_msg(PGconn *c, char *err, size_t errlen);
/* A command without rows wanted; 0 or -EIO with the message in err. */
int store_pg_exec(PGconn *c, const char *sql, char *err, size_t errlen);
/* Binary columns ip, mask, flags, checked, change of row i; 0 when malformed. */
int store_pg_row(const PGresult *r, int i, struct ipaddr *ip, struct verdict *v,
		 int64_t *change);
/* Column col of row as a string into out (cut to size; "" when NULL). */
void store_pg_text(const PGresult *r, int row, int col, char *out, size_t size);

static inline uint32_t store_pg_u32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static inline int64_t store_pg_i64(const char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return (int64_t)be64toh(v);
}

#endif
