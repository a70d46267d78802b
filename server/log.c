/* log.c - leveled logging to stderr (foreground) or syslog (see log.h).
 *
 * A line is formatted whole in a stack buffer and written with one write(2), so lines
 * from several threads never interleave. The level and destination are atomics: a
 * reload may change the level while other threads log. A sink (log_set_sink) is
 * found through an atomic flag first, so that the mutex around it is only taken
 * while one is set. When stderr is the journal's stream, a line starts with its
 * syslog priority as "<N>" (sd-daemon(3)) and has no timestamp or name of its own:
 * the journal records both, and reads the priority from that prefix. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 2048 /* under PIPE_BUF: one write to a pipe stays whole */

static atomic_int log_level_cur = LOG_LVL_INFO;
static atomic_int log_to_stderr = 1;
static atomic_int log_journal; /* stderr is the journal: "<N>" prefixes */

static atomic_int log_has_sink;
static pthread_mutex_t log_sink_mu = PTHREAD_MUTEX_INITIALIZER;
static log_sink_fn *log_sink;
static void *log_sink_arg;

static const char *const log_names[] = { "error", "warn", "info", "debug" };
static const char *log_prog = "threatbld"; /* set before any thread logs */

void log_set_name(const char *name)
{
	log_prog = name;
}

int log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char extra;

	/* The variable is inherited: a shell started from a service, redirecting stderr
	 * to a file, still has it. Only the very stream systemd gave counts. */
	if (!e || sscanf(e, "%llu:%llu%c", &dev, &ino, &extra) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st))
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_open(int to_stderr, enum log_level level)
{
	atomic_store(&log_to_stderr, !!to_stderr);
	atomic_store(&log_journal, to_stderr && log_stderr_is_journal());
	log_set_level(level);
	if (!to_stderr)
		openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	if ((int)level < LOG_LVL_ERROR)
		level = LOG_LVL_ERROR;
	if (level > LOG_LVL_DEBUG)
		level = LOG_LVL_DEBUG;
	atomic_store_explicit(&log_level_cur, (int)level, memory_order_relaxed);
}

int log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&log_level_cur, memory_order_relaxed);
}

int log_level_parse(const char *name)
{
	for (int i = LOG_LVL_ERROR; i <= LOG_LVL_DEBUG; i++) {
		if (name && strcasecmp(name, log_names[i]) == 0)
			return i;
	}
	if (name && strcasecmp(name, "warning") == 0)
		return LOG_LVL_WARN;
	return -EINVAL;
}

void log_set_sink(log_sink_fn *sink, void *arg)
{
	pthread_mutex_lock(&log_sink_mu);
	log_sink = sink;
	log_sink_arg = arg;
	atomic_store(&log_has_sink, sink != NULL);
	pthread_mutex_unlock(&log_sink_mu);
}

/* Give a formatted line to the sink; 0 when there is none (any more). */
static int log_to_sink(enum log_level level, const char *line)
{
	int done = 0;

	pthread_mutex_lock(&log_sink_mu);
	if (log_sink) {
		log_sink(log_sink_arg, level, line);
		done = 1;
	}
	pthread_mutex_unlock(&log_sink_mu);
	return done;
}

/* One message is one line: control characters (a newline from a remote error text,
 * say) would forge or split lines, so they become spaces. */
static void log_sanitize(char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
	}
}

void log_iso_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "%lld", (long long)t);
}

void log_write(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[LOG_LINE_MAX];
	int saved = errno, n = 0, m, sink;
	va_list ap;

	if ((unsigned)level > LOG_LVL_DEBUG)
		level = LOG_LVL_ERROR;
	if (!log_enabled(level))
		return;
	sink = atomic_load_explicit(&log_has_sink, memory_order_relaxed);
	if (!sink && atomic_load_explicit(&log_to_stderr, memory_order_relaxed) &&
	    atomic_load_explicit(&log_journal, memory_order_relaxed)) {
		n = snprintf(line, sizeof(line), "<%d>", prio[level]);
	} else if (!sink && atomic_load_explicit(&log_to_stderr, memory_order_relaxed)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		log_iso_time(ts.tv_sec, line, sizeof(line));
		n = (int)strlen(line);
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %s[%ld]: %s: ",
			      log_prog, (long)getpid(), log_names[level]);
	}
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	log_sanitize(line + n);
	if (sink && log_to_sink(level, line)) {
		errno = saved;
		return;
	}
	if (!atomic_load_explicit(&log_to_stderr, memory_order_relaxed)) {
		syslog(prio[level], "%s", line);
		errno = saved;
		return;
	}
	n += m;
	if (n > (int)sizeof(line) - 2) {
		n = (int)sizeof(line) - 2; /* cut, but still one whole line */
		memcpy(line + n - 3, "...", 3);
	}
	line[n++] = '\n';
	for (ssize_t off = 0, w; off < n; off += w) {
		w = write(STDERR_FILENO, line + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			w = 0;
		else if (w <= 0)
			break;
	}
	errno = saved;
}
