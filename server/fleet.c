/* fleet.c - the content serial and the identity (see fleet.h). */
#include "fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A streaming 64-bit hash of 8-byte little-endian words (multiply-rotate per word,
 * the splitmix64 finaliser at the end). Not cryptographic: it only has to differ
 * when the content differs, and be the same on every machine. */

struct digest {
	uint64_t h, n;       /* n: bytes so far */
	uint8_t buf[8];
	size_t nbuf;
};

static inline uint64_t le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	       (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
	       (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static inline uint64_t digest_word(uint64_t h, uint64_t w)
{
	w *= 0x87c37b91114253d5ull;
	w = w << 31 | w >> 33;
	h ^= w * 0x4cf5ad432745937full;
	h = h << 27 | h >> 37;
	return h * 5 + 0x52dce729;
}

static void digest_add(struct digest *d, const void *data, size_t len)
{
	const uint8_t *p = data;

	d->n += len;
	if (d->nbuf) {
		size_t k = 8 - d->nbuf < len ? 8 - d->nbuf : len;

		memcpy(d->buf + d->nbuf, p, k);
		d->nbuf += k;
		p += k;
		len -= k;
		if (d->nbuf < 8)
			return;
		d->h = digest_word(d->h, le64(d->buf));
		d->nbuf = 0;
	}
	for (; len >= 8; p += 8, len -= 8)
		d->h = digest_word(d->h, le64(p));
	memcpy(d->buf, p, len);
	d->nbuf = len;
}

/* A number, as 8 little-endian bytes: also the length before each variable field,
 * so that no two different sequences of fields give the same bytes. */
static void digest_u64(struct digest *d, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	digest_add(d, b, 8);
}

static void digest_field(struct digest *d, const void *data, size_t len)
{
	digest_u64(d, len);
	digest_add(d, data, len);
}

static uint64_t digest_end(struct digest *d)
{
	uint64_t h;

	memset(d->buf + d->nbuf, 0, 8 - d->nbuf);
	h = digest_word(d->h, le64(d->buf)) ^ d->n;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	return h ^ h >> 31;
}

static void digest_cat(struct digest *d, const struct zone_cat *c)
{
	digest_u64(d, (uint64_t)c->enabled);
	digest_add(d, c->a, 4);
	digest_field(d, c->txt, c->txt_len);
}

/* The bytes of one list file. */
static int digest_file(struct digest *d, const char *path)
{
	uint8_t *buf;
	struct stat st;
	int fd, err = 0;
	ssize_t n;
	uint64_t total = 0;

	/* O_NONBLOCK: a FIFO put in place of the list since it was read cannot hang
	 * the reload; it is refused below. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		err = -errno;
	else if (!S_ISREG(st.st_mode))
		err = -EINVAL;
	if (err) {
		close(fd);
		return err;
	}
	buf = malloc(65536);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while ((n = read(fd, buf, 65536)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		digest_add(d, buf, (size_t)n);
		total += (uint64_t)n;
	}
	digest_u64(d, total);
	free(buf);
	close(fd);
	return err;
}

int fleet_content_serial(const struct zoneset *zs, const struct config *cfg, uint32_t *serial,
			const char **bad)
{
	struct digest d = { 0 };
	uint64_t h;
	int err;

	digest_u64(&d, zs->n);
	for (size_t i = 0; i < zs->n; i++) {
		const struct zone *z = &zs->zones[i];
		const struct config_zone *cz = &cfg->zones[i];

		digest_field(&d, z->apex, z->apex_len);
		/* The SOA RDATA without its serial (the 20 bytes of numbers end it). */
		digest_field(&d, z->soa_rdata, z->soa_rdata_len - 20);
		digest_add(&d, z->soa_rdata + z->soa_rdata_len - 16, 16);
		digest_u64(&d, z->nns);
		for (size_t k = 0, off = 0; k < z->nns; off += z->ns_len[k], k++)
			digest_field(&d, z->ns_rdata + off, z->ns_len[k]);
		digest_u64(&d, z->ttl);
		digest_u64(&d, z->negative_ttl);
		digest_u64(&d, z->unknown_ttl);
		digest_u64(&d, (uint64_t)z->unknown);
		for (int c = 0; c < VERDICT_NCAT; c++)
			digest_cat(&d, &z->cat[c]);
		digest_cat(&d, &z->clean);
		digest_u64(&d, cz->nstatics);
		for (size_t k = 0; k < cz->nstatics; k++) {
			err = digest_file(&d, cz->statics[k]);
			if (err) {
				*bad = cz->statics[k];
				return err;
			}
		}
	}
	h = digest_end(&d);
	*serial = (uint32_t)(h ^ h >> 32);
	if (!*serial)
		*serial = 1; /* 0 reads as "no serial" to some tools */
	return 0;
}

int fleet_identity_expand(const char *tpl, const char *host, char *out, size_t *len)
{
	size_t n = 0;

	for (const char *t = tpl; *t; t++) {
		const char *src = t;
		size_t k = 1;

		if (t[0] == '%' && t[1] == 'h') {
			src = host;
			k = strlen(host);
			t++;
		} else if (t[0] == '%' && t[1] == '%') {
			t++;
		}
		if (k > CONFIG_IDENTITY_MAX - n)
			return -ENAMETOOLONG;
		memcpy(out + n, src, k);
		n += k;
	}
	out[n] = '\0';
	*len = n;
	return 0;
}

