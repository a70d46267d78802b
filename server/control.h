/* control.c - the control socket: the `threatbl` tool asks and steers the running daemon.
 *
 * A unix stream socket at [server] control (default $(runstatedir)/threatbl/control),
 * served on the main loop. One request per connection (doc/operations.md#control-protocol):
 *
 *   client:  "THREATBL1" TAB command { TAB argument } LF
 *   server:  { "+ " line LF }  then  "ok" LF  or  "error " message LF,  then closes.
 *
 * The request line is at most CONTROL_LINE_MAX bytes and its arguments hold no
 * control characters; anything else is answered "error ..." without running. The
 * "+ " prefix keeps an output line from ever reading as the final line.
 *
 * Commands are looked up in control.c's own table (stats, reload, ...) and then in
 * steer_commands[] (steer.h: the verdict commands). A command runs on the main loop
 * thread; it prints with control_print and finishes with control_end, at once or
 * later (after the lookup thread has done its part). */
#ifndef THREATBL_CONTROL_H
#define THREATBL_CONTROL_H

#include <uv.h>

#define CONTROL_VERSION "THREATBL1"
#define CONTROL_LINE_MAX 4096
#define CONTROL_ARGS_MAX 16
/* At most this many clients at once; one more gets "error busy ..." and is closed. */
#define CONTROL_CLIENTS_MAX 16
/* A client must send its whole request line within this time. */
#define CONTROL_READ_TIMEOUT_MS 5000
/* Output beyond this is cut and the request ends with an error saying so. */
#define CONTROL_OUTPUT_MAX (1u << 20)

struct server;
struct control;
struct control_req;

/* argv[0] is the command's name; argc counts it. Main loop thread. */
typedef void (*control_fn)(struct server *srv, struct control_req *req, int argc,
			   char **argv);

struct control_cmd {
	const char *name;
	int min_args, max_args; /* arguments after the name; checked before fn runs */
	const char *usage;      /* "purge IP|CIDR": the error for a wrong count */
	control_fn fn;
};

/* One line of output (a newline in it is sent as a space). Main loop thread, between
 * the command's start and control_end. */
void control_print(struct control_req *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Finish the request: err NULL sends "ok", otherwise "error " err. May be called
 * after fn has returned, on the main loop thread; req must not be used afterwards.
 * When the client has gone away meanwhile nothing is sent, but control_end is still
 * what frees req: every request is ended exactly once. */
void control_end(struct control_req *req, const char *err);

/* Bind the socket at path before dropping root: a socket file left by a process that
 * is gone is replaced, but a socket some process still answers on, or anything that
 * is not a socket (a symbolic link, a file), is an error. Created 0660; as root it is
 * given to root and the primary group of user (NULL: root's), so that members of the
 * service's group may use it. When the directory does not exist: an error when
 * path_is_default is 0; with the built-in default (a server started by hand, outside
 * the service's runtime directory) a warning and no control socket (*out NULL, 0
 * returned). 0 or a negative errno (logged). Main loop thread. */
int control_start(uv_loop_t *loop, struct server *srv, const char *path,
		  int path_is_default, const char *user, struct control **out);

/* Close the socket and every connection, remove the socket file. Requests still
 * running are not freed here: whoever runs them must end them (control_end), also
 * when the server stops. ctl is freed once closed. NULL: nothing. */
void control_stop(struct control *ctl);

#endif
