/* test_probe.c - the OpenVPN probe: the packet it sends, the replies it judges, and
 * whole probes against fake servers on loopback, on a real uv loop in this process.
 *
 * The fake servers run on the same loop as the probes: one listener per behaviour
 * (answer with a server reset, close, send a TLS alert, stay silent), each on an
 * ephemeral port of 127.0.0.1, which [probe] port points the probe at. Nothing here
 * depends on how long things take: the loop runs until every probe reported, with a
 * generous guard timer that fails the test rather than hanging it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config.h"
#include "log.h"
#include "probe.h"
#include "tap.h"
#include "testutil.h"

static const uint8_t SID[8] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
static const uint8_t SRV_SID[8] = { 0x9f, 0x1c, 0xd2, 0x85, 0x11, 0x0f, 0x01, 0x00 };

/* A P_CONTROL_HARD_RESET_SERVER_V2 as OpenVPN sends it: opcode/key, its session id,
 * one ack (packet id ack_id), our session id, message packet id 0. Returns 28. */
static size_t server_reset(uint8_t *b, uint8_t opkey, const uint8_t *remote, uint32_t ack_id)
{
	b[0] = 0;
	b[1] = 26;
	b[2] = opkey;
	memcpy(b + 3, SRV_SID, 8);
	b[11] = 1;
	b[12] = (uint8_t)(ack_id >> 24);
	b[13] = (uint8_t)(ack_id >> 16);
	b[14] = (uint8_t)(ack_id >> 8);
	b[15] = (uint8_t)ack_id;
	memcpy(b + 16, remote, 8);
	memset(b + 24, 0, 4);
	return 28;
}

static enum probe_reply judge(const void *b, size_t n, const char **why)
{
	*why = NULL;
	return probe_parse_reply(b, n, SID, why);
}

static void test_wire(void)
{
	static const uint8_t want[PROBE_RESET_LEN] = {
		0x00, 0x0e, 0x38, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
		0x00, 0x00, 0x00, 0x00, 0x00,
	};
	static const uint8_t alert[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28 };
	static const uint8_t hello[] = {
		0x16, 0x03, 0x03, 0x00, 0x5a, 0x02, 0x00, 0x00, 0x56, 0x03, 0x03, 0x5f, 0x2a,
	};
	uint8_t out[PROBE_RESET_LEN], b[128];
	const char *why;
	size_t n, i;
	int more;

	probe_build_reset(out, SID);
	ok(memcmp(out, want, sizeof(want)) == 0,
	   "reset: length 14, opcode 7 key 0, session id, no acks, packet id 0");

	n = server_reset(b, 0x40, SID, 0);
	is_int(judge(b, n, &why), PROBE_REPLY_OPENVPN, "a server reset acknowledging ours");
	more = 1;
	for (i = 0; i < n; i++)
		more &= judge(b, i, &why) == PROBE_REPLY_MORE;
	ok(more, "every prefix of the good reply asks for more bytes");

	n = server_reset(b, 0x40, SRV_SID, 0);
	is_int(judge(b, n, &why), PROBE_REPLY_OTHER, "wrong session id: not OpenVPN");
	is_str(why, "wrong session id", "... and says so");

	n = server_reset(b, 0x40, SID, 7);
	is_int(judge(b, n, &why), PROBE_REPLY_OTHER, "an ack of another packet id");

	n = server_reset(b, 0x40, SID, 0);
	b[1] = 14;
	b[11] = 0; /* no ack: the remote session id goes too */
	memmove(b + 12, b + 24, 4);
	is_int(judge(b, 16, &why), PROBE_REPLY_OTHER, "a reset without an ack");
	is_str(why, "reset without ack", "... and says so");

	n = server_reset(b, 0x41, SID, 0);
	is_int(judge(b, n, &why), PROBE_REPLY_OTHER, "opcode 8 with key id 1");
	n = server_reset(b, 0x20, SID, 0);
	is_int(judge(b, n, &why), PROBE_REPLY_OTHER, "another opcode (P_CONTROL_V1)");

	is_int(judge(alert, sizeof(alert), &why), PROBE_REPLY_OTHER, "TLS alert bytes");
	is_str(why, "TLS alert", "... seen as a TLS alert");
	is_int(judge(alert, 1, &why), PROBE_REPLY_OTHER, "... from its first byte");
	is_int(judge(hello, sizeof(hello), &why), PROBE_REPLY_OTHER, "ServerHello bytes");
	is_str(why, "TLS handshake", "... seen as a TLS handshake");
	is_int(judge("HTTP/1.1 400 Bad Request\r\n\r\n", 28, &why), PROBE_REPLY_OTHER,
	       "\"HTTP/1.1 400\"");
	is_str(why, "HTTP reply", "... seen as HTTP");

	n = server_reset(b, 0x40, SID, 0);
	is_int(judge(b, 20, &why), PROBE_REPLY_MORE, "a truncated frame: read on");
	b[0] = (PROBE_FRAME_MAX + 1) >> 8;
	b[1] = (PROBE_FRAME_MAX + 1) & 0xff;
	is_int(judge(b, n, &why), PROBE_REPLY_OTHER, "an oversized frame");
	b[0] = PROBE_FRAME_MAX >> 8;
	b[1] = PROBE_FRAME_MAX & 0xff;
	is_int(judge(b, n, &why), PROBE_REPLY_MORE, "a frame of the largest size: read on");
	is_int(judge("\0\0", 2, &why), PROBE_REPLY_OTHER, "an empty frame");
	is_int(judge(b, 0, &why), PROBE_REPLY_MORE, "nothing yet");

	/* a frame that says it is shorter than what a reset needs */
	n = server_reset(b, 0x40, SID, 0);
	b[1] = 12;
	is_int(judge(b, n, &why), PROBE_REPLY_OTHER, "a reset frame too short for its acks");
	n = server_reset(b, 0x40, SID, 0);
	b[11] = 9;
	is_int(judge(b, n, &why), PROBE_REPLY_OTHER, "an ack array over 8 entries");

	/* P_ACK_V1 for our packet, then the reset: OpenVPN may ack on its own */
	b[0] = 0;
	b[1] = 22;
	b[2] = 0x28;
	memcpy(b + 3, SRV_SID, 8);
	b[11] = 1;
	memset(b + 12, 0, 4);
	memcpy(b + 16, SID, 8);
	n = 24 + server_reset(b + 24, 0x40, SID, 0);
	is_int(judge(b, 24, &why), PROBE_REPLY_MORE, "an ack of ours alone: read on");
	is_int(judge(b, n, &why), PROBE_REPLY_OPENVPN, "an ack, then the server reset");
	b[16] ^= 1;
	is_int(judge(b, n, &why), PROBE_REPLY_OTHER, "an ack for another session");
}

/* ---- fake servers on loopback ---- */

enum fmode { F_RESET, F_CLOSE, F_ALERT, F_SILENT, F_HTTP };

struct fake {
	uv_tcp_t srv;
	enum fmode mode;
	uint16_t port;
	unsigned open, accepted;
};

struct fconn {
	uv_tcp_t tcp;
	struct fake *f;
	uv_write_t wr;
	uint8_t in[64], out[64];
	size_t len;
};

static void fconn_closed(uv_handle_t *h)
{
	struct fconn *c = h->data;

	c->f->open--;
	free(c);
}

static void fconn_close(struct fconn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, fconn_closed);
}

static void f_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
	struct fconn *c = h->data;

	(void)sz;
	*buf = uv_buf_init((char *)c->in + c->len, (unsigned)(sizeof(c->in) - c->len));
}

static void f_written(uv_write_t *w, int status)
{
	(void)w;
	(void)status;
}

static void f_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct fconn *c = s->data;
	uv_buf_t b;
	size_t n = 0;

	(void)buf;
	if (nread < 0) {
		fconn_close(c);
		return;
	}
	c->len += (size_t)nread;
	if (c->len < PROBE_RESET_LEN || c->f->mode == F_SILENT)
		return;
	if (c->len == sizeof(c->in)) {
		fconn_close(c);
		return;
	}
	switch (c->f->mode) {
	case F_RESET:
		/* answer with the client's session id, as OpenVPN does */
		n = server_reset(c->out, 0x40, c->in + 3, 0);
		break;
	case F_ALERT:
		memcpy(c->out, "\x15\x03\x03\x00\x02\x02\x28", 7);
		n = 7;
		break;
	case F_HTTP:
		memcpy(c->out, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
		n = 28;
		break;
	default:
		break;
	}
	c->len = 0;
	b = uv_buf_init((char *)c->out, (unsigned)n);
	uv_write(&c->wr, s, &b, 1, f_written);
}

static void f_accept(uv_stream_t *srv, int status)
{
	struct fake *f = srv->data;
	struct fconn *c;

	if (status < 0 || !(c = calloc(1, sizeof(*c))))
		return;
	c->f = f;
	uv_tcp_init(srv->loop, &c->tcp);
	c->tcp.data = c;
	f->open++;
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
		fconn_close(c);
		return;
	}
	f->accepted++;
	if (f->mode == F_CLOSE)
		fconn_close(c);
	else
		uv_read_start((uv_stream_t *)&c->tcp, f_alloc, f_read);
}

static int fake_start(uv_loop_t *loop, struct fake *f, enum fmode mode, const char *host)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	uv_tcp_init(loop, &f->srv);
	f->srv.data = f;
	uv_ip4_addr(host, 0, (struct sockaddr_in *)&ss);
	if (uv_tcp_bind(&f->srv, (struct sockaddr *)&ss, 0) < 0 ||
	    uv_listen((uv_stream_t *)&f->srv, 64, f_accept) < 0 ||
	    uv_tcp_getsockname(&f->srv, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

static void fake_stop(struct fake *f)
{
	uv_close((uv_handle_t *)&f->srv, NULL);
}

/* A port nothing listens on: bound, read, and closed again. */
static uint16_t closed_port(uv_loop_t *loop)
{
	struct fake f;
	uint16_t port;

	if (fake_start(loop, &f, F_CLOSE, "127.0.0.1") < 0)
		return 0;
	port = f.port;
	fake_stop(&f);
	uv_run(loop, UV_RUN_NOWAIT);
	return port;
}

/* ---- probes ---- */

#define MAXR 16

struct results {
	unsigned n;
	struct ipaddr ip[MAXR];
	enum probe_result r[MAXR];
	const struct fake *f;  /* when set: check the connections it accepted */
	unsigned limit;        /* at most this many more than reported so far */
	int over;
};

static void on_done(void *arg, const struct ipaddr *ip, enum probe_result r)
{
	struct results *res = arg;

	if (res->n < MAXR) {
		res->ip[res->n] = *ip;
		res->r[res->n] = r;
	}
	res->n++;
	/* Connections the server accepted can lag behind the probes started (same
	 * loop), never run ahead of them: a count over the bound is a real excess. */
	if (res->f && res->f->accepted > res->n - 1 + res->limit)
		res->over = 1;
}

static int start(struct probe *p, const char *ip)
{
	struct ipaddr a = ip_of(ip);

	return probe_start(p, &a);
}

static int guard_fired;

static void guard_cb(uv_timer_t *t)
{
	(void)t;
	guard_fired = 1;
}

/* Run loop until want results came (or the guard fired: a failure, not a hang). */
static void run_until(uv_loop_t *loop, struct results *res, unsigned want)
{
	uv_timer_t guard;

	guard_fired = 0;
	uv_timer_init(loop, &guard);
	uv_timer_start(&guard, guard_cb, 20000, 0);
	while (res->n < want && !guard_fired)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

static struct config *probe_cfg(uint16_t port)
{
	struct config *cfg = config_defaults();

	cfg->probe_openvpn443 = 1;
	cfg->probe_port = port;
	cfg->probe_timeout_ms = 300;
	cfg->lookup_reserved = 1;  /* loopback is reserved */
	cfg->probe_rate = 0;
	return cfg;
}

/* One probe of 127.0.0.1 against a server of mode; returns its result or -1. */
static int probe_one(uv_loop_t *loop, enum fmode mode, int refused_port)
{
	struct results res = { 0 };
	struct config *cfg;
	struct probe *p = NULL;
	struct fake f;
	uint16_t port;
	int r = -1;

	if (refused_port) {
		port = closed_port(loop);
	} else {
		if (fake_start(loop, &f, mode, "127.0.0.1") < 0)
			return -1;
		port = f.port;
	}
	cfg = probe_cfg(port);
	if (cfg && probe_new(loop, cfg, on_done, &res, &p) == 0 &&
	    start(p, "127.0.0.1") == 0) {
		ok(res.n == 0, "probe_start does not report from inside (mode %d)", mode);
		run_until(loop, &res, 1);
		if (res.n == 1)
			r = (int)res.r[0];
	}
	if (p)
		probe_close(p, NULL, NULL);
	if (!refused_port)
		fake_stop(&f);
	uv_run(loop, UV_RUN_DEFAULT);
	config_free(cfg);
	return r;
}

static void test_probes(uv_loop_t *loop)
{
	is_int(probe_one(loop, F_RESET, 0), PROBE_CONFIRMED, "OpenVPN reset: confirmed");
	is_int(probe_one(loop, F_CLOSE, 0), PROBE_NOT_OPENVPN, "accept and close: not OpenVPN");
	is_int(probe_one(loop, F_ALERT, 0), PROBE_NOT_OPENVPN, "TLS alert: not OpenVPN");
	is_int(probe_one(loop, F_HTTP, 0), PROBE_NOT_OPENVPN, "HTTP 400: not OpenVPN");
	is_int(probe_one(loop, F_SILENT, 0), PROBE_UNCONFIRMED,
	       "silence: unconfirmed at the timeout");
	is_int(probe_one(loop, F_RESET, 1), PROBE_NOT_OPENVPN, "refused port: not OpenVPN");
}

/* The limits: refusals that need no connection, one probe per IP, concurrency. */
static void test_limits(uv_loop_t *loop)
{
	struct results res = { 0 };
	struct probe_stats st;
	struct config *cfg;
	struct probe *p;
	struct fake f;
	char ip[32];
	unsigned i;

	if (fake_start(loop, &f, F_SILENT, "0.0.0.0") < 0) {
		ok(0, "fake server on 0.0.0.0");
		return;
	}
	cfg = probe_cfg(f.port);
	cfg->probe_concurrency = 2;
	cfg->lookup_reserved = 0;
	is_int(probe_new(loop, cfg, on_done, &res, &p), 0, "probe_new");
	is_int(start(p, "127.0.0.1"), -EPERM,
	       "a reserved address is not probed without lookup-reserved");
	cfg->lookup_reserved = 1;
	cfg->probe_openvpn443 = 0;
	probe_reconfigure(p, cfg);
	is_int(start(p, "127.0.0.1"), -ENOTSUP, "switched off: nothing probed");
	cfg->probe_openvpn443 = 1;
	free(cfg->probe_from);
	cfg->probe_from = strdup("::1");
	probe_reconfigure(p, cfg);
	is_int(start(p, "127.0.0.1"), -EAFNOSUPPORT,
	       "from of the other family: not probed");
	free(cfg->probe_from);
	cfg->probe_from = strdup("127.0.0.1");
	probe_reconfigure(p, cfg);
	for (i = 1; i <= 5; i++) {
		snprintf(ip, sizeof(ip), "127.0.0.%u", i);
		is_int(start(p, ip), 0, "probe started or queued");
	}
	is_int(start(p, "127.0.0.3"), -EALREADY, "one probe per IP at a time");
	probe_get_stats(p, &st);
	ok(st.running == 2 && st.queued == 3, "concurrency 2: 2 running, 3 queued (%u, %u)",
	   st.running, st.queued);
	res.f = &f;
	res.limit = 2;
	run_until(loop, &res, 5);
	is_int(res.n, 5, "every probe reported");
	ok(!res.over && f.accepted == 5,
	   "no more than 2 connections beyond those reported, 5 in all (%u)", f.accepted);
	for (i = 0; i < res.n && i < MAXR; i++)
		if (res.r[i] != PROBE_UNCONFIRMED)
			break;
	is_int(i, 5, "silence: all unconfirmed");
	is_int(start(p, "127.0.0.3"), 0, "a finished IP can be probed again");
	probe_close(p, NULL, NULL);
	fake_stop(&f);
	uv_run(loop, UV_RUN_DEFAULT);
	is_int(res.n, 5, "no report after probe_close");
	config_free(cfg);
}

static int closed_called;

static void closed_cb(void *arg)
{
	(void)arg;
	closed_called++;
}

/* The rate: with 1/s and room for one at once, the second probe waits for a token
 * (told by the stats, not by the clock). */
static void test_rate(uv_loop_t *loop)
{
	struct results res = { 0 };
	struct probe_stats st;
	struct config *cfg;
	struct probe *p;
	struct fake f;

	if (fake_start(loop, &f, F_RESET, "0.0.0.0") < 0) {
		ok(0, "fake server on 0.0.0.0");
		return;
	}
	cfg = probe_cfg(f.port);
	cfg->probe_concurrency = 1;
	cfg->probe_rate = 1;
	probe_new(loop, cfg, on_done, &res, &p);
	start(p, "127.0.0.1");
	run_until(loop, &res, 1);
	start(p, "127.0.0.2");
	probe_get_stats(p, &st);
	ok(st.running == 0 && st.queued == 1 && st.started == 1,
	   "rate 1/s: the next probe waits for a token");
	run_until(loop, &res, 2);
	ok(res.n == 2 && res.r[0] == PROBE_CONFIRMED && res.r[1] == PROBE_CONFIRMED,
	   "... and runs when it comes");
	probe_close(p, closed_cb, NULL);
	fake_stop(&f);
	uv_run(loop, UV_RUN_DEFAULT);
	is_int(closed_called, 1, "probe_close calls closed once");
	config_free(cfg);
}

int main(void)
{
	uv_loop_t loop;

	log_open(1, LOG_LVL_ERROR);
	test_wire();
	uv_loop_init(&loop);
	test_probes(&loop);
	test_limits(&loop);
	test_rate(&loop);
	is_int(uv_loop_close(&loop), 0, "every handle closed");
	return done_testing();
}
