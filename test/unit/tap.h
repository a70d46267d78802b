/* tap.h - the few TAP helpers the unit tests use (automake's tap-driver.sh reads them).
 *
 * ok(cond, fmt, ...) prints "ok N - ..." or "not ok N - ..." with the file and line of
 * a failure; done_testing() prints the plan and returns the exit code. Header-only on
 * purpose: each test is one program and the counters are its own. */
#ifndef THREATBL_TAP_H
#define THREATBL_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static unsigned tap_run, tap_failed;

__attribute__((format(printf, 4, 5)))
static int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_run++;
	if (!cond)
		tap_failed++;
	printf("%sok %u - ", cond ? "" : "not ", tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		printf("#   failed at %s:%d\n", file, line);
	fflush(stdout);
	return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, name) do { \
	long long tap_g_ = (long long)(got), tap_w_ = (long long)(want); \
	if (!ok(tap_g_ == tap_w_, "%s", name)) \
		printf("#   got %lld, want %lld\n", tap_g_, tap_w_); \
} while (0)
#define is_str(got, want, name) do { \
	const char *tap_g_ = (got), *tap_w_ = (want); \
	int tap_c_ = tap_g_ && tap_w_ && strcmp(tap_g_, tap_w_) == 0; \
	if (!ok(tap_c_, "%s", name)) \
		printf("#   got \"%s\", want \"%s\"\n", tap_g_ ? tap_g_ : "(null)", tap_w_ ? tap_w_ : "(null)"); \
} while (0)
#define diag(...) do { printf("# "); printf(__VA_ARGS__); printf("\n"); } while (0)

static inline int done_testing(void)
{
	printf("1..%u\n", tap_run);
	return tap_failed ? 1 : 0;
}

#endif
