/* metrics.c - the Prometheus exposition (see metrics.h). */
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "stats.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics {
	struct MHD_Daemon *mhd;
	struct stats *st;
	struct acl allow;            /* read-only once started: any thread */
	char name[80];               /* the address, for the log */
};

/* The text of one scrape, grown as the walk goes. */
struct page {
	char *p;
	size_t len, cap;
	int failed;                  /* out of memory */
};

static void page_add(struct page *pg, const char *s, size_t n)
{
	if (pg->failed)
		return;
	if (pg->len + n > pg->cap) {
		size_t cap = pg->cap ? pg->cap : 16384;
		char *p;

		while (cap < pg->len + n)
			cap *= 2;
		p = realloc(pg->p, cap);
		if (!p) {
			pg->failed = 1;
			return;
		}
		pg->p = p;
		pg->cap = cap;
	}
	memcpy(pg->p + pg->len, s, n);
	pg->len += n;
}

static void page_family(void *arg, const struct stats_family *fam)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	char line[512];
	int n;

	n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", fam->name,
		     fam->help, fam->name, types[fam->type]);
	if (n > 0)
		page_add(arg, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void page_sample(void *arg, const struct stats_sample *s)
{
	char line[1024];
	int n = stats_format(s, line, sizeof(line) - 1);

	if (n <= 0 || (size_t)n >= sizeof(line) - 1)
		return;
	line[n] = '\n';
	page_add(arg, line, (size_t)n + 1);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *text,
			     const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
					    MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	rc = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct metrics *m = cls;
	struct stats_visitor v;
	struct MHD_Response *r;
	struct page pg = { 0 };
	enum MHD_Result rc;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n",
			     NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: GET or HEAD\n",
			     "GET, HEAD");
	v.family = page_family;
	v.sample = page_sample;
	v.arg = &pg;
	stats_foreach(m->st, &v);
	if (pg.failed) {
		free(pg.p);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n", NULL);
	}
	r = MHD_create_response_from_buffer(pg.len, pg.p, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(pg.p);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

/* Peers outside metrics-allow are closed before a byte is read. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct metrics *m = cls;

	(void)len;
	return httpd_admits("metrics", "metrics-allow", &m->allow, addr) ? MHD_YES : MHD_NO;
}

__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	httpd_log("metrics", fmt, ap);
}

int metrics_start(const char *addr, const struct acl *allow, struct stats *st,
		  struct metrics **out)
{
	struct metrics *m;
	int fd, err;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->st = st;
	snprintf(m->name, sizeof(m->name), "%s", addr);
	if ((err = acl_copy(&m->allow, allow)) < 0) {
		free(m);
		return err;
	}
	fd = httpd_listen("metrics", addr, METRICS_CONNECTIONS_MAX);
	if (fd < 0) {
		err = fd;
		goto fail;
	}
	m->mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0,
				  on_accept, m, on_request, m,
				  MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONNECTIONS_MAX,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)METRICS_PER_IP_MAX,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_MEMORY_LIMIT,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
				  MHD_OPTION_END);
	if (!m->mhd) {
		close(fd);
		log_err("metrics %s: the HTTP server did not start", addr);
		err = -EIO;
		goto fail;
	}
	log_info("metrics on http://%s/metrics", addr);
	*out = m;
	return 0;
fail:
	acl_free(&m->allow);
	free(m);
	return err;
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->mhd);
	acl_free(&m->allow);
	free(m);
}
