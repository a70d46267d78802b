/* test_log.c - log.c: levels, level names, one line per message, and the sink that
 * tests read the log through (from several threads at once). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "tap.h"

static struct {
	enum log_level level;
	char text[256];
} got[64];
static unsigned ngot, nthread_lines;

static void sink(void *arg, enum log_level level, const char *line)
{
	(void)arg;
	if (ngot < 64) {
		got[ngot].level = level;
		snprintf(got[ngot].text, sizeof(got[0].text), "%s", line);
		ngot++;
	}
}

/* Not locked on purpose: log_set_sink promises one call at a time. */
static void count_sink(void *arg, enum log_level level, const char *line)
{
	(void)level;
	(void)line;
	(*(unsigned *)arg)++;
}

static void *logger(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000; i++)
		log_info("thread line %d", i);
	return NULL;
}

static void test_levels(void)
{
	is_int(log_level_parse("error"), LOG_LVL_ERROR, "error");
	is_int(log_level_parse("WARNING"), LOG_LVL_WARN, "warning, any case");
	is_int(log_level_parse("debug"), LOG_LVL_DEBUG, "debug");
	is_int(log_level_parse("verbose"), -EINVAL, "an unknown name");
	is_int(log_level_parse(NULL), -EINVAL, "no name");
	log_set_level(LOG_LVL_WARN);
	ok(log_enabled(LOG_LVL_ERROR) && log_enabled(LOG_LVL_WARN) &&
	   !log_enabled(LOG_LVL_INFO), "warn: error and warn pass, info does not");
}

static void test_sink(void)
{
	log_set_level(LOG_LVL_INFO);
	log_set_sink(sink, NULL);
	log_err("disk %s", "full");
	log_info("two\nlines");
	log_debug("filtered %d", 1);
	log_write(LOG_LVL_DEBUG, "filtered too");
	is_int(ngot, 2, "the sink gets the lines that pass the level, and only those");
	ok(got[0].level == LOG_LVL_ERROR && strcmp(got[0].text, "disk full") == 0,
	   "the message as formatted, without timestamp or newline");
	ok(got[1].level == LOG_LVL_INFO && strcmp(got[1].text, "two lines") == 0,
	   "control characters become spaces: one message, one line");
	log_set_sink(NULL, NULL);
	log_err("to stderr (test_log: this line is expected)");
	is_int(ngot, 2, "NULL: lines go to stderr again, not to the sink");
}

static void test_threads(void)
{
	pthread_t t[4];
	unsigned n = 0;

	log_set_sink(count_sink, &n);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, logger, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	log_set_sink(NULL, NULL);
	nthread_lines = n;
	is_int(nthread_lines, 4 * 20000, "4 threads: every line reached the sink, none lost "
	       "to a race");
}

int main(void)
{
	test_levels();
	test_sink();
	test_threads();
	{
		char iso[32], small[8];

		log_iso_time(0, iso, sizeof(iso));
		is_str(iso, "1970-01-01T00:00:00Z", "ISO 8601 UTC of 0");
		log_iso_time(1796318200, iso, sizeof(iso));
		is_str(iso, "2026-12-03T17:16:40Z", "ISO 8601 UTC of a time of 2026");
		log_iso_time(4294967295LL, iso, sizeof(iso));
		is_str(iso, "2106-02-07T06:28:15Z", "past 2038 (the stored times are uint32)");
		log_iso_time(5, small, sizeof(small));
		is_str(small, "5", "a buffer too small for the date: the number");
	}
	return done_testing();
}
