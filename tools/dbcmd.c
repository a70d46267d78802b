/* dbcmd.c - `threatbl db` commands that steer verdicts (see dbcmd.h); export and
 * import are dbexport.c's. */
#include "dbcmd.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctlclient.h"
#include "dbexport.h"
#include "log.h"
#include "override.h"
#include "steer.h"
#include "store.h"

#define EXIT_OK 0
#define EXIT_ERROR 2
#define CTL_TIMEOUT_MS 30000   /* a recheck waits for the lookup's deadline */

static const char *const commands[] = {
	"purge", "recheck", "allow", "add", "unset", "overrides", "prune", "export",
	"import", NULL,
};

int dbcmd_knows(const char *cmd)
{
	for (size_t i = 0; commands[i]; i++)
		if (strcmp(cmd, commands[i]) == 0)
			return 1;
	return 0;
}

/* "2026-12-03T17:30:00Z" (UTC only). 0 or -EINVAL. */
int dbcmd_parse_iso(const char *s, uint32_t *out)
{
	struct tm tm = { 0 };
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	time_t t;

	if (!end || *end)
		return -EINVAL;
	t = timegm(&tm);
	if (t < 0 || t > (time_t)UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)t;
	return 0;
}

static const char *who_am_i(void)
{
	struct passwd *pw = getpwuid(getuid());
	static char buf[32];

	if (pw && pw->pw_name && strlen(pw->pw_name) <= OVERRIDE_WHO_MAX)
		return pw->pw_name;
	snprintf(buf, sizeof(buf), "uid %u", (unsigned)getuid());
	return buf;
}

/* --- the daemon ----------------------------------------------------------------- */

enum { SENT = 0, NO_DAEMON = 1 };

/* Send argv to the daemon. SENT with *code its outcome; NO_DAEMON when none listens
 * (then the caller writes the file); otherwise *code EXIT_ERROR after a message. */
static int to_daemon(const struct dbcmd_opts *o, int argc, char **argv, int *code,
		     char *where, size_t wherelen)
{
	char path[4096], err[512];
	int rc;

	*code = EXIT_ERROR;
	if (o->offline)
		return NO_DAEMON;
	if (ctl_path(o->sock, o->conf, path, sizeof(path), err, sizeof(err)) < 0) {
		if (o->sock || o->conf) {
			fprintf(stderr, "threatbl: %s\n", err);
			return SENT;
		}
		snprintf(where, wherelen, "%s", err);
		return NO_DAEMON;
	}
	rc = ctl_call(path, argc, argv, stdout, CTL_TIMEOUT_MS, err, sizeof(err));
	if (rc == -ENOENT || rc == -ECONNREFUSED) {
		snprintf(where, wherelen, "%s", err);
		return NO_DAEMON;
	}
	if (rc < 0) {
		fprintf(stderr, "threatbl: %s\n", err);
		return SENT;
	}
	*code = EXIT_OK;
	return SENT;
}

/* --- the file ------------------------------------------------------------------- */

struct store *dbcmd_open_file(const struct dbcmd_opts *o, const char *cmd,
			       const char *why)
{
	struct store_options so = { .password_file = o->password_file,
				    .password_what = "-p" };
	struct store *st = NULL;
	char err[512];
	int rc;

	if (!o->path) {
		if (why && *why)
			fprintf(stderr, "threatbl db %s: %s; and no -d DBFILE given\n", cmd, why);
		else
			fprintf(stderr, "threatbl db %s: no -d DBFILE given\n", cmd);
		return NULL;
	}
	/* store_open creates a missing file: a mistyped path must not leave one. */
	if ((rc = store_exists(o->path)) < 0) {
		fprintf(stderr, "threatbl: %s: %s\n", o->path, strerror(-rc));
		return NULL;
	}
	if (store_open_opts(o->path, &so, &st, err, sizeof(err))) {
		fprintf(stderr, "threatbl: %s\n", err);
		return NULL;
	}
	return st;
}

const char *dbcmd_strerror(int rc)
{
	if (rc == -ENOTSUP)
		return "not on PostgreSQL yet: import needs an sqlite database; db copy moves "
		       "a whole one (doc/fleet.md, \"Moving\")";
	return strerror(-rc);
}

/* name: store_name, never the -d given (a URI may hold a password). */
static void offline_note(const struct dbcmd_opts *o, const char *name, const char *why)
{
	if (o->offline)
		fprintf(stderr, "threatbl: written to %s (--offline); a running threatbld "
			"sees it at its next start\n", name);
	else
		fprintf(stderr, "threatbl: no daemon reachable (%s): written to %s; a running "
			"threatbld sees it at its next start\n", why, name);
}

struct cmdargs {
	const char *pos[8];
	int npos;
	const char *reason;
	int force;
};

static int parse_cmdargs(int argc, char **argv, struct cmdargs *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0) {
			a->force = 1;
		} else if (strcmp(argv[i], "--reason") == 0) {
			if (++i >= argc) {
				fprintf(stderr, "threatbl db %s: --reason wants a text\n", argv[0]);
				return -EINVAL;
			}
			a->reason = argv[i];
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			fprintf(stderr, "threatbl db %s: unknown option %s\n", argv[0], argv[i]);
			return -EINVAL;
		} else if (a->npos < 8) {
			a->pos[a->npos++] = argv[i];
		} else {
			fprintf(stderr, "threatbl db %s: too many arguments\n", argv[0]);
			return -EINVAL;
		}
	}
	return 0;
}

static int check_prefix(const char *cmd, const char *text, int force, struct ipaddr *net,
			unsigned *len)
{
	char err[300];
	unsigned shown, min;

	if (override_parse_prefix(text, net, len, err, sizeof(err)) < 0) {
		fprintf(stderr, "threatbl db %s: %s\n", cmd, err);
		return -EINVAL;
	}
	shown = override_display_len(net, *len);
	min = ipaddr_is_v4(net) ? STEER_MIN_V4 : STEER_MIN_V6;
	if (!force && shown < min) {
		fprintf(stderr, "threatbl db %s: prefix /%u is wider than /%u: add --force if "
			"you mean it\n", cmd, shown, min);
		return -EINVAL;
	}
	return 0;
}

/* purge, allow, add, unset: checked here, then sent or written. */
static int cmd_write(const struct dbcmd_opts *o, int argc, char **argv)
{
	const char *cmd = argv[0];
	int add = strcmp(cmd, "add") == 0, unset = strcmp(cmd, "unset") == 0;
	int purge = strcmp(cmd, "purge") == 0, code = EXIT_OK, sent;
	struct override ov = { .cat = -1 };
	char why[600] = "", err[300];
	struct cmdargs a;
	struct store *st;

	if (parse_cmdargs(argc, argv, &a) < 0)
		return EXIT_ERROR;
	if (a.npos < 1 || (add && a.npos < 2)) {
		fprintf(stderr, "threatbl db %s: missing %s\n", cmd, a.npos ? "CATEGORY" :
			"IP or CIDR");
		return EXIT_ERROR;
	}
	if ((!purge && a.npos > 1 + add) || ((purge || unset) && a.reason) ||
	    (unset && a.force)) {
		fprintf(stderr, "threatbl db %s: unexpected argument\n", cmd);
		return EXIT_ERROR;
	}
	for (int i = 0; i < a.npos && (purge || i == 0); i++)
		if (check_prefix(cmd, a.pos[i], a.force || unset, &ov.net, &ov.len) < 0)
			return EXIT_ERROR;
	if (add && (ov.cat = override_cat(a.pos[1])) < 0) {
		fprintf(stderr, "threatbl db add: unknown category '%s' (vpn, openvpn443, "
			"hosting, tor, proxy, scanner)\n", a.pos[1]);
		return EXIT_ERROR;
	}
	if (a.reason && override_check_reason(a.reason, err, sizeof(err)) < 0) {
		fprintf(stderr, "threatbl db %s: %s\n", cmd, err);
		return EXIT_ERROR;
	}

	if (purge) {
		/* One request per prefix: each says what it removed. */
		for (int i = 0; i < a.npos; i++) {
			char *args[3] = { "purge", (char *)a.pos[i], "--force" };
			int c;

			sent = to_daemon(o, a.force ? 3 : 2, args, &c, why, sizeof(why));
			if (sent == NO_DAEMON && i == 0)
				goto file;
			if (sent == NO_DAEMON) {
				/* it answered the first ones: not the file behind its back */
				fprintf(stderr, "threatbl db purge: the daemon went away (%s): "
					"%s and the rest not purged\n", why, a.pos[i]);
				return EXIT_ERROR;
			}
			if (c)
				code = c;
		}
		return code;
	} else {
		char *args[8];
		int n = 0;

		args[n++] = (char *)cmd;
		args[n++] = (char *)a.pos[0];
		if (add)
			args[n++] = (char *)a.pos[1];
		if (a.reason) {
			args[n++] = "--reason";
			args[n++] = (char *)a.reason;
		}
		if (!unset) {
			args[n++] = "--who";
			args[n++] = (char *)who_am_i();
		}
		if (a.force)
			args[n++] = "--force";
		sent = to_daemon(o, n, args, &code, why, sizeof(why));
		if (sent == SENT)
			return code;
	}
file:
	code = EXIT_OK;
	if (!(st = dbcmd_open_file(o, cmd, why)))
		return EXIT_ERROR;
	if (purge) {
		for (int i = 0; i < a.npos; i++) {
			char text[OVERRIDE_PREFIX_STRLEN];
			uint64_t n = 0;
			int rc;

			override_parse_prefix(a.pos[i], &ov.net, &ov.len, err, sizeof(err));
			override_format_prefix(&ov.net, ov.len, text);
			if (!strchr(a.pos[i], '/')) {
				ipaddr_format(&ov.net, text);
				rc = store_purge(st, &ov.net);
				if (rc == 0 || rc == -ENOENT) {
					printf("%s: %s\n", text, rc ? "no verdict" : "purged");
					continue;
				}
			} else if ((rc = store_purge_prefix(st, &ov.net, ov.len, &n)) == 0) {
				printf("purged %llu verdict(s) in %s\n", (unsigned long long)n, text);
				continue;
			}
			fprintf(stderr, "threatbl: %s: %s\n", text, dbcmd_strerror(rc));
			code = EXIT_ERROR;
		}
	} else {
		char text[OVERRIDE_PREFIX_STRLEN];
		int rc;

		override_format_prefix(&ov.net, ov.len, text);
		ov.kind = add ? OVERRIDE_ADD : OVERRIDE_ALLOW;
		ov.created = (uint32_t)time(NULL);
		snprintf(ov.reason, sizeof(ov.reason), "%s", a.reason ? a.reason : "");
		snprintf(ov.who, sizeof(ov.who), "%s", who_am_i());
		rc = unset ? store_override_unset(st, &ov.net, ov.len) :
		     store_override_set(st, &ov);
		if (rc == -ENOENT) {
			fprintf(stderr, "threatbl db unset: no override for %s\n", text);
			code = EXIT_ERROR;
		} else if (rc < 0) {
			fprintf(stderr, "threatbl: %s: %s\n", store_name(st),
				dbcmd_strerror(rc));
			code = EXIT_ERROR;
		} else if (unset) {
			printf("%s: override removed\n", text);
		} else {
			printf("%s: %s%s\n", text, add ? "listed as " : "allowed",
			       add ? verdict_cat_name((enum verdict_cat)ov.cat) : "");
		}
	}
	if (code == EXIT_OK && !purge && store_is_fleet(st))
		/* PostgreSQL announces it: every running node reads the overrides again */
		fprintf(stderr, "threatbl: written to %s; the running threatbld nodes of the "
			"fleet apply it at once\n", store_name(st));
	else if (code == EXIT_OK)
		offline_note(o, store_name(st), why);
	store_close(st);
	return code;
}

/* recheck and prune: only a running daemon can. */
static int cmd_daemon_only(const struct dbcmd_opts *o, int argc, char **argv)
{
	char why[600] = "";
	int code;

	if (strcmp(argv[0], "recheck") == 0 && argc != 2) {
		fprintf(stderr, "threatbl db recheck: one IP address\n");
		return EXIT_ERROR;
	}
	if (strcmp(argv[0], "prune") == 0 && argc != 1) {
		fprintf(stderr, "threatbl db prune: no arguments\n");
		return EXIT_ERROR;
	}
	if (o->offline) {
		fprintf(stderr, "threatbl db %s: needs a running threatbld (not --offline)\n",
			argv[0]);
		return EXIT_ERROR;
	}
	if (to_daemon(o, argc, argv, &code, why, sizeof(why)) == NO_DAEMON) {
		fprintf(stderr, "threatbl db %s: needs a running threatbld: %s\n", argv[0], why);
		return EXIT_ERROR;
	}
	return code;
}

/* --- overrides from the file ------------------------------------------------------ */

int dbcmd_collect_override(void *arg, const struct override *o)
{
	struct dbcmd_overrides *l = arg;
	struct override *p = realloc(l->o, (l->n + 1) * sizeof(*p));

	if (!p)
		return -ENOMEM;
	l->o = p;
	l->o[l->n++] = *o;
	return 0;
}

static void print_override(const struct override *o)
{
	char text[OVERRIDE_PREFIX_STRLEN], when[32];

	override_format_prefix(&o->net, o->len, text);
	log_iso_time(o->created, when, sizeof(when));
	printf("%s\t%s%s\t%s\t%s\t%s\n", text, o->kind == OVERRIDE_ALLOW ? "allow" : "add ",
	       o->kind == OVERRIDE_ADD ? verdict_cat_name((enum verdict_cat)o->cat) : "",
	       when, o->who[0] ? o->who : "-", o->reason);
}

static int cmd_overrides(const struct dbcmd_opts *o, int argc, char **argv)
{
	struct dbcmd_overrides l = { 0 };
	char why[600] = "";
	struct store *st;
	int code, rc;

	if (argc != 1) {
		fprintf(stderr, "threatbl db overrides: no arguments\n");
		return EXIT_ERROR;
	}
	if (to_daemon(o, argc, argv, &code, why, sizeof(why)) == SENT)
		return code;
	if (!(st = dbcmd_open_file(o, argv[0], why)))
		return EXIT_ERROR;
	code = EXIT_OK;
	if ((rc = store_override_list(st, dbcmd_collect_override, &l)) < 0) {
		fprintf(stderr, "threatbl: %s: %s\n", store_name(st), dbcmd_strerror(rc));
		code = EXIT_ERROR;
	}
	for (size_t i = 0; i < l.n; i++)
		print_override(&l.o[i]);
	free(l.o);
	store_close(st);
	return code;
}

int dbcmd_run(const struct dbcmd_opts *o, int argc, char **argv)
{
	const char *cmd = argv[0];

	if (strcmp(cmd, "recheck") == 0 || strcmp(cmd, "prune") == 0)
		return cmd_daemon_only(o, argc, argv);
	if (strcmp(cmd, "overrides") == 0)
		return cmd_overrides(o, argc, argv);
	if (strcmp(cmd, "export") == 0)
		return dbexport_export(o, argc, argv);
	if (strcmp(cmd, "import") == 0)
		return dbexport_import(o, argc, argv);
	return cmd_write(o, argc, argv);
}
