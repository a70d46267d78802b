/* main.c - the threatbld command line (doc/configuration.md#threatbld): options in, server_run out. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

static void usage(FILE *out)
{
	fprintf(out,
		"usage: threatbld [-c FILE] [-l ADDR:PORT]... [-d DBFILE] [-f] [-t] [-V] [-h]\n"
		"  -c FILE       configuration file (default: %s/threatbl/threatbl.conf)\n"
		"  -l ADDR:PORT  listen on UDP and TCP; repeatable; replaces [server] listen.\n"
		"                IPv6 as [::1]:5353\n"
		"  -d DBFILE     sqlite database; replaces [server] database\n"
		"  -f            stay in the foreground and log to stderr\n"
		"  -t            check the configuration (and the lists it names) and exit\n"
		"  -V            print the version and exit\n"
		"  -h            print this help and exit\n"
		"environment:    THREATBL_API_KEY, or the credential threatbl-api-key in\n"
		"                $CREDENTIALS_DIRECTORY (when [intel] api-key-file is not set);\n"
		"                NOTIFY_SOCKET and JOURNAL_STREAM from systemd\n"
		"signals:        SIGHUP reloads the configuration and lists; SIGTERM/SIGINT stop;\n"
		"                SIGUSR1 logs the counters; SIGUSR2 is ignored\n",
		SYSCONFDIR);
}

int main(int argc, char **argv)
{
	struct server srv;
	char **listen = NULL;
	size_t nlisten = 0;
	int opt, check_only = 0, code;

	memset(&srv, 0, sizeof(srv));
	opterr = 0;
	while ((opt = getopt(argc, argv, ":c:l:d:ftVh")) != -1) {
		switch (opt) {
		case 'c':
			srv.config_path = optarg;
			break;
		case 'l': {
			char **n = realloc(listen, (nlisten + 1) * sizeof(*n));

			if (!n) {
				fprintf(stderr, "threatbld: out of memory\n");
				return 1;
			}
			listen = n;
			listen[nlisten++] = optarg;
			break;
		}
		case 'd':
			srv.cli_database = optarg;
			break;
		case 'f':
			srv.foreground = 1;
			break;
		case 't':
			check_only = 1;
			break;
		case 'V':
			printf("threatbld %s\n", PACKAGE_VERSION);
			free(listen);
			return 0;
		case 'h':
			usage(stdout);
			free(listen);
			return 0;
		case ':':
			fprintf(stderr, "threatbld: option -%c needs a value\n", optopt);
			usage(stderr);
			free(listen);
			return 2;
		default:
			fprintf(stderr, "threatbld: unknown option -%c\n", optopt);
			usage(stderr);
			free(listen);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "threatbld: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		free(listen);
		return 2;
	}
	if (!srv.config_path)
		srv.config_path = SYSCONFDIR "/threatbl/threatbl.conf";
	srv.cli_listen = listen;
	srv.ncli_listen = nlisten;

	code = check_only ? server_check(&srv) : server_run(&srv);
	free(listen);
	return code;
}
