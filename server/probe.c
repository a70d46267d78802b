/* probe.c - threatbl's own check for OpenVPN served on tcp/443 (see probe.h).
 *
 * A probe is a job: queued until a slot and a token are free, then one TCP connection
 * with a timer for the whole of it. A job ends once (finish): its handles are closed
 * and, when both are closed, the result is reported and the job freed. Reporting
 * from the close callback keeps done out of probe_start even when the connection
 * fails at once, and means a job's memory is never touched after it is reported.
 * Jobs stay in the IP map until freed, so an IP is probed once at a time. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ipmap.h"
#include "list.h"
#include "log.h"
#include "probe.h"

#define P_CONTROL_HARD_RESET_CLIENT_V2 7
#define P_CONTROL_HARD_RESET_SERVER_V2 8
#define P_ACK_V1 5
#define ACK_MAX 8            /* OpenVPN's RELIABLE_ACK_SIZE */
#define PROBE_QUEUE_MAX 256  /* waiting probes; past it, probe_start refuses */

const char *probe_result_name(enum probe_result r)
{
	switch (r) {
	case PROBE_CONFIRMED:
		return "confirmed";
	case PROBE_NOT_OPENVPN:
		return "not-openvpn";
	case PROBE_UNCONFIRMED:
		return "unconfirmed";
	}
	return "?";
}

/* ---- the wire ---- */

void probe_build_reset(uint8_t out[PROBE_RESET_LEN], const uint8_t sid[PROBE_SID_LEN])
{
	out[0] = 0;
	out[1] = PROBE_RESET_LEN - 2;
	out[2] = P_CONTROL_HARD_RESET_CLIENT_V2 << 3; /* key id 0 */
	memcpy(out + 3, sid, PROBE_SID_LEN);
	out[11] = 0;                                  /* no acks */
	memset(out + 12, 0, 4);                       /* message packet id 0 */
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static enum probe_reply other(const char **why, const char *text)
{
	if (why)
		*why = text;
	return PROBE_REPLY_OTHER;
}

/* What a frame that is not OpenVPN looks like, for the log. */
static const char *looks_like(const uint8_t *b, size_t len)
{
	if (len >= 1 && b[0] == 0x15)
		return "TLS alert";
	if (len >= 1 && b[0] == 0x16)
		return "TLS handshake";
	if (len >= 5 && memcmp(b, "HTTP/", 5) == 0)
		return "HTTP reply";
	if (len >= 1 && b[0] >= 0x20 && b[0] < 0x7f)
		return "text";
	return "no OpenVPN framing";
}

/* One complete frame f of n bytes (opcode already checked). 1: our reset was
 * acknowledged by a server reset; 0: an ack of ours, read on; -1: other. */
static int judge_frame(const uint8_t *f, size_t n, const uint8_t *sid, const char **why)
{
	unsigned op = f[0] >> 3, nack, acked0 = 0;
	size_t p = 1 + PROBE_SID_LEN;

	if (n < p + 1) {
		other(why, "short frame");
		return -1;
	}
	nack = f[p++];
	if (nack > ACK_MAX) {
		other(why, "ack array too long");
		return -1;
	}
	if (nack == 0) {
		other(why, op == P_ACK_V1 ? "empty ack" : "reset without ack");
		return -1;
	}
	if (n < p + 4 * nack + PROBE_SID_LEN + (op == P_ACK_V1 ? 0 : 4)) {
		other(why, "short frame");
		return -1;
	}
	for (unsigned i = 0; i < nack; i++, p += 4)
		acked0 |= get32(f + p) == 0;
	if (!acked0) {
		other(why, "our packet not acknowledged");
		return -1;
	}
	if (memcmp(f + p, sid, PROBE_SID_LEN) != 0) {
		other(why, "wrong session id");
		return -1;
	}
	return op == P_CONTROL_HARD_RESET_SERVER_V2;
}

enum probe_reply probe_parse_reply(const uint8_t *buf, size_t len,
				   const uint8_t sid[PROBE_SID_LEN], const char **why)
{
	size_t off = 0, flen;
	unsigned op, key;
	int r;

	for (;;) {
		const uint8_t *b = buf + off;
		size_t left = len - off;

		/* Judge as early as the bytes allow: a TLS record or "HTTP/" starts with
		 * a length no control packet has. */
		if (left < 1)
			return PROBE_REPLY_MORE;
		if ((size_t)b[0] << 8 > PROBE_FRAME_MAX)
			return other(why, looks_like(b, left));
		if (left < 2)
			return PROBE_REPLY_MORE;
		flen = (size_t)b[0] << 8 | b[1];
		if (flen > PROBE_FRAME_MAX)
			return other(why, looks_like(b, left));
		if (flen == 0)
			return other(why, "empty frame");
		if (left < 3)
			return PROBE_REPLY_MORE;
		op = b[2] >> 3;
		key = b[2] & 7;
		if (op != P_CONTROL_HARD_RESET_SERVER_V2 && op != P_ACK_V1)
			return other(why, "another opcode");
		if (op == P_CONTROL_HARD_RESET_SERVER_V2 && key != 0)
			return other(why, "hard reset with a key id");
		if (left < 2 + flen)
			return PROBE_REPLY_MORE;
		r = judge_frame(b + 2, flen, sid, why);
		if (r > 0)
			return PROBE_REPLY_OPENVPN;
		if (r < 0)
			return PROBE_REPLY_OTHER;
		off += 2 + flen;
	}
}

/* ---- the probes ---- */

struct job {
	struct ipaddr ip;              /* first: the ipmap key */
	struct probe *p;
	struct list_node node;         /* on p->queue, then on p->running */
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t conn;
	uv_write_t wr;
	unsigned handles;              /* open handles */
	int finished;
	int report;                    /* 0 when closing: no done call */
	enum probe_result result;
	const char *why;
	uint64_t started;
	uint8_t sid[PROBE_SID_LEN];
	uint8_t out[PROBE_RESET_LEN];
	size_t len;
	uint8_t buf[PROBE_BUF];
};
_Static_assert(offsetof(struct job, ip) == 0, "ipmap keys objects by their start");

struct probe {
	uv_loop_t *loop;
	probe_done_fn done;
	void *done_arg;

	/* settings */
	int enabled;
	uint32_t timeout_ms;
	unsigned concurrency;
	double rate;              /* probes per second; 0: no limit */
	uint16_t port;
	int lookup_reserved;
	int has_from;
	struct sockaddr_storage from;

	struct ipmap map;         /* every job, by IP */
	struct list_head queue, running;
	unsigned nqueued, nrunning;
	double tokens;
	uint64_t tokens_at;
	uint64_t started, confirmed, not_openvpn, unconfirmed, refused;

	uv_timer_t sched;         /* when the next token is due */
	int closing;
	unsigned handles;         /* sched + every job's: p is freed at 0 when closing */
	void (*closed)(void *arg);
	void *closed_arg;
};

static void dispatch(struct probe *p);

static int set_from(struct probe *p, const char *from)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&p->from;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&p->from;

	p->has_from = 0;
	memset(&p->from, 0, sizeof(p->from));
	if (!from)
		return 0;
	if (uv_ip4_addr(from, 0, sin) != 0 && uv_ip6_addr(from, 0, sin6) != 0)
		return -EINVAL;
	p->has_from = 1;
	return 0;
}

static int apply(struct probe *p, const struct config *cfg)
{
	p->enabled = cfg->probe_openvpn443;
	p->timeout_ms = cfg->probe_timeout_ms ? cfg->probe_timeout_ms : 1;
	p->concurrency = cfg->probe_concurrency ? cfg->probe_concurrency : 1;
	p->rate = cfg->probe_rate > 0 ? cfg->probe_rate : 0;
	p->port = (uint16_t)(cfg->probe_port ? cfg->probe_port : 443);
	p->lookup_reserved = cfg->lookup_reserved;
	if (p->tokens > p->concurrency)
		p->tokens = p->concurrency;
	return set_from(p, cfg->probe_from);
}

static void job_free(struct job *j)
{
	ipmap_del(&j->p->map, j);
	list_del(&j->node);
	free(j);
}

static void maybe_freed(struct probe *p)
{
	void (*closed)(void *arg) = p->closed;
	void *arg = p->closed_arg;

	if (!p->closing || p->handles)
		return;
	ipmap_free(&p->map);
	free(p);
	if (closed)
		closed(arg);
}

static void log_result(const struct job *j)
{
	char ip[IPADDR_STRLEN];
	uint64_t ms = uv_now(j->p->loop) - j->started;

	if (!log_enabled(LOG_LVL_INFO))
		return;
	ipaddr_format(&j->ip, ip);
	switch (j->result) {
	case PROBE_CONFIRMED:
		log_info("probe %s: OpenVPN on tcp/%u confirmed in %" PRIu64 " ms", ip,
			 j->p->port, ms);
		break;
	case PROBE_NOT_OPENVPN:
		log_info("probe %s: not OpenVPN on tcp/%u (%s) in %" PRIu64 " ms", ip,
			 j->p->port, j->why ? j->why : "?", ms);
		break;
	case PROBE_UNCONFIRMED:
		log_info("probe %s: OpenVPN on tcp/%u unconfirmed (%s) after %" PRIu64 " ms",
			 ip, j->p->port, j->why ? j->why : "?", ms);
		break;
	}
}

/* Both handles closed: report, free, and let the next one start. */
static void job_closed(uv_handle_t *h)
{
	struct job *j = h->data;
	struct probe *p = j->p;
	struct ipaddr ip = j->ip;
	enum probe_result r = j->result;
	int report = j->report && !p->closing;

	p->handles--;
	if (--j->handles)
		return;
	p->nrunning--;
	job_free(j);
	if (report)
		p->done(p->done_arg, &ip, r);
	if (p->closing)
		maybe_freed(p);
	else
		dispatch(p);
}

static void finish(struct job *j, enum probe_result r, const char *why)
{
	if (j->finished)
		return;
	j->finished = 1;
	j->result = r;
	j->why = why;
	switch (r) {
	case PROBE_CONFIRMED:
		j->p->confirmed++;
		break;
	case PROBE_NOT_OPENVPN:
		j->p->not_openvpn++;
		break;
	case PROBE_UNCONFIRMED:
		j->p->unconfirmed++;
		break;
	}
	if (j->report && !j->p->closing)
		log_result(j);
	uv_timer_stop(&j->timer);
	uv_close((uv_handle_t *)&j->tcp, job_closed);
	uv_close((uv_handle_t *)&j->timer, job_closed);
}

/* A connection or read error: a reset or refusal is an answer (not OpenVPN); a
 * network that cannot reach the address says nothing about what listens there. */
static void fail(struct job *j, int status)
{
	switch (status) {
	case UV_ECONNREFUSED:
		finish(j, PROBE_NOT_OPENVPN, "connection refused");
		break;
	case UV_ECONNRESET:
	case UV_EPIPE:
		finish(j, PROBE_NOT_OPENVPN, "connection reset");
		break;
	case UV_EOF:
		finish(j, PROBE_NOT_OPENVPN, "closed without a reply");
		break;
	case UV_ETIMEDOUT:
		finish(j, PROBE_UNCONFIRMED, "connection timed out");
		break;
	default:
		finish(j, PROBE_UNCONFIRMED, uv_strerror(status));
		break;
	}
}

static void on_timeout(uv_timer_t *t)
{
	struct job *j = t->data;

	finish(j, PROBE_UNCONFIRMED, j->len ? "incomplete reply" : "no reply");
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct job *j = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)j->buf + j->len, (unsigned)(sizeof(j->buf) - j->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct job *j = s->data;
	const char *why = NULL;

	(void)buf;
	if (j->finished || nread == 0)
		return;
	if (nread < 0) {
		if (nread == UV_EOF && j->len)
			finish(j, PROBE_NOT_OPENVPN, "closed in the middle of a reply");
		else
			fail(j, (int)nread);
		return;
	}
	j->len += (size_t)nread;
	switch (probe_parse_reply(j->buf, j->len, j->sid, &why)) {
	case PROBE_REPLY_OPENVPN:
		finish(j, PROBE_CONFIRMED, NULL);
		break;
	case PROBE_REPLY_OTHER:
		finish(j, PROBE_NOT_OPENVPN, why);
		break;
	case PROBE_REPLY_MORE:
		if (j->len == sizeof(j->buf))
			finish(j, PROBE_NOT_OPENVPN, "reply too long");
		break;
	}
}

static void on_write(uv_write_t *w, int status)
{
	struct job *j = w->data;

	if (status < 0 && status != UV_ECANCELED && !j->finished)
		fail(j, status);
}

static void on_connect(uv_connect_t *c, int status)
{
	struct job *j = c->data;
	uv_buf_t b;
	int rc;

	if (j->finished)
		return;
	if (status < 0) {
		fail(j, status);
		return;
	}
	probe_build_reset(j->out, j->sid);
	b = uv_buf_init((char *)j->out, sizeof(j->out));
	j->wr.data = j;
	if ((rc = uv_read_start((uv_stream_t *)&j->tcp, on_alloc, on_read)) < 0 ||
	    (rc = uv_write(&j->wr, (uv_stream_t *)&j->tcp, &b, 1, on_write)) < 0)
		fail(j, rc);
}

static void random_sid(uint8_t sid[PROBE_SID_LEN])
{
	static uint64_t counter;
	uint64_t x;

	if (getrandom(sid, PROBE_SID_LEN, GRND_NONBLOCK) == PROBE_SID_LEN)
		return;
	/* Only uniqueness matters here: the session id authenticates nothing. */
	x = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ ++counter * 0xbf58476d1ce4e5b9ull;
	memcpy(sid, &x, PROBE_SID_LEN);
}

static void target(const struct probe *p, const struct ipaddr *ip,
		   struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ipaddr_is_v4(ip)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(p->port);
		memcpy(&sin->sin_addr, ip->b + 12, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(p->port);
		memcpy(&sin6->sin6_addr, ip->b, 16);
	}
}

static void job_run(struct probe *p, struct job *j)
{
	struct sockaddr_storage to;
	int rc;

	list_add_tail(&p->running, &j->node);
	p->nrunning++;
	p->started++;
	j->started = uv_now(p->loop);
	random_sid(j->sid);
	/* Both handles exist from here on: finish closes them whatever happens next. */
	uv_tcp_init(p->loop, &j->tcp);
	uv_timer_init(p->loop, &j->timer);
	j->tcp.data = j->timer.data = j->conn.data = j;
	j->handles = 2;
	p->handles += 2;
	uv_timer_start(&j->timer, on_timeout, p->timeout_ms, 0);
	target(p, &j->ip, &to);
	if (p->has_from && (rc = uv_tcp_bind(&j->tcp, (struct sockaddr *)&p->from, 0)) < 0) {
		log_warn("probe: cannot bind to [probe] from: %s", uv_strerror(rc));
		finish(j, PROBE_UNCONFIRMED, "cannot bind to [probe] from");
		return;
	}
	rc = uv_tcp_connect(&j->conn, &j->tcp, (struct sockaddr *)&to, on_connect);
	if (rc < 0)
		fail(j, rc);
}

static void refill(struct probe *p, uint64_t now)
{
	if (p->rate <= 0)
		return;
	p->tokens += (double)(now - p->tokens_at) * p->rate / 1000.0;
	if (p->tokens > p->concurrency)
		p->tokens = p->concurrency;
	p->tokens_at = now;
}

static void sched_cb(uv_timer_t *t)
{
	dispatch(t->data);
}

static void dispatch(struct probe *p)
{
	uint64_t now = uv_now(p->loop);
	struct list_node *n;

	if (p->closing)
		return;
	refill(p, now);
	while (p->nqueued && p->nrunning < p->concurrency && (p->rate <= 0 || p->tokens >= 1.0)) {
		n = list_pop(&p->queue);
		p->nqueued--;
		if (p->rate > 0)
			p->tokens -= 1.0;
		job_run(p, container_of(n, struct job, node));
	}
	if (p->nqueued && p->nrunning < p->concurrency && p->rate > 0) {
		uint64_t wait = (uint64_t)((1.0 - p->tokens) * 1000.0 / p->rate) + 1;

		uv_timer_start(&p->sched, sched_cb, wait, 0);
	} else {
		uv_timer_stop(&p->sched);
	}
}

int probe_new(uv_loop_t *loop, const struct config *cfg, probe_done_fn done, void *arg,
	      struct probe **out)
{
	struct probe *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	p->loop = loop;
	p->done = done;
	p->done_arg = arg;
	list_init(&p->queue);
	list_init(&p->running);
	ipmap_init(&p->map);
	if ((rc = apply(p, cfg)) < 0) {
		free(p);
		return rc;
	}
	p->tokens = p->concurrency;
	p->tokens_at = uv_now(loop);
	uv_timer_init(loop, &p->sched);
	p->sched.data = p;
	p->handles = 1;
	*out = p;
	return 0;
}

static void drop_queue(struct probe *p)
{
	struct list_node *n;

	while ((n = list_first(&p->queue))) {
		p->nqueued--;
		job_free(container_of(n, struct job, node));
	}
}

void probe_reconfigure(struct probe *p, const struct config *cfg)
{
	int was = p->enabled;

	if (apply(p, cfg) < 0)
		log_err("probe: [probe] from is not an address; probing without it");
	if (was && !p->enabled) {
		log_info("probe: openvpn443 switched off");
		drop_queue(p);
	} else if (!was && p->enabled) {
		log_info("probe: openvpn443 switched on");
	}
	dispatch(p);
}

int probe_enabled(const struct probe *p)
{
	return p->enabled && !p->closing;
}

int probe_start(struct probe *p, const struct ipaddr *ip)
{
	struct job *j;

	if (!probe_enabled(p))
		return -ENOTSUP;
	if (ipmap_find(&p->map, ip))
		return -EALREADY;
	if (!p->lookup_reserved && ipaddr_is_reserved(ip)) {
		p->refused++;
		return -EPERM;
	}
	if (p->has_from && (p->from.ss_family == AF_INET) != ipaddr_is_v4(ip)) {
		p->refused++;
		return -EAFNOSUPPORT;
	}
	if (p->nqueued >= PROBE_QUEUE_MAX) {
		p->refused++;
		return -EBUSY;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->ip = *ip;
	j->p = p;
	j->report = 1;
	if (ipmap_add(&p->map, j) < 0) {
		free(j);
		return -ENOMEM;
	}
	/* Queued even when a slot is free: the dispatch below starts it, and a
	 * connection that fails at once still reports from a callback. */
	list_add_tail(&p->queue, &j->node);
	p->nqueued++;
	dispatch(p);
	return 0;
}

void probe_get_stats(const struct probe *p, struct probe_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->running = p->nrunning;
	st->queued = p->nqueued;
	st->started = p->started;
	st->confirmed = p->confirmed;
	st->not_openvpn = p->not_openvpn;
	st->unconfirmed = p->unconfirmed;
	st->refused = p->refused;
}

static void sched_closed(uv_handle_t *h)
{
	struct probe *p = h->data;

	p->handles--;
	maybe_freed(p);
}

void probe_close(struct probe *p, void (*closed)(void *arg), void *arg)
{
	struct list_node *n;
	struct job *j;

	p->closing = 1;
	p->closed = closed;
	p->closed_arg = arg;
	drop_queue(p);
	for (n = list_first(&p->running); n; n = list_next(&p->running, n)) {
		j = container_of(n, struct job, node);
		j->report = 0;
		finish(j, PROBE_UNCONFIRMED, "closing");
	}
	uv_close((uv_handle_t *)&p->sched, sched_closed);
}
