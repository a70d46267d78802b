/* tcp.c - DNS over TCP on one address (RFC 7766): connections, framing, flow control. */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"
#include "list.h"
#include "log.h"
#include "querylog.h"
#include "tcp.h"

#define TCP_BACKLOG 128
/* The read buffer starts at this size and grows to hold the message being read. */
#define TCP_RBUF_MIN 1024
#define TCP_MSG_MAX 65535
/* Past this many answer bytes not yet written, the connection is not read. */
#define TCP_WMAX (128 * 1024)
/* Used when the configuration says 0. */
#define TCP_IDLE_DEFAULT_MS 10000
/* Buckets of the per-address counts (a power of two). The entries are at most the
 * connections open, so this bounds nothing; it keeps a chain short for a few thousand
 * client addresses, and the seed keeps a client from choosing one chain for all. */
#define TCP_CLIENT_BUCKETS 1024

struct tcp_conn;

/* Counters since start, logged at close and on SIGUSR1. */
struct tcp_stats {
	uint64_t accepted;     /* connections served */
	uint64_t refused;      /* accepted and closed at once: over tcp-clients, and no
				* connection could be evicted */
	uint64_t refused_ip;   /* accepted and closed at once: over tcp-clients-per-ip */
	uint64_t evicted;      /* the longest idle, closed to admit a new one */
	uint64_t idle_closed;  /* closed by the idle timeout */
	uint64_t malformed;    /* closed for a message shorter than a DNS header */
	uint64_t queries;      /* complete messages read */
	uint64_t answered;     /* answers written or queued */
	uint64_t parked;       /* queries that waited for a lookup */
};

/* A query waiting for a lookup; allocated per query, at most TCP_INFLIGHT per
 * connection. */
struct tcp_query {
	struct relay_waiter w;
	struct tcp_conn *c;
	struct list_node node;          /* on its connection's parked list */
	uint64_t received_ns;           /* for the query log; 0: not taken */
	uint16_t len;
	uint8_t q[];
};

/* An answer the socket did not take at once, kept alive until its callback. */
struct tcp_write {
	uv_write_t req;
	struct tcp_conn *c;
	size_t len;
	uint8_t data[];
};

/* One client address (IPv4 /32, IPv6 /64) with connections open: allocated with its
 * first counted connection, freed with its last. */
struct tcp_client {
	struct list_node node;          /* in its bucket */
	uint8_t key[16];                /* ::ffff:a.b.c.d, or the /64 with zeros after */
	unsigned n;                     /* its counted connections */
	int warned;                     /* its refusal was logged (once while it lasts) */
};

struct tcp_conn {
	uv_tcp_t h;
	uv_timer_t idle;
	struct tcp_listener *t;
	struct list_node node;          /* on the listener's conns */
	struct list_node lru;           /* on the listener's lru while evictable */
	struct tcp_client *client;      /* counted against it while counted */
	uint8_t *rbuf;                  /* the length prefix and message being read */
	size_t rlen, rcap;
	struct list_head parked;
	unsigned inflight;              /* parked queries */
	unsigned nwrites;               /* struct tcp_write in flight */
	size_t wqueued;                 /* their bytes */
	uint32_t idle_ms;
	struct ipaddr peer;             /* the client, when has_peer */
	int has_peer;
	struct sockaddr_storage peer_sa; /* the client with its port (query log) */
	unsigned refuse;                /* DNS_REFUSE: not in allow-query (at accept) */
	unsigned nclosed;               /* handles closed: freed at 2 */
	unsigned reading : 1, eof : 1, closing : 1, counted : 1;
};

struct tcp_listener {
	uv_tcp_t h;
	struct host *host;
	char name[INET6_ADDRSTRLEN + 10];
	struct list_head conns;         /* every conn not yet freed */
	/* Counted connections without parked queries, the most recently active first:
	 * at tcp-clients the last is closed to admit a new one (as NSD and Unbound do). A
	 * connection waiting for lookups is not idle, and the lookup deadline bounds it. */
	struct list_head lru;
	struct list_head clients[TCP_CLIENT_BUCKETS];
	uint64_t seed;                  /* of the clients' hash */
	unsigned nopen;                 /* counted against tcp-clients */
	unsigned nlive;                 /* allocated, not yet freed */
	int closing, handle_closed, at_limit;
	struct tcp_stats st;
	uint8_t obuf[2 + TCP_MSG_MAX];  /* the answer being written: prefix + message */
};

static void conn_process(struct tcp_conn *c);
static void conn_update(struct tcp_conn *c);

static void tcp_maybe_free(struct tcp_listener *t)
{
	if (t->closing && t->handle_closed && t->nlive == 0)
		free(t);
}

/* The key of a peer address: IPv4 /32 (as ::ffff:a.b.c.d), IPv6 /64, since one host
 * or one customer of a provider usually holds a whole /64. -EAFNOSUPPORT otherwise. */
/* A client's key: its IPv4 address (mapped), or its IPv6 /64. */
static void client_key(const struct ipaddr *peer, uint8_t key[16])
{
	struct ipaddr k;

	ipaddr_mask(peer, ipaddr_is_v4(peer) ? 128 : 64, &k);
	memcpy(key, k.b, 16);
}

static struct list_head *client_bucket(struct tcp_listener *t, const uint8_t key[16])
{
	uint64_t a, b, h;

	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	h = (a ^ t->seed) * 0x9e3779b97f4a7c15ull;
	h = (h ^ (h >> 29) ^ b) * 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return &t->clients[h & (TCP_CLIENT_BUCKETS - 1)];
}

/* The entry of key; when there is none, a new one with n = 0 if create, else NULL.
 * NULL also when out of memory. */
static struct tcp_client *client_get(struct tcp_listener *t, const uint8_t key[16],
				     int create)
{
	struct list_head *b = client_bucket(t, key);
	struct list_node *n;
	struct tcp_client *cl;

	for (n = list_first(b); n; n = list_next(b, n)) {
		cl = container_of(n, struct tcp_client, node);
		if (memcmp(cl->key, key, 16) == 0)
			return cl;
	}
	if (!create)
		return NULL;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return NULL;
	memcpy(cl->key, key, 16);
	list_add_head(b, &cl->node);
	return cl;
}

/* One counted connection fewer; the entry is freed with the last. */
static void client_put(struct tcp_client *cl)
{
	if (--cl->n == 0) {
		list_del(&cl->node);
		free(cl);
	}
}

static void conn_closed(uv_handle_t *h)
{
	struct tcp_conn *c = h->data;
	struct tcp_listener *t = c->t;

	if (++c->nclosed < 2)
		return;
	list_del(&c->node);
	t->nlive--;
	free(c->rbuf);
	free(c);
	tcp_maybe_free(t);
}

/* Close at once: parked queries are forgotten, pending writes are cancelled by libuv
 * (their callbacks run before the close callbacks). */
static void conn_close(struct tcp_conn *c)
{
	struct tcp_listener *t = c->t;
	struct list_node *n;

	if (c->closing)
		return;
	c->closing = 1;
	list_del(&c->lru);
	if (c->counted) {
		c->counted = 0;
		t->nopen--;
		client_put(c->client);
		c->client = NULL;
	}
	while ((n = list_pop(&c->parked))) {
		struct tcp_query *q = container_of(n, struct tcp_query, node);

		host_cancel(t->host, &q->w);
		free(q);
	}
	c->inflight = 0;
	uv_close((uv_handle_t *)&c->h, conn_closed);
	uv_close((uv_handle_t *)&c->idle, conn_closed);
}

static void conn_idle_cb(uv_timer_t *tm)
{
	struct tcp_conn *c = tm->data;

	/* Waiting for lookups is not idleness; the lookup deadline bounds it. */
	if (c->inflight) {
		uv_timer_start(&c->idle, conn_idle_cb, c->idle_ms, 0);
		return;
	}
	c->t->st.idle_closed++;
	conn_close(c);
}

/* Activity: a complete query read or an answer written. */
static void conn_idle_restart(struct tcp_conn *c)
{
	uv_timer_start(&c->idle, conn_idle_cb, c->idle_ms, 0);
	if (list_linked(&c->lru)) {
		list_del(&c->lru);
		list_add_head(&c->t->lru, &c->lru);
	}
}

static void conn_written(uv_write_t *req, int status)
{
	struct tcp_write *w = container_of(req, struct tcp_write, req);
	struct tcp_conn *c = w->c;

	c->nwrites--;
	c->wqueued -= w->len;
	free(w);
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	conn_idle_restart(c);
	conn_process(c);
	conn_update(c);
}

/* Write the answer in t->obuf (prefix included): straight to the socket when it takes
 * it, else copied into a write request. */
static void conn_send(struct tcp_conn *c, size_t len)
{
	struct tcp_listener *t = c->t;
	size_t total = 2 + len;
	uv_buf_t buf;
	struct tcp_write *w;
	int n, err;

	t->obuf[0] = (uint8_t)(len >> 8);
	t->obuf[1] = (uint8_t)len;
	buf = uv_buf_init((char *)t->obuf, (unsigned)total);
	n = uv_try_write((uv_stream_t *)&c->h, &buf, 1);
	if (n < 0 && n != UV_EAGAIN) {
		conn_close(c);
		return;
	}
	t->st.answered++;
	if (n == (int)total) {
		conn_idle_restart(c);
		return;
	}
	if (n < 0)
		n = 0;
	w = malloc(sizeof(*w) + total - (size_t)n);
	if (!w) {
		conn_close(c);
		return;
	}
	w->c = c;
	w->len = total - (size_t)n;
	memcpy(w->data, t->obuf + n, w->len);
	buf = uv_buf_init((char *)w->data, (unsigned)w->len);
	err = uv_write(&w->req, (uv_stream_t *)&c->h, &buf, 1, conn_written);
	if (err < 0) {
		free(w);
		conn_close(c);
		return;
	}
	c->nwrites++;
	c->wqueued += w->len;
}

/* Send the answer in t->obuf, count it and log it. */
static void conn_answer(struct tcp_conn *c, const uint8_t *msg, size_t len,
			const struct dns_result *res, uint64_t received_ns)
{
	struct host *h = c->t->host;

	host_count_answer(h, CTR_TCP, res);
	conn_send(c, res->len);
	if (querylog_on(h->qlog) && querylog_pick(h->qlog)) {
		struct querylog_entry e = {
			.client = c->has_peer ? (const struct sockaddr *)&c->peer_sa : NULL,
			.transport = CTR_TCP, .q = msg, .qlen = len, .res = res,
			.received_ns = received_ns, .sent_ns = uv_hrtime(),
		};

		querylog_line(h->qlog, &e);
	}
}

static void conn_query_cb(struct relay_waiter *rw, int status)
{
	struct tcp_query *q = container_of(rw, struct tcp_query, w);
	struct tcp_conn *c = q->c;
	struct tcp_listener *t = c->t;
	struct dns_result res;

	list_del(&q->node);
	c->inflight--;
	/* Nothing parked any more: evictable again, as the most recently active. */
	if (!c->inflight && c->counted && !c->closing)
		list_add_head(&t->lru, &c->lru);
	/* -ECANCELED: the daemon is stopping and closes the connection. */
	if (status != -ECANCELED && !c->closing) {
		dns_handle(&host_enter(t->host)->env, q->q, q->len, t->obuf + 2, TCP_MSG_MAX,
			   DNS_TCP | DNS_NOWAIT, &res);
		host_leave(t->host);
		if (res.status == DNS_REPLY)
			conn_answer(c, q->q, q->len, &res, q->received_ns);
	}
	free(q);
	if (c->closing)
		return;
	conn_process(c);
	conn_update(c);
}

/* Park a query until ip has a verdict. 0, or <0: answer it at once. */
static int conn_park(struct tcp_conn *c, const uint8_t *msg, size_t len,
		     const struct ipaddr *ip, uint64_t received_ns)
{
	struct tcp_listener *t = c->t;
	struct tcp_query *q;

	q = malloc(sizeof(*q) + len);
	if (!q)
		return -ENOMEM;
	q->c = c;
	q->len = (uint16_t)len;
	q->received_ns = received_ns;
	memcpy(q->q, msg, len);
	if (host_wait(t->host, ip, c->has_peer ? &c->peer : NULL, &q->w, conn_query_cb) != 0) {
		free(q);
		return -EBUSY;
	}
	list_add_head(&c->parked, &q->node);
	c->inflight++;
	list_del(&c->lru);
	t->st.parked++;
	return 0;
}

static void conn_query(struct tcp_conn *c, const struct dns_env *env, const uint8_t *msg,
		       size_t len, uint64_t received_ns)
{
	struct tcp_listener *t = c->t;
	struct dns_result res;

	t->st.queries++;
	dns_handle(env, msg, len, t->obuf + 2, TCP_MSG_MAX, DNS_TCP | c->refuse, &res);
	host_count_cache(t->host, &res);
	if (res.status == DNS_WAIT) {
		if (conn_park(c, msg, len, &res.ip, received_ns) == 0)
			return;
		dns_handle(env, msg, len, t->obuf + 2, TCP_MSG_MAX, DNS_TCP | DNS_NOWAIT, &res);
	}
	if (res.status == DNS_REPLY)
		conn_answer(c, msg, len, &res, received_ns);
}

/* Answer the complete messages in the read buffer, as far as the limits allow. */
static void conn_process(struct tcp_conn *c)
{
	struct tcp_listener *t = c->t;
	const struct dns_env *env = NULL;
	size_t pos = 0, mlen;
	/* The clock only when the query log is on. */
	uint64_t received_ns = querylog_on(t->host->qlog) ? uv_hrtime() : 0;

	while (!c->closing && c->rlen - pos >= 2) {
		mlen = (size_t)c->rbuf[pos] << 8 | c->rbuf[pos + 1];
		if (mlen < 12) {
			t->st.malformed++;
			conn_close(c);
			break;
		}
		if (c->rlen - pos < 2 + mlen)
			break;
		if (c->inflight >= TCP_INFLIGHT || c->wqueued > TCP_WMAX)
			break;
		/* Once per read: the lock is taken per batch, never per query. */
		if (!env)
			env = &host_enter(t->host)->env;
		conn_idle_restart(c);
		conn_query(c, env, c->rbuf + pos + 2, mlen, received_ns);
		pos += 2 + mlen;
	}
	if (env)
		host_leave(t->host);
	if (c->closing || !pos)
		return;
	memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
	c->rlen -= pos;
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tcp_conn *c = h->data;
	size_t need = TCP_RBUF_MIN;
	uint8_t *nb;

	(void)suggested;
	if (c->rlen >= 2) {
		size_t msg = 2 + ((size_t)c->rbuf[0] << 8 | c->rbuf[1]);

		if (msg > need)
			need = msg;
	}
	if (c->rcap < need) {
		nb = realloc(c->rbuf, need);
		if (!nb) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		c->rbuf = nb;
		c->rcap = need;
	}
	*buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tcp_conn *c = s->data;

	(void)buf;
	if (c->closing || nread == 0)
		return;
	if (nread > 0) {
		c->rlen += (size_t)nread;
		conn_process(c);
		conn_update(c);
		return;
	}
	if (nread == UV_EOF) {
		/* Answer what was read (parked queries included), then close. */
		c->eof = 1;
		conn_update(c);
		return;
	}
	/* UV_ENOBUFS: no memory for the buffer; anything else: the connection broke. */
	conn_close(c);
}

/* Read or not, or close after a client's EOF once nothing is left to answer. */
static void conn_update(struct tcp_conn *c)
{
	int want, err;

	if (c->closing)
		return;
	if (c->eof) {
		if (c->reading) {
			uv_read_stop((uv_stream_t *)&c->h);
			c->reading = 0;
		}
		if (!c->inflight && !c->nwrites)
			conn_close(c);
		return;
	}
	want = c->inflight < TCP_INFLIGHT && c->wqueued <= TCP_WMAX;
	if (want && !c->reading) {
		err = uv_read_start((uv_stream_t *)&c->h, conn_alloc, conn_read);
		if (err < 0) {
			conn_close(c);
			return;
		}
		c->reading = 1;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->h);
		c->reading = 0;
	}
}

/* The client's address, into c->peer: for allow-query, lookups and the per-client
 * count. */
static int conn_peer(struct tcp_conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (uv_tcp_getpeername(&c->h, (struct sockaddr *)&ss, &len) < 0)
		return -EINVAL;
	c->peer_sa = ss;
	return ipaddr_from_sockaddr(&c->peer, (struct sockaddr *)&ss);
}

/* Refuse past tcp-clients-per-ip; at tcp-clients, close the longest idle connection
 * to make room (a client holding many idle connections loses them to newcomers) and
 * refuse only when every connection waits for lookups. 0: admitted and counted. */
static int conn_admit(struct tcp_conn *c, unsigned max_clients, unsigned per_ip)
{
	struct tcp_listener *t = c->t;
	char ip[IPADDR_STRLEN];
	uint8_t key[16];
	struct tcp_client *cl;
	struct list_node *n;

	if (!c->has_peer)
		return -EINVAL;
	client_key(&c->peer, key);
	cl = client_get(t, key, 0);
	if (cl && per_ip && cl->n >= per_ip) {
		t->st.refused_ip++;
		if (!cl->warned) {
			cl->warned = 1;
			ipaddr_format(&c->peer, ip);
			log_warn("tcp: %s%s has %u connections open (tcp-clients-per-ip), "
				 "refusing more from it%s", ip, ipaddr_is_v4(&c->peer) ? "" :
				 " (its /64)", cl->n, t->host->tag);
		}
		return -EMFILE;
	}
	if (max_clients && t->nopen >= max_clients) {
		if (!t->at_limit) {
			t->at_limit = 1;
			log_warn("tcp: %u connections open (tcp-clients): closing the longest "
				 "idle to admit new ones%s", t->nopen, t->host->tag);
		}
		n = list_last(&t->lru);
		if (!n) {
			t->st.refused++;
			return -EMFILE;
		}
		t->st.evicted++;
		/* May free cl (the evicted was its last): it is looked up again below. */
		conn_close(container_of(n, struct tcp_conn, lru));
	} else if (t->at_limit && t->nopen < max_clients / 4 * 3) {
		/* Warn again only once the crowd has thinned, not at every churn. */
		t->at_limit = 0;
	}
	cl = client_get(t, key, 1);
	if (!cl) {
		log_err("tcp: accept: out of memory");
		return -ENOMEM;
	}
	cl->n++;
	c->client = cl;
	c->counted = 1;
	t->nopen++;
	list_add_head(&t->lru, &c->lru);
	return 0;
}

static void tcp_accept(uv_stream_t *server, int status)
{
	struct tcp_listener *t = server->data;
	const struct shared_view *view;
	unsigned max_clients, per_ip;
	uint32_t idle_ms;
	struct tcp_conn *c;

	if (status < 0) {
		log_warn("tcp: accept: %s", uv_strerror(status));
		return;
	}
	if (t->closing)
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_err("tcp: accept: out of memory");
		return;
	}
	c->t = t;
	list_init(&c->parked);
	uv_tcp_init(t->host->loop, &c->h);
	uv_timer_init(t->host->loop, &c->idle);
	c->h.data = c;
	c->idle.data = c;
	list_add_head(&t->conns, &c->node);
	t->nlive++;
	if (uv_accept(server, (uv_stream_t *)&c->h) < 0) {
		conn_close(c);
		return;
	}
	c->has_peer = conn_peer(c) == 0;
	/* Read per connection, so that a reload applies to the next ones. */
	view = host_enter(t->host);
	max_clients = view->tcp_max_clients;
	per_ip = view->tcp_clients_per_ip;
	idle_ms = view->tcp_idle_ms;
	if (view->allow_query && (!c->has_peer || !acl_admits(view->allow_query, &c->peer)))
		c->refuse = DNS_REFUSE;
	host_leave(t->host);
	if (conn_admit(c, max_clients, per_ip) < 0) {
		conn_close(c);
		return;
	}
	t->st.accepted++;
	c->idle_ms = idle_ms ? idle_ms : TCP_IDLE_DEFAULT_MS;
	/* Answers are whole messages written at once: do not let Nagle hold them. */
	uv_tcp_nodelay(&c->h, 1);
	conn_idle_restart(c);
	conn_update(c);
}

static void tcp_listener_closed(uv_handle_t *h)
{
	struct tcp_listener *t = h->data;

	t->handle_closed = 1;
	tcp_maybe_free(t);
}

int tcp_start(struct host *host, const struct sockaddr *addr, struct tcp_listener **out)
{
	struct tcp_listener *t;
	char ip[INET6_ADDRSTRLEN] = "?", name[INET6_ADDRSTRLEN + 10];
	unsigned flags = 0;
	int err;

	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)addr;

		uv_ip6_name(s6, ip, sizeof(ip));
		snprintf(name, sizeof(name), "[%s]:%u", ip, ntohs(s6->sin6_port));
		flags = UV_TCP_IPV6ONLY;
	} else if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)addr;

		uv_ip4_name(s4, ip, sizeof(ip));
		snprintf(name, sizeof(name), "%s:%u", ip, ntohs(s4->sin_port));
	} else {
		log_err("tcp: address family %d not supported", addr->sa_family);
		return -EAFNOSUPPORT;
	}

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->host = host;
	list_init(&t->conns);
	list_init(&t->lru);
	for (size_t i = 0; i < TCP_CLIENT_BUCKETS; i++)
		list_init(&t->clients[i]);
	if (uv_random(NULL, NULL, &t->seed, sizeof(t->seed), 0, NULL) < 0)
		t->seed = uv_hrtime();
	snprintf(t->name, sizeof(t->name), "%s", name);
	err = uv_tcp_init_ex(host->loop, &t->h, addr->sa_family);
	if (err < 0) {
		log_err("tcp %s: %s", name, uv_strerror(err));
		free(t);
		return err;
	}
	t->h.data = t;
	err = uv_tcp_bind(&t->h, addr, flags);
	if (err < 0)
		goto fail;
	/* libuv may report a bind error (EADDRINUSE) only here. */
	err = uv_listen((uv_stream_t *)&t->h, TCP_BACKLOG, tcp_accept);
	if (err < 0)
		goto fail;
	log_info("tcp: listening on %s%s", name, host->tag);
	*out = t;
	return 0;
fail:
	log_err("tcp %s: %s", name, uv_strerror(err));
	t->closing = 1;
	uv_close((uv_handle_t *)&t->h, tcp_listener_closed);
	return err;
}

unsigned tcp_connections(const struct tcp_listener *t)
{
	return t->nopen;
}

void tcp_log_stats(const struct tcp_listener *t, const char *when)
{
	log_info("%stcp %s%s: %llu connections, %llu refused, %llu refused per address, "
		 "%llu evicted, %llu idle-closed, %llu malformed; %llu queries, %llu answers, "
		 "%llu parked; %u open", when, t->name, t->host->tag,
		 (unsigned long long)t->st.accepted, (unsigned long long)t->st.refused,
		 (unsigned long long)t->st.refused_ip, (unsigned long long)t->st.evicted,
		 (unsigned long long)t->st.idle_closed, (unsigned long long)t->st.malformed,
		 (unsigned long long)t->st.queries, (unsigned long long)t->st.answered,
		 (unsigned long long)t->st.parked, t->nopen);
}

void tcp_close(struct tcp_listener *t)
{
	struct list_node *n, *tmp;

	if (!t || t->closing)
		return;
	t->closing = 1;
	tcp_log_stats(t, "");
	list_for_each_safe(n, tmp, &t->conns)
		conn_close(container_of(n, struct tcp_conn, node));
	uv_close((uv_handle_t *)&t->h, tcp_listener_closed);
}
