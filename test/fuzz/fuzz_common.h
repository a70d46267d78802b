/* fuzz_common.h - what the libFuzzer harnesses share: the way they fail, the input
 * kept as a file, files for a set-up that names other files, and a silent log.
 *
 * Header-only: each harness is one program. */
#ifndef THREATBL_FUZZ_COMMON_H
#define THREATBL_FUZZ_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

/* A broken invariant: abort(), so that libFuzzer keeps the input. */
__attribute__((noreturn))
static inline void fuzz_die(const char *what)
{
	fprintf(stderr, "%s: invariant broken: %s\n", program_invocation_short_name, what);
	abort();
}

/* s (a buffer of size bytes) must hold a NUL-terminated string of printable ASCII:
 * the texts a parser hands on to logs and answers. */
static inline void fuzz_check_text(const char *s, size_t size, const char *what)
{
	const char *end = memchr(s, '\0', size);

	if (!end)
		fuzz_die(what);
	for (; s < end; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			fuzz_die(what);
}

/* The input as a file that the code under test opens by path, in memory (memfd) so
 * that nothing touches the disk. */
struct fuzz_file {
	int fd;
	char path[64]; /* /proc/self/fd/N */
};

static inline void fuzz_file_open(struct fuzz_file *f, const char *name)
{
	f->fd = memfd_create(name, 0);
	if (f->fd < 0) {
		perror("memfd_create");
		exit(1);
	}
	snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
}

/* Make data the file's whole contents. Returns its number of lines (a last line
 * without a newline counts), which reports must not go past. */
static inline unsigned fuzz_file_set(struct fuzz_file *f, const uint8_t *data, size_t size)
{
	unsigned lines = 0;

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (size && data[size - 1] != '\n')
		lines++;
	if (ftruncate(f->fd, 0) < 0 || pwrite(f->fd, data, size, 0) != (ssize_t)size)
		abort();
	return lines;
}

/* dir/name with text, for a set-up whose configuration names other files. */
static inline void fuzz_write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static inline void fuzz_remove_file(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static inline void fuzz_log_drop(void *arg, enum log_level level, const char *line)
{
	(void)arg;
	(void)level;
	(void)line;
}

/* Millions of runs: whatever the code logs would drown libFuzzer's own lines. */
static inline void fuzz_quiet_log(void)
{
	log_set_sink(fuzz_log_drop, NULL);
}

#endif
