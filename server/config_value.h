/* config_value.c - the syntax of single configuration values, apart from their meaning.
 *
 * Numbers, durations, rates, booleans, DNS names and listen addresses as config.c reads
 * them (doc/configuration.md#value-types). Also implements config_parse_duration_ms() and
 * config_split_listen() of config.h. Pure functions: no allocation, no state. */
#ifndef THREATBL_CONFIG_VALUE_H
#define THREATBL_CONFIG_VALUE_H

#include <stddef.h>
#include <stdint.h>

/* Decimal digits only (no sign, no space). *end is set past the digits, also when the
 * number overflows (-ERANGE). Returns 0, -EINVAL (no digit) or -ERANGE. */
int config_value_u64(const char *s, const char **end, uint64_t *out);

/* yes/no, true/false, on/off, 1/0 in any case -> 1/0. Returns 0 or -EINVAL. */
int config_value_bool(const char *s, int *out);

/* "5/s", "300/m", "1000/h" or a bare (decimal) number per second -> calls per second.
 * Returns 0, -EINVAL, or -ERANGE when not above 0. */
int config_value_rate(const char *s, double *per_second);

/* NULL when name is a DNS name in presentation form (labels of 1-63 letters, digits,
 * '-' or '_'; at most 253 characters without the final dot; with absolute the final
 * dot is required), else why not, as a phrase ("has an empty label"). */
const char *config_value_dname(const char *name, int absolute);

/* ms with the largest unit that divides it ("2h", "1500ms"), for messages. */
const char *config_value_fmt_ms(uint64_t ms, char *buf, size_t n);

/* s without leading and trailing whitespace (modified in place). */
char *config_value_trim(char *s);

/* The next whitespace-separated word of *s (modified in place, *s advanced), or NULL. */
char *config_value_token(char **s);

#endif
