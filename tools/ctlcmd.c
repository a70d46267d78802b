/* ctlcmd.c - stats, status and reload of the running daemon (see ctlcmd.h). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctlclient.h"
#include "ctlcmd.h"

/* A reload reads every list again: give it time. */
#define RELOAD_TIMEOUT_MS 120000
#define CALL_TIMEOUT_MS 10000

static const char *const commands[] = { "stats", "status", "reload", NULL };

static int is_command(const char *s)
{
	for (size_t i = 0; commands[i]; i++)
		if (strcmp(s, commands[i]) == 0)
			return 1;
	return 0;
}

int ctlcmd_is(int argc, char **argv)
{
	if (argc < 2)
		return 0;
	return is_command(argv[1]) || strcmp(argv[1], "-c") == 0 ||
	       strcmp(argv[1], "-s") == 0 || strncmp(argv[1], "--config", 8) == 0 ||
	       strncmp(argv[1], "--socket", 8) == 0;
}

static void usage(FILE *out)
{
	fputs("usage: threatbl [-c FILE] [-s PATH] stats [--json]\n"
	      "       threatbl [-c FILE] [-s PATH] status\n"
	      "       threatbl [-c FILE] [-s PATH] reload\n"
	      "  -s PATH  the daemon's control socket\n"
	      "  -c FILE  read [server] control from this configuration\n"
	      "exit status: 0 ok, 1 the daemon answered an error, 2 usage or configuration "
	      "error, 3 no daemon reached\n", out);
}

/* --- stats lines to JSON ---------------------------------------------------------- */

/* Parse `"value"` at *p (escapes \\ \" \n) into a new string; *p moves past it. */
static char *parse_quoted(const char **p)
{
	const char *s = *p;
	char *v, *o;

	if (*s != '"')
		return NULL;
	v = o = malloc(strlen(s) + 1);
	if (!v)
		return NULL;
	for (s++; *s && *s != '"'; s++) {
		if (*s == '\\') {
			s++;
			if (*s == 'n')
				*o++ = '\n';
			else if (*s == '\\' || *s == '"')
				*o++ = *s;
			else
				goto bad;
		} else {
			*o++ = *s;
		}
	}
	if (*s != '"')
		goto bad;
	*o = '\0';
	*p = s + 1;
	return v;
bad:
	free(v);
	return NULL;
}

static json_t *parse_value(const char *s)
{
	char *end;

	if (!*s)
		return NULL;
	if (strspn(s, "0123456789") == strlen(s)) {
		unsigned long long u;

		errno = 0;
		u = strtoull(s, &end, 10);
		if (errno == 0 && u <= (unsigned long long)LLONG_MAX)
			return json_integer((json_int_t)u);
	}
	{
		double d = strtod(s, &end);

		if (*end)
			return NULL;
		return json_real(d);
	}
}

/* One line into obj; -EINVAL when it is not a stats line. */
static int add_line(json_t *obj, const char *line)
{
	size_t nl = strcspn(line, "{ ");
	const char *p = line + nl;
	json_t *labels = NULL, *value = NULL, *arr, *item;
	char name[256];
	int rc = -EINVAL;

	if (nl == 0 || nl >= sizeof(name))
		return -EINVAL;
	memcpy(name, line, nl);
	name[nl] = '\0';
	if (*p == '{') {
		labels = json_object();
		if (!labels)
			return -ENOMEM;
		p++;
		while (*p != '}') {
			size_t kl = strcspn(p, "=");
			char key[64], *val;

			if (kl == 0 || kl >= sizeof(key) || p[kl] != '=')
				goto out;
			memcpy(key, p, kl);
			key[kl] = '\0';
			p += kl + 1;
			val = parse_quoted(&p);
			if (!val)
				goto out;
			json_object_set_new(labels, key, json_string(val));
			free(val);
			if (*p == ',')
				p++;
			else if (*p != '}')
				goto out;
		}
		p++;
	}
	if (*p != ' ')
		goto out;
	value = parse_value(p + 1);
	if (!value)
		goto out;
	if (!labels) {
		if (json_object_get(obj, name))
			goto out;
		json_object_set_new(obj, name, value);
		return 0;
	}
	arr = json_object_get(obj, name);
	if (!arr) {
		arr = json_array();
		if (!arr || json_object_set_new(obj, name, arr)) {
			rc = -ENOMEM;
			goto out;
		}
	} else if (!json_is_array(arr)) {
		goto out;
	}
	item = json_pack("{s:o,s:o}", "labels", labels, "value", value);
	if (!item)
		return -ENOMEM;
	json_array_append_new(arr, item);
	return 0;
out:
	json_decref(labels);
	json_decref(value);
	return rc;
}

int ctlcmd_stats_json(FILE *in, FILE *out, char *err, size_t errlen)
{
	json_t *obj = json_object();
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	if (!obj)
		return -ENOMEM;
	while ((n = getline(&line, &cap, in)) >= 0) {
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (!n)
			continue;
		rc = add_line(obj, line);
		if (rc) {
			snprintf(err, errlen, "not a stats line: %.200s", line);
			goto out;
		}
	}
	if (json_dumpf(obj, out, JSON_INDENT(1) | JSON_PRESERVE_ORDER) < 0)
		rc = -EIO;
	else
		fputc('\n', out);
out:
	free(line);
	json_decref(obj);
	return rc;
}

/* --- the commands ----------------------------------------------------------------- */

static int parse(int argc, char **argv, const char **conf, const char **sock, int *json,
		 int first)
{
	static const struct option longs[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	/* Before the command: stop at it ("+"); after it: everything is an option. */
	while ((c = getopt_long(argc, argv, first ? "+c:s:h" : "c:s:h", longs, NULL)) != -1) {
		switch (c) {
		case 'c': *conf = optarg; break;
		case 's': *sock = optarg; break;
		case 'j':
			if (first)
				goto bad;
			*json = 1;
			break;
		case 'h': usage(stdout); exit(CTL_EXIT_OK);
		default: goto bad;
		}
	}
	return optind;
bad:
	usage(stderr);
	return -EINVAL;
}

int ctlcmd_main(int argc, char **argv)
{
	const char *conf = NULL, *sock = NULL, *cmd;
	char path[256], err[512];
	char *buf = NULL;
	size_t buflen = 0;
	FILE *out = stdout;
	int json = 0, i, rc, code;

	i = parse(argc, argv, &conf, &sock, &json, 1);
	if (i < 0)
		return CTL_EXIT_USAGE;
	if (i >= argc || !is_command(argv[i])) {
		if (i < argc)
			fprintf(stderr, "threatbl: unknown command '%s'\n", argv[i]);
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	cmd = argv[i];
	/* The command's own options (and -c/-s after it). */
	rc = parse(argc - i, argv + i, &conf, &sock, &json, 0);
	if (rc < 0)
		return CTL_EXIT_USAGE;
	if (rc != argc - i) {
		fprintf(stderr, "threatbl %s: unexpected argument '%s'\n", cmd,
			argv[i + rc]);
		return CTL_EXIT_USAGE;
	}
	if (json && strcmp(cmd, "stats") != 0) {
		fprintf(stderr, "threatbl %s: --json is for stats only\n", cmd);
		return CTL_EXIT_USAGE;
	}
	if (ctl_path(sock, conf, path, sizeof(path), err, sizeof(err)) < 0) {
		fprintf(stderr, "threatbl %s: %s\n", cmd, err);
		return CTL_EXIT_USAGE;
	}
	if (json && !(out = open_memstream(&buf, &buflen))) {
		fprintf(stderr, "threatbl: out of memory\n");
		return CTL_EXIT_USAGE;
	}
	rc = ctl_call(path, 1, (char *const *)&cmd, out,
		      strcmp(cmd, "reload") == 0 ? RELOAD_TIMEOUT_MS : CALL_TIMEOUT_MS,
		      err, sizeof(err));
	if (json)
		fclose(out);
	if (rc == -EREMOTEIO) {
		fprintf(stderr, "threatbl %s: the daemon says: %s\n", cmd, err);
		code = CTL_EXIT_DAEMON;
	} else if (rc < 0) {
		fprintf(stderr, "threatbl %s: %s\n", cmd, err);
		code = CTL_EXIT_UNREACHABLE;
	} else if (json) {
		FILE *in = fmemopen(buf, buflen, "r");

		code = CTL_EXIT_OK;
		if (!in || ctlcmd_stats_json(in, stdout, err, sizeof(err)) < 0) {
			fprintf(stderr, "threatbl stats: %s\n", in ? err : "out of memory");
			code = CTL_EXIT_UNREACHABLE;
		}
		if (in)
			fclose(in);
	} else {
		if (strcmp(cmd, "reload") == 0)
			printf("reloaded\n");
		code = CTL_EXIT_OK;
	}
	free(buf);
	if (fflush(stdout) && code == CTL_EXIT_OK)
		code = CTL_EXIT_USAGE;
	return code;
}
