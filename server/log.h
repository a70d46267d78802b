/* log.c - leveled logging to stderr (foreground) or syslog.
 *
 * Cheap when filtered: the level test is done before the arguments are formatted.
 * The level and the destination are the only process-wide state of the project:
 * every thread logs, and a message must not need a context pointer to be written.
 * Nothing here ever prints the API key: callers never pass it. */
#ifndef THREATBL_LOG_H
#define THREATBL_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* to_stderr: 1 = stderr, 0 = syslog(3) under the name of log_set_name. On stderr a line
 * starts with a timestamp and that name, or, when stderr is the journal
 * (log_stderr_is_journal), with its syslog priority as "<3>" .. "<7>" and nothing
 * else. */
void log_open(int to_stderr, enum log_level level);
/* 1 when $JOURNAL_STREAM names the device and inode of stderr, as systemd sets it for
 * a service whose output goes to the journal. */
int log_stderr_is_journal(void);
void log_set_level(enum log_level level);

/* The program's name in stderr lines and syslog ("threatbld" unless set): the
 * threatbl tool, which runs the store and lists code, says its own. Called before
 * log_open and before any other thread logs; name must outlive the process's logging. */
void log_set_name(const char *name);
int log_enabled(enum log_level level);
/* "error", "warn", "info", "debug" -> level; -EINVAL if unknown. */
int log_level_parse(const char *name);

/* Where the lines go instead of stderr or syslog, for tests that read what a module
 * logged. sink gets each line that passes the level, without timestamp or newline;
 * calls are serialised (one at a time, from whichever thread logs), so a sink needs no
 * lock of its own. NULL restores the normal output; once log_set_sink returns, the old
 * sink is no longer being called. */
typedef void log_sink_fn(void *arg, enum log_level level, const char *line);
void log_set_sink(log_sink_fn *sink, void *arg);

/* t (unix seconds) as "2026-12-03T17:30:00Z", UTC: the form of the log's lines and
 * of every time the control socket, the page and the tool print; the bare number when
 * it cannot be broken down (len too small, or a year gmtime cannot hold). */
void log_iso_time(int64_t t, char *buf, size_t len);

void log_write(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_write(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) do { if (log_enabled(LOG_LVL_WARN)) log_write(LOG_LVL_WARN, __VA_ARGS__); } while (0)
#define log_info(...) do { if (log_enabled(LOG_LVL_INFO)) log_write(LOG_LVL_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_enabled(LOG_LVL_DEBUG)) log_write(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif
