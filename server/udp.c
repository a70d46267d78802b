/* udp.c - DNS over UDP on one address: recvmmsg/sendmmsg batches, parked lookups. */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns.h"
#include "list.h"
#include "log.h"
#include "querylog.h"
#include "udp.h"

/* Datagrams per recvmmsg/sendmmsg call, and calls per readable event: past that the
 * loop gets back to TCP and timers; the poll is level-triggered, so nothing is lost. */
#define UDP_BATCH 64
#define UDP_BATCHES 16
/* Larger than any sensible query; a longer datagram is dropped whole. */
#define UDP_RBUF 4096
/* Receive buffer asked for each socket. */
#define UDP_RCVBUF (4 << 20)
/* A query longer than this is answered at once rather than parked. */
#define UDP_WAIT_QMAX 512

/* Room for one IP_PKTINFO or IPV6_PKTINFO control message, aligned like a cmsghdr
 * (not a member here: its flexible array would make the union variable-sized). */
union udp_ctl {
	size_t align;
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

/* Counters since start, logged at close. */
struct udp_stats {
	uint64_t received;   /* datagrams read */
	uint64_t answered;   /* answers handed to the kernel */
	uint64_t parked;     /* queries that waited for a lookup */
	uint64_t unparked;   /* answered at once because they could not wait */
	uint64_t dropped;    /* answers lost: socket full, or a send error */
	uint64_t oversized;  /* datagrams too large to be a query, dropped */
	uint64_t wakeups;    /* readable events from the loop */
	uint64_t batches;    /* recvmmsg calls that returned datagrams */
	uint64_t empty;      /* recvmmsg calls that found none */
	unsigned waiting;    /* parked now */
};


struct udp_waiter {
	struct relay_waiter w;
	struct udp_listener *u;
	struct list_node node;          /* on the free list or the parked list */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint16_t len;
	uint16_t ctllen;                /* 0: no source address to set */
	uint64_t received_ns;           /* for the query log; 0: not taken */
	union udp_ctl ctl;
	uint8_t query[UDP_WAIT_QMAX];
};

struct udp_listener {
	uv_poll_t poll;
	struct host *host;
	int fd;
	int wildcard;                   /* bound to 0.0.0.0 or ::: answers need pktinfo */
	int closing;
	unsigned rused;                 /* receive headers the last batch filled */
	struct udp_waiter *pool;        /* UDP_WAITERS, allocated once */
	struct list_head free_list;
	struct list_head parked;
	struct udp_stats st;
	char name[INET6_ADDRSTRLEN + 10];
	struct mmsghdr rmsg[UDP_BATCH];
	struct mmsghdr smsg[UDP_BATCH];
	struct iovec riov[UDP_BATCH];
	struct iovec siov[UDP_BATCH];
	struct sockaddr_storage peer[UDP_BATCH];
	/* The batch's answers picked for the query log: query index and result. */
	unsigned nlog;
	unsigned logq[UDP_BATCH];
	struct dns_result logres[UDP_BATCH];
	union udp_ctl rctl[UDP_BATCH];
	union udp_ctl sctl[UDP_BATCH];
	uint8_t rbuf[UDP_BATCH][UDP_RBUF];
	uint8_t obuf[UDP_BATCH][DNS_UDP_MAX];
	uint8_t wbuf[DNS_UDP_MAX];      /* answers of parked queries, one at a time */
};

static void udp_closed(uv_handle_t *h);

static void udp_addr_str(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		uv_ip6_name(s6, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		uv_ip4_name(s4, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(s4->sin_port));
	}
}

/* The control message that makes an answer leave from the address its query came to,
 * built from the query's IP_PKTINFO / IPV6_PKTINFO. Returns its length, 0 if none. */
static size_t udp_reply_ctl(const struct msghdr *rx, union udp_ctl *out)
{
	struct cmsghdr *c, *o = (struct cmsghdr *)out->buf;

	for (c = CMSG_FIRSTHDR(rx); c; c = CMSG_NXTHDR((struct msghdr *)rx, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			/* Source = the query's destination; ifindex 0 keeps routing in charge. */
			pi.ipi_spec_dst = pi.ipi_addr;
			pi.ipi_ifindex = 0;
			memset(out, 0, sizeof(*out));
			o->cmsg_level = IPPROTO_IP;
			o->cmsg_type = IP_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(o), &pi, sizeof(pi));
			return CMSG_SPACE(sizeof(pi));
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			/* The interface is kept: a link-local source needs it. */
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memset(out, 0, sizeof(*out));
			o->cmsg_level = IPPROTO_IPV6;
			o->cmsg_type = IPV6_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(o), &pi, sizeof(pi));
			return CMSG_SPACE(sizeof(pi));
		}
	}
	return 0;
}

static void udp_waiter_cb(struct relay_waiter *rw, int status)
{
	struct udp_waiter *w = container_of(rw, struct udp_waiter, w);
	struct udp_listener *u = w->u;
	struct dns_result res;

	list_del(&w->node);
	u->st.waiting--;
	/* -ECANCELED: the daemon is stopping; the query is dropped. */
	if (status != -ECANCELED && !u->closing) {
		dns_handle(&host_enter(u->host)->env, w->query, w->len, u->wbuf,
			   sizeof(u->wbuf), DNS_NOWAIT, &res);
		host_leave(u->host);
		if (res.status == DNS_REPLY) {
			struct iovec iov = { .iov_base = u->wbuf, .iov_len = res.len };
			struct msghdr mh = {
				.msg_name = &w->peer, .msg_namelen = w->peerlen,
				.msg_iov = &iov, .msg_iovlen = 1,
				.msg_control = w->ctllen ? w->ctl.buf : NULL,
				.msg_controllen = w->ctllen,
			};

			host_count_answer(u->host, CTR_UDP, &res);
			if (sendmsg(u->fd, &mh, MSG_DONTWAIT) < 0)
				u->st.dropped++;
			else
				u->st.answered++;
			if (querylog_on(u->host->qlog) && querylog_pick(u->host->qlog)) {
				struct querylog_entry e = {
					.client = (const struct sockaddr *)&w->peer,
					.transport = CTR_UDP, .q = w->query, .qlen = w->len,
					.res = &res, .received_ns = w->received_ns,
					.sent_ns = uv_hrtime(),
				};

				querylog_line(u->host->qlog, &e);
			}
		}
	}
	list_add_head(&u->free_list, &w->node);
}

/* Park query i of the batch until ip has a verdict. 0, or <0 when it cannot wait
 * (too long, no free waiter, no intel, intel refuses): answer it at once then. */
static int udp_park(struct udp_listener *u, unsigned i, const struct ipaddr *ip,
		    uint64_t received_ns)
{
	struct list_node *n = list_first(&u->free_list);
	struct udp_waiter *w;
	struct ipaddr client;
	const struct msghdr *mh = &u->rmsg[i].msg_hdr;
	size_t len = u->rmsg[i].msg_len;

	if (!n || len > sizeof(w->query))
		return -ENOSPC;
	w = container_of(n, struct udp_waiter, node);
	memcpy(w->query, u->rbuf[i], len);
	w->len = (uint16_t)len;
	w->received_ns = received_ns;
	memcpy(&w->peer, mh->msg_name, mh->msg_namelen);
	w->peerlen = mh->msg_namelen;
	w->ctllen = u->wildcard ? (uint16_t)udp_reply_ctl(mh, &w->ctl) : 0;
	if (host_wait(u->host, ip, ipaddr_from_sockaddr(&client, mh->msg_name) ? NULL : &client,
		      &w->w, udp_waiter_cb) != 0)
		return -EBUSY;
	list_del(n);
	list_add_head(&u->parked, n);
	u->st.parked++;
	u->st.waiting++;
	return 0;
}

/* Send the batch's n answers; a partial send goes on from where it stopped, a full
 * socket drops the rest (it is UDP: the client asks again). */
static void udp_send_batch(struct udp_listener *u, unsigned n)
{
	unsigned sent = 0;
	int r;

	while (sent < n) {
		r = sendmmsg(u->fd, u->smsg + sent, n - sent, MSG_DONTWAIT);
		if (r > 0) {
			sent += (unsigned)r;
			u->st.answered += (unsigned)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
			u->st.dropped += n - sent;
			return;
		}
		/* The first message failed on its own (a bad peer, no route): skip it. */
		u->st.dropped++;
		sent++;
	}
}

/* Whether the sender of a datagram may query ([server] allow-query). */
static int udp_allowed(const struct acl *allow, const void *name)
{
	struct ipaddr client;

	return ipaddr_from_sockaddr(&client, name) == 0 && acl_admits(allow, &client);
}

/* One recvmmsg batch: returns the number of datagrams read, 0 when none, <0 on error. */
static int udp_batch(struct udp_listener *u)
{
	const struct shared_view *view;
	const struct dns_env *env;
	struct dns_result res;
	unsigned i, nout = 0;
	uint64_t received_ns = 0;
	int qlog, n;

	for (i = 0; i < u->rused; i++) {
		u->rmsg[i].msg_hdr.msg_namelen = sizeof(u->peer[i]);
		if (u->wildcard)
			u->rmsg[i].msg_hdr.msg_controllen = sizeof(u->rctl[i]);
	}
	do
		n = recvmmsg(u->fd, u->rmsg, UDP_BATCH, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		u->rused = 0;
		u->st.empty++;
		if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -errno;
	}
	u->rused = (unsigned)n;
	u->st.batches++;
	u->st.received += (unsigned)n;
	/* The clock only when the query log is on: one load otherwise. */
	qlog = querylog_on(u->host->qlog);
	if (qlog)
		received_ns = uv_hrtime();
	u->nlog = 0;
	view = host_enter(u->host);
	env = &view->env;

	for (i = 0; i < (unsigned)n; i++) {
		struct msghdr *rh = &u->rmsg[i].msg_hdr;
		struct msghdr *sh = &u->smsg[nout].msg_hdr;
		size_t len = u->rmsg[i].msg_len;
		unsigned qflags = 0;

		if (rh->msg_flags & MSG_TRUNC) {
			u->st.oversized++;
			continue;
		}
		if (view->allow_query && !udp_allowed(view->allow_query, rh->msg_name))
			qflags = DNS_REFUSE;
		dns_handle(env, u->rbuf[i], len, u->obuf[nout], DNS_UDP_MAX, qflags, &res);
		host_count_cache(u->host, &res);
		if (res.status == DNS_WAIT) {
			if (udp_park(u, i, &res.ip, received_ns) == 0)
				continue;
			u->st.unparked++;
			dns_handle(env, u->rbuf[i], len, u->obuf[nout], DNS_UDP_MAX,
				   DNS_NOWAIT, &res);
		}
		if (res.status != DNS_REPLY)
			continue;
		host_count_answer(u->host, CTR_UDP, &res);
		if (qlog && querylog_pick(u->host->qlog)) {
			u->logq[u->nlog] = i;
			u->logres[u->nlog++] = res;
		}
		u->siov[nout].iov_len = res.len;
		sh->msg_name = rh->msg_name;
		sh->msg_namelen = rh->msg_namelen;
		if (u->wildcard) {
			sh->msg_controllen = udp_reply_ctl(rh, &u->sctl[nout]);
			sh->msg_control = sh->msg_controllen ? u->sctl[nout].buf : NULL;
		}
		nout++;
	}
	host_leave(u->host);
	if (nout)
		udp_send_batch(u, nout);
	if (u->nlog) {
		/* After the send: the time is up to the answers' handing to the kernel. */
		uint64_t sent_ns = uv_hrtime();

		for (unsigned k = 0; k < u->nlog; k++) {
			unsigned q = u->logq[k];
			struct querylog_entry e = {
				.client = u->rmsg[q].msg_hdr.msg_name, .transport = CTR_UDP,
				.q = u->rbuf[q], .qlen = u->rmsg[q].msg_len,
				.res = &u->logres[k], .received_ns = received_ns,
				.sent_ns = sent_ns,
			};

			querylog_line(u->host->qlog, &e);
		}
	}
	return n;
}

static void udp_readable(uv_poll_t *p, int status, int events)
{
	struct udp_listener *u = p->data;
	int b, n;

	(void)events;
	if (status < 0) {
		log_err("udp: poll: %s", uv_strerror(status));
		uv_poll_stop(p);
		return;
	}
	u->st.wakeups++;
	for (b = 0; b < UDP_BATCHES; b++) {
		n = udp_batch(u);
		if (n < 0)
			log_warn("udp %s%s: recvmmsg: %s", u->name, u->host->tag, strerror(-n));
		/* A short batch means the socket is (nearly) empty: spare the EAGAIN call. */
		if (n < UDP_BATCH)
			break;
	}
}

static void udp_closed(uv_handle_t *h)
{
	struct udp_listener *u = h->data;

	close(u->fd);
	free(u->pool);
	free(u);
}

static int udp_socket(const struct sockaddr *addr, int wildcard, const char *name)
{
	int fd, one = 1, rcvbuf = UDP_RCVBUF, err;
	socklen_t alen = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						     : sizeof(struct sockaddr_in);

	fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		log_err("udp %s: socket: %s", name, strerror(-err));
		return err;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (addr->sa_family == AF_INET6) {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
			goto fail;
		if (wildcard && setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one,
					   sizeof(one)) < 0)
			goto fail;
	} else if (wildcard && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0) {
		goto fail;
	}
	/* A burst must wait in the kernel, not be dropped: the default buffer (about
	 * 200 KiB) holds a few hundred queries. As root the rmem_max cap is lifted;
	 * otherwise the kernel gives what it allows. Neither is fatal. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, addr, alen) < 0)
		goto fail;
	return fd;
fail:
	err = -errno;
	log_err("udp %s: %s", name, strerror(-err));
	close(fd);
	return err;
}

int udp_start(struct host *host, const struct sockaddr *addr, struct udp_listener **out)
{
	struct udp_listener *u;
	unsigned i;
	int wildcard, err;

	if (addr->sa_family == AF_INET6) {
		wildcard = IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)addr)->sin6_addr);
	} else if (addr->sa_family == AF_INET) {
		wildcard = ((const struct sockaddr_in *)addr)->sin_addr.s_addr == htonl(INADDR_ANY);
	} else {
		log_err("udp: address family %d not supported", addr->sa_family);
		return -EAFNOSUPPORT;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	udp_addr_str(addr, u->name, sizeof(u->name));
	u->pool = calloc(UDP_WAITERS, sizeof(*u->pool));
	if (!u->pool) {
		free(u);
		return -ENOMEM;
	}
	list_init(&u->free_list);
	list_init(&u->parked);
	for (i = 0; i < UDP_WAITERS; i++) {
		u->pool[i].u = u;
		list_add_tail(&u->free_list, &u->pool[i].node);
	}
	u->host = host;
	u->wildcard = wildcard;
	for (i = 0; i < UDP_BATCH; i++) {
		struct msghdr *rh = &u->rmsg[i].msg_hdr, *sh = &u->smsg[i].msg_hdr;

		u->riov[i].iov_base = u->rbuf[i];
		u->riov[i].iov_len = UDP_RBUF;
		rh->msg_iov = &u->riov[i];
		rh->msg_iovlen = 1;
		rh->msg_name = &u->peer[i];
		if (wildcard)
			rh->msg_control = u->rctl[i].buf;
		u->siov[i].iov_base = u->obuf[i];
		sh->msg_iov = &u->siov[i];
		sh->msg_iovlen = 1;
	}
	u->rused = UDP_BATCH;

	u->fd = udp_socket(addr, wildcard, u->name);
	if (u->fd < 0) {
		err = u->fd;
		free(u->pool);
		free(u);
		return err;
	}
	err = uv_poll_init(host->loop, &u->poll, u->fd);
	if (err < 0) {
		log_err("udp %s: %s", u->name, uv_strerror(err));
		close(u->fd);
		free(u->pool);
		free(u);
		return err;
	}
	u->poll.data = u;
	err = uv_poll_start(&u->poll, UV_READABLE, udp_readable);
	if (err < 0) {
		log_err("udp %s: %s", u->name, uv_strerror(err));
		u->closing = 1;
		uv_close((uv_handle_t *)&u->poll, udp_closed);
		return err;
	}
	log_info("udp: listening on %s%s", u->name, host->tag);
	*out = u;
	return 0;
}

void udp_log_stats(const struct udp_listener *u, const char *when)
{
	/* How well the batches filled: the datagrams per recvmmsg call are what the
	 * system time per query depends on. */
	log_info("%sudp %s%s: %llu queries, %llu answers, %llu dropped; %llu wakeups, "
		 "%llu batches, %llu empty reads; %llu parked, %llu answered at once",
		 when, u->name, u->host->tag,
		 (unsigned long long)u->st.received, (unsigned long long)u->st.answered,
		 (unsigned long long)u->st.dropped, (unsigned long long)u->st.wakeups,
		 (unsigned long long)u->st.batches, (unsigned long long)u->st.empty,
		 (unsigned long long)u->st.parked, (unsigned long long)u->st.unparked);
}

void udp_close(struct udp_listener *u)
{
	struct list_node *n;

	if (!u || u->closing)
		return;
	u->closing = 1;
	uv_poll_stop(&u->poll);
	udp_log_stats(u, "");
	while ((n = list_pop(&u->parked))) {
		host_cancel(u->host, &container_of(n, struct udp_waiter, node)->w);
		list_add_head(&u->free_list, n);
	}
	u->st.waiting = 0;
	uv_close((uv_handle_t *)&u->poll, udp_closed);
}
