/* probe.c - threatbl's own check for OpenVPN served on tcp/443.
 *
 * A report that shows tcp/443 open (or a VPN or hosting address) says nothing about
 * what answers there: OpenVPN over TCP looks like HTTPS to most scanners. The probe
 * asks the address itself, the way nmap recognises OpenVPN: it connects to IP:443,
 * sends one P_CONTROL_HARD_RESET_CLIENT_V2 (TCP framing) and reads the reply. A
 * P_CONTROL_HARD_RESET_SERVER_V2 that acknowledges our packet and names our session
 * confirms OpenVPN; anything else that answers (TLS, HTTP, a reset, a close) is not
 * OpenVPN; silence until the timeout is unconfirmed, since servers with tls-auth or
 * tls-crypt drop an unauthenticated reset without a word.
 *
 * Bounded on purpose, since it opens connections to addresses others chose: at most
 * `concurrency` probes at once, `rate` per second (token bucket), one at a time per
 * IP, a bounded queue, a bounded read buffer, never a reserved address unless
 * [intel] lookup-reserved = yes. The wire functions (probe_build_reset,
 * probe_parse_reply) are pure, for the unit tests.
 *
 * Threads: everything but the wire functions runs on the loop given to probe_new
 * (intel's loop), and the done callback runs there, never from inside probe_start. */
#ifndef THREATBL_PROBE_H
#define THREATBL_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "ipaddr.h"

enum probe_result {
	PROBE_CONFIRMED,    /* OpenVPN answered our reset */
	PROBE_NOT_OPENVPN,  /* something else answered, refused, reset or closed */
	PROBE_UNCONFIRMED,  /* no reply within the timeout, or no connection to judge by */
};

/* "confirmed", "not-openvpn", "unconfirmed": the words of logs, the store and
 * `threatbl db show`. */
const char *probe_result_name(enum probe_result r);

/* ---- the wire (pure) ---- */

#define PROBE_SID_LEN 8
#define PROBE_RESET_LEN 16      /* 2-byte length + 14-byte packet */
#define PROBE_FRAME_MAX 1500    /* a longer frame is no OpenVPN control packet */
#define PROBE_BUF (2 * (2 + PROBE_FRAME_MAX)) /* room for an ack before the reset */

/* Our P_CONTROL_HARD_RESET_CLIENT_V2: length 14, opcode 7 / key id 0, session id sid,
 * an empty ack array, message packet id 0. */
void probe_build_reset(uint8_t out[PROBE_RESET_LEN], const uint8_t sid[PROBE_SID_LEN]);

enum probe_reply {
	PROBE_REPLY_MORE,     /* nothing to judge yet: read on */
	PROBE_REPLY_OPENVPN,  /* a hard reset from the server acknowledging ours */
	PROBE_REPLY_OTHER,    /* not OpenVPN (why says what it looked like) */
};

/* Judge the bytes received so far (len of them) after sending a reset with session
 * id sid. A P_ACK_V1 for our packet is skipped over; the first other frame decides.
 * *why (may be NULL) gets a short static reason with PROBE_REPLY_OTHER. */
enum probe_reply probe_parse_reply(const uint8_t *buf, size_t len,
				   const uint8_t sid[PROBE_SID_LEN], const char **why);

/* ---- the probes ---- */

struct probe;

/* One finished probe; ip is valid during the call only. */
typedef void (*probe_done_fn)(void *arg, const struct ipaddr *ip, enum probe_result r);

/* A prober on loop with the [probe] settings of cfg ([intel] lookup-reserved too;
 * copied). done is called once per probe started. 0, -ENOMEM, or -EINVAL when
 * [probe] from is not an address. On success *out is new (probe_close). */
int probe_new(uv_loop_t *loop, const struct config *cfg, probe_done_fn done, void *arg,
	      struct probe **out);

/* New settings after a reload. Switching the probe off drops the queued probes
 * (without a done call); those running finish. */
void probe_reconfigure(struct probe *p, const struct config *cfg);

/* Whether [probe] openvpn443 is on. */
int probe_enabled(const struct probe *p);

/* Probe ip when allowed; never blocks and never calls done from inside. 0: started
 * or queued. -ENOTSUP: switched off. -EALREADY: ip is being probed or queued.
 * -EPERM: a reserved address. -EAFNOSUPPORT: [probe] from is of the other family.
 * -EBUSY: the queue is full. -ENOMEM. */
int probe_start(struct probe *p, const struct ipaddr *ip);

struct probe_stats {
	unsigned running, queued;
	uint64_t started, confirmed, not_openvpn, unconfirmed, refused;
};
void probe_get_stats(const struct probe *p, struct probe_stats *st);

/* Stop everything (no more done calls), close every handle, free p, then call
 * closed(arg) from a close callback. */
void probe_close(struct probe *p, void (*closed)(void *arg), void *arg);

#endif
