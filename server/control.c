/* control.c - the control socket (see control.h). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "intel.h"
#include "list.h"
#include "log.h"
#include "reload.h"
#include "server.h"
#include "stats.h"
#include "status.h"
#include "steer.h"

struct control {
	uv_pipe_t pipe;
	uv_loop_t *loop;
	struct server *srv;
	char *path;
	struct list_head conns;     /* struct control_req, connected */
	unsigned nconns;
	int closing;
};

struct control_req {
	uv_pipe_t h;
	uv_timer_t timer;           /* the request's read deadline */
	uv_write_t wr;
	uv_shutdown_t shut;         /* after the answer: the client reads EOF at once */
	struct control *ctl;        /* NULL once control_stop has let go of it */
	struct list_node node;      /* on ctl->conns while connected */
	char in[CONTROL_LINE_MAX + 1];
	size_t inlen;
	char *out;                  /* output lines, then the final line */
	size_t outlen, outcap;
	int truncated;              /* output went past CONTROL_OUTPUT_MAX */
	int running;                /* a command started and has not ended */
	int ended;                  /* control_end was called (or no command ran) */
	int gone;                   /* the handles are closing: send nothing more */
	int open_handles;           /* h and timer not yet closed */
};


static void cmd_help(struct server *srv, struct control_req *req, int argc, char **argv);
static void cmd_version(struct server *srv, struct control_req *req, int argc,
			char **argv);
static void cmd_stats(struct server *srv, struct control_req *req, int argc, char **argv);
static void cmd_status(struct server *srv, struct control_req *req, int argc,
		       char **argv);
static void cmd_reload(struct server *srv, struct control_req *req, int argc,
		       char **argv);

static const struct control_cmd control_commands[] = {
	{ "help", 0, 0, "help", cmd_help },
	{ "version", 0, 0, "version", cmd_version },
	{ "stats", 0, 0, "stats", cmd_stats },
	{ "status", 0, 0, "status", cmd_status },
	{ "reload", 0, 0, "reload", cmd_reload },
	{ NULL, 0, 0, NULL, NULL },
};

static void req_free_if_done(struct control_req *req)
{
	if (req->open_handles == 0 && req->ended) {
		free(req->out);
		free(req);
	}
}

static void on_req_closed(uv_handle_t *h)
{
	struct control_req *req = h->data;

	req->open_handles--;
	req_free_if_done(req);
}

/* Stop talking to the client; req lives on while a command still runs. */
static void req_close(struct control_req *req)
{
	if (req->gone)
		return;
	req->gone = 1;
	if (req->ctl) {
		list_del(&req->node);
		req->ctl->nconns--;
		req->ctl = NULL;
	}
	uv_close((uv_handle_t *)&req->h, on_req_closed);
	uv_close((uv_handle_t *)&req->timer, on_req_closed);
}

static int out_append(struct control_req *req, const char *s, size_t n)
{
	if (req->outlen + n > req->outcap) {
		size_t cap = req->outcap ? req->outcap : 1024;
		char *p;

		while (cap < req->outlen + n)
			cap *= 2;
		p = realloc(req->out, cap);
		if (!p)
			return -ENOMEM;
		req->out = p;
		req->outcap = cap;
	}
	memcpy(req->out + req->outlen, s, n);
	req->outlen += n;
	return 0;
}

void control_print(struct control_req *req, const char *fmt, ...)
{
	char line[CONTROL_LINE_MAX];
	va_list ap;
	int n;

	if (req->gone || req->truncated)
		return;
	memcpy(line, "+ ", 2);
	va_start(ap, fmt);
	n = vsnprintf(line + 2, sizeof(line) - 3, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 4)
		n = (int)(sizeof(line) - 4);
	for (int i = 2; i < n + 2; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n + 2] = '\n';
	if (req->outlen + (size_t)n + 3 > CONTROL_OUTPUT_MAX ||
	    out_append(req, line, (size_t)n + 3))
		req->truncated = 1;
}

/* After the answer: what the client still sends is read and dropped until it closes
 * (or CONTROL_DRAIN_MS), because closing with unread bytes would reset the connection
 * and could destroy the answer before the client has read it. */
#define CONTROL_DRAIN_MS 1000

static void on_drain_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct control_req *req = h->data;

	(void)suggested;
	*buf = uv_buf_init(req->in, (unsigned)sizeof(req->in));
}

static void on_drain_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	(void)buf;
	if (n < 0)
		req_close(s->data);
}

static void on_drain_timeout(uv_timer_t *t)
{
	req_close(t->data);
}

static void on_shutdown(uv_shutdown_t *sh, int status)
{
	(void)sh;
	(void)status;
}

static void on_written(uv_write_t *wr, int status)
{
	struct control_req *req = wr->data;

	if (status < 0 || req->gone) {
		req_close(req);
		return;
	}
	uv_timer_stop(&req->timer);
	/* The write side is shut: a client reading to the end of the answer sees it at
	 * once, closes, and the drain ends with it instead of at CONTROL_DRAIN_MS. */
	if (uv_timer_start(&req->timer, on_drain_timeout, CONTROL_DRAIN_MS, 0) ||
	    uv_read_start((uv_stream_t *)&req->h, on_drain_alloc, on_drain_read) ||
	    uv_shutdown(&req->shut, (uv_stream_t *)&req->h, on_shutdown))
		req_close(req);
}

void control_end(struct control_req *req, const char *err)
{
	char tail[512];
	uv_buf_t buf;
	int n;

	if (req->ended)
		return;
	req->ended = 1;
	req->running = 0;
	if (req->gone) {
		req_free_if_done(req);
		return;
	}
	if (req->truncated)
		n = snprintf(tail, sizeof(tail), "error output cut at %u bytes%s%s\n",
			     CONTROL_OUTPUT_MAX, err ? ": " : "", err ? err : "");
	else if (err)
		n = snprintf(tail, sizeof(tail), "error %s\n", err);
	else
		n = snprintf(tail, sizeof(tail), "ok\n");
	if (n < 0 || (size_t)n >= sizeof(tail))
		n = snprintf(tail, sizeof(tail), "error (message too long)\n");
	for (int i = 0; i < n - 1; i++)
		if (tail[i] == '\n' || tail[i] == '\r')
			tail[i] = ' ';
	if (out_append(req, tail, (size_t)n)) {
		req_close(req);
		return;
	}
	buf = uv_buf_init(req->out, (unsigned)req->outlen);
	req->wr.data = req;
	if (uv_write(&req->wr, (uv_stream_t *)&req->h, &buf, 1, on_written))
		req_close(req);
}

static const struct control_cmd *find_cmd(const char *name)
{
	for (const struct control_cmd *c = control_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	for (const struct control_cmd *c = steer_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* The request line is in req->in (without its LF). */
static void run_request(struct control_req *req)
{
	char *argv[CONTROL_ARGS_MAX + 1];
	const struct control_cmd *cmd;
	char *p = req->in, *tab;
	int argc = 0;
	char msg[160];

	for (size_t i = 0; i < req->inlen; i++) {
		unsigned char c = (unsigned char)req->in[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			control_end(req, "request holds a control character");
			return;
		}
	}
	tab = strchr(p, '\t');
	if (tab)
		*tab = '\0';
	if (strcmp(p, CONTROL_VERSION) != 0) {
		control_end(req, "protocol: the request must start with " CONTROL_VERSION
			    " and a tab (a threatbl tool of another version?)");
		return;
	}
	while (tab) {
		p = tab + 1;
		if (argc == CONTROL_ARGS_MAX) {
			control_end(req, "too many arguments");
			return;
		}
		argv[argc++] = p;
		tab = strchr(p, '\t');
		if (tab)
			*tab = '\0';
	}
	argv[argc] = NULL;
	if (argc == 0 || !argv[0][0]) {
		control_end(req, "no command (try: help)");
		return;
	}
	cmd = find_cmd(argv[0]);
	if (!cmd) {
		snprintf(msg, sizeof(msg), "unknown command '%.40s' (try: help)", argv[0]);
		control_end(req, msg);
		return;
	}
	if (argc - 1 < cmd->min_args || argc - 1 > cmd->max_args) {
		snprintf(msg, sizeof(msg), "usage: %s", cmd->usage);
		control_end(req, msg);
		return;
	}
	req->running = 1;
	log_debug("control: %s", argv[0]);
	cmd->fn(req->ctl->srv, req, argc, argv);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct control_req *req = h->data;

	(void)suggested;
	*buf = uv_buf_init(req->in + req->inlen,
			   (unsigned)(sizeof(req->in) - 1 - req->inlen));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct control_req *req = s->data;
	char *nl;

	(void)buf;
	if (n == 0)
		return;
	if (n < 0) {
		/* EOF or an error before a whole line: nothing to answer. */
		req->ended = 1;
		req_close(req);
		return;
	}
	req->inlen += (size_t)n;
	nl = memchr(req->in, '\n', req->inlen);
	if (!nl && req->inlen < sizeof(req->in) - 1)
		return;
	uv_read_stop(s);
	uv_timer_stop(&req->timer);
	if (!nl) {
		control_end(req, "request line longer than 4096 bytes");
		return;
	}
	*nl = '\0';
	req->inlen = (size_t)(nl - req->in);
	if (req->inlen && req->in[req->inlen - 1] == '\r')
		req->in[--req->inlen] = '\0';
	run_request(req);
}

static void on_timeout(uv_timer_t *t)
{
	struct control_req *req = t->data;

	uv_read_stop((uv_stream_t *)&req->h);
	control_end(req, "no complete request line in time");
}

static void on_connection(uv_stream_t *server, int status)
{
	struct control *ctl = server->data;
	struct control_req *req;

	if (status < 0) {
		log_warn("control: accept failed: %s", uv_strerror(status));
		return;
	}
	req = calloc(1, sizeof(*req));
	if (!req) {
		log_warn("control: out of memory for a connection");
		return;
	}
	uv_pipe_init(ctl->loop, &req->h, 0);
	uv_timer_init(ctl->loop, &req->timer);
	req->open_handles = 2;
	req->h.data = req->timer.data = req;
	req->ctl = ctl;
	list_add_tail(&ctl->conns, &req->node);
	ctl->nconns++;
	if (uv_accept(server, (uv_stream_t *)&req->h)) {
		req->ended = 1;
		req_close(req);
		return;
	}
	if (ctl->nconns > CONTROL_CLIENTS_MAX) {
		control_end(req, "busy: too many control connections, try again");
		return;
	}
	uv_timer_start(&req->timer, on_timeout, CONTROL_READ_TIMEOUT_MS, 0);
	if (uv_read_start((uv_stream_t *)&req->h, on_alloc, on_read)) {
		req->ended = 1;
		req_close(req);
	}
}

/* Something is at path: remove it only when it is a socket nobody answers on. */
static int clear_stale(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("control socket %s: something that is not a socket is there (%s); "
			"not removing it", path, S_ISLNK(st.st_mode) ? "a symbolic link" :
			S_ISDIR(st.st_mode) ? "a directory" : "a file");
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0) {
		log_err("control socket %s: another process answers on it (a threatbld "
			"already running?)", path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		rc = -errno;
		log_err("control socket %s: cannot remove the old one: %s", path,
			strerror(errno));
		return rc;
	}
	return 0;
}

static int dir_exists(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 1;
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static void on_ctl_closed(uv_handle_t *h)
{
	struct control *ctl = h->data;

	free(ctl->path);
	free(ctl);
}

int control_start(uv_loop_t *loop, struct server *srv, const char *path,
		  int path_is_default, const char *user, struct control **out)
{
	struct control *ctl = NULL;
	mode_t old_mask;
	int rc;

	*out = NULL;
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		log_err("control socket %s: path too long for a unix socket", path);
		return -ENAMETOOLONG;
	}
	if (!dir_exists(path)) {
		if (path_is_default) {
			log_warn("control socket %s: its directory does not exist; running "
				 "without one (`threatbl stats` and the other commands will not "
				 "reach this server; set [server] control)", path);
			return 0;
		}
		log_err("control socket %s: its directory does not exist", path);
		return -ENOENT;
	}
	if ((rc = clear_stale(path)))
		return rc;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl || !(ctl->path = strdup(path))) {
		free(ctl);
		return -ENOMEM;
	}
	ctl->loop = loop;
	ctl->srv = srv;
	list_init(&ctl->conns);
	uv_pipe_init(loop, &ctl->pipe, 0);
	ctl->pipe.data = ctl;
	/* Made 0660 from the start: no moment in which others may connect. */
	old_mask = umask(0117);
	rc = uv_pipe_bind(&ctl->pipe, path);
	umask(old_mask);
	if (rc) {
		log_err("control socket %s: %s", path, uv_strerror(rc));
		goto fail;
	}
	if (geteuid() == 0) {
		struct passwd *pw = user ? getpwnam(user) : NULL;
		gid_t gid = pw ? pw->pw_gid : 0;

		if (lchown(path, 0, gid) < 0) {
			rc = -errno;
			log_err("control socket %s: cannot give it to group %u: %s", path,
				(unsigned)gid, strerror(errno));
			goto fail_bound;
		}
	}
	rc = uv_listen((uv_stream_t *)&ctl->pipe, CONTROL_CLIENTS_MAX, on_connection);
	if (rc) {
		log_err("control socket %s: %s", path, uv_strerror(rc));
		goto fail_bound;
	}
	log_info("control socket on %s", path);
	*out = ctl;
	return 0;
fail_bound:
	unlink(path);
fail:
	uv_close((uv_handle_t *)&ctl->pipe, on_ctl_closed);
	return rc < 0 ? rc : -EIO;
}

void control_stop(struct control *ctl)
{
	struct list_node *pos, *tmp;

	if (!ctl || ctl->closing)
		return;
	ctl->closing = 1;
	list_for_each_safe(pos, tmp, &ctl->conns) {
		struct control_req *req = container_of(pos, struct control_req, node);

		if (!req->running)
			req->ended = 1;
		req_close(req);
	}
	/* After dropping root the directory may not be ours: the next start removes
	 * a socket left behind. */
	if (unlink(ctl->path) < 0 && errno != ENOENT)
		log_debug("control socket %s not removed: %s", ctl->path, strerror(errno));
	uv_close((uv_handle_t *)&ctl->pipe, on_ctl_closed);
}

static void cmd_help(struct server *srv, struct control_req *req, int argc, char **argv)
{
	(void)srv;
	(void)argc;
	(void)argv;
	for (const struct control_cmd *c = control_commands; c->name; c++)
		control_print(req, "%s", c->usage);
	for (const struct control_cmd *c = steer_commands; c->name; c++)
		control_print(req, "%s", c->usage);
	control_end(req, NULL);
}

static void cmd_version(struct server *srv, struct control_req *req, int argc,
			char **argv)
{
	(void)srv;
	(void)argc;
	(void)argv;
	control_print(req, "threatbld %s", PACKAGE_VERSION);
	control_end(req, NULL);
}

/* --- stats, status, reload (doc/operations.md#counters) --------------------------- */

static void stats_family_none(void *arg, const struct stats_family *fam)
{
	(void)arg;
	(void)fam;
}

static void stats_print(void *arg, const struct stats_sample *s)
{
	char line[CONTROL_LINE_MAX];

	stats_format(s, line, sizeof(line));
	control_print(arg, "%s", line);
}

static void cmd_stats(struct server *srv, struct control_req *req, int argc, char **argv)
{
	struct stats_visitor v = { stats_family_none, stats_print, req };

	(void)argc;
	(void)argv;
	if (!srv->stats) {
		control_end(req, "no stats (out of memory at start)");
		return;
	}
	/* On the main loop: the snapshot is as of now, not up to a second old. */
	stats_refresh(srv->stats);
	stats_foreach(srv->stats, &v);
	control_end(req, NULL);
}

static void cmd_status(struct server *srv, struct control_req *req, int argc,
		       char **argv)
{
	char line[512], when[32];
	struct intel_stats st;
	time_t start = (time_t)srv->start_time;
	const char *word = NULL;

	(void)argc;
	(void)argv;
	control_print(req, "version %s", PACKAGE_VERSION);
	status_describe(srv, line, sizeof(line));
	control_print(req, "status %s", line);
	log_iso_time(start, when, sizeof(when));
	control_print(req, "started %s", when);
	control_print(req, "uptime-seconds %lld", (long long)(time(NULL) - start));
	control_print(req, "serial %u", srv->serial);
	if (!srv->lookups || !srv->lookup || lookup_get_stats(srv->lookup, &st) < 0) {
		control_print(req, "lookups off");
	} else {
		word = status_pause_word(st.paused, st.calls_today, srv->cfg->daily_budget);
		control_print(req, "lookups %s%s", word ? "paused " : "on", word ? word : "");
		control_print(req, "api-calls-today %u", st.calls_today);
	}
	if (srv->cfg->daily_budget)
		control_print(req, "daily-budget %u", srv->cfg->daily_budget);
	else
		control_print(req, "daily-budget none");
	control_print(req, "reloading %s", srv->reloading ? "yes" : "no");
	control_print(req, "metrics %s", srv->metrics && srv->cfg->metrics ?
		      srv->cfg->metrics : "off");
	control_end(req, NULL);
}

static void reload_answered(void *arg, int err, const char *msg)
{
	char text[300];

	if (!err) {
		control_end(arg, NULL);
		return;
	}
	snprintf(text, sizeof(text), "reload failed: %s", msg ? msg : strerror(-err));
	control_end(arg, text);
}

static void cmd_reload(struct server *srv, struct control_req *req, int argc,
		       char **argv)
{
	int err;

	(void)argc;
	(void)argv;
	err = reload_request(srv, "asked on the control socket", reload_answered, req);
	if (err == -ECANCELED)
		control_end(req, "reload failed: the server is stopping");
	else if (err)
		control_end(req, "reload failed: out of memory");
}
