/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CONTROL_PROTO_H
#define TERN_CONTROL_PROTO_H

/*
 * The control protocol (docs/control.md), without sockets: one JSON object
 * per line each way. Requests are parsed against a table of commands, so a
 * new command is an enum value, a row in control_commands[] (control_proto.c)
 * and a handler in control.c.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CONTROL_LINE_MAX	(64 * 1024)	/* bytes of a request, newline excluded */
#define CONTROL_ERR_MAX		512		/* room for any parse error message */
#define CONTROL_MAX_ARGS	12		/* arguments of one command */
#define CONTROL_REPLY_TIMEOUT_S	120		/* how long tern ctl waits for a reply */

enum control_command {
	CONTROL_STATUS,
	CONTROL_PAUSE,
	CONTROL_RESUME,
	CONTROL_SNAPSHOT,
	CONTROL_QUIT,
	CONTROL_INJECT_MEMORY_ERROR,
	CONTROL_MIGRATE,
	CONTROL_MIGRATE_CANCEL,
	CONTROL_MIGRATE_START_POSTCOPY,
	CONTROL_MIGRATE_RECONNECT,
#ifdef TERN_TEST_COMMANDS
	CONTROL_TEST_OPEN,		/* test builds only (meson -Dtest_commands=true) */
#endif
	CONTROL_NR_COMMANDS,
};

/*
 * Every command's arguments, validated; each command fills only its own.
 * Strings point into the request's JSON (control_request.json). Absent
 * optional arguments are zero, except those control_request_parse()
 * presets (documented here).
 */
struct control_args {
	const char *path;		/* snapshot: the file to write; test-open: to open */
	uint64_t gpa;			/* inject-memory-error: a guest address in RAM */
	const char *uri;		/* migrate: unix:PATH or tcp:HOST:PORT */
	uint64_t downtime_ms;		/* migrate: target; 0 (absent): the default */
	uint64_t max_bandwidth;		/* migrate: MiB/s; 0: unlimited */
	bool auto_converge;		/* migrate: preset true */
	uint64_t max_rounds;		/* migrate: give-up limit; 0 (absent): the default */
	bool postcopy;			/* migrate: switch to post-copy (docs/postcopy.md) */
	uint64_t recovery_timeout_s;	/* migrate: post-copy's wait for a lost channel;
					 * 0 (absent): the default */
	uint64_t max_postcopy_bandwidth; /* migrate: MiB/s for post-copy's push; 0: unlimited */
	const char *tls_psk;		/* migrate: the pre-shared key file; NULL: none */
	const char *tls_creds;		/* migrate: the X.509 directory; NULL: none */
	const char *tls_hostname;	/* migrate: the destination certificate's name */
	const char *insecure;		/* migrate: "on" for plain TCP; NULL: off */
};

enum control_arg_type {
	CONTROL_ARG_STRING,		/* a non-empty string */
	CONTROL_ARG_U64,		/* an integer >= 0, or a string "123"/"0x7b" */
	CONTROL_ARG_BOOL,		/* true/false, or a string "true"/"false" */
};

struct control_arg_spec {
	const char *name;
	enum control_arg_type type;
	size_t offset;			/* of its field in the arguments struct */
	bool optional;			/* absent: the field is left alone */
	bool ranged;			/* U64: must lie in [min, max] */
	uint64_t min, max;
};

struct control_command_spec {
	const char *name;
	struct control_arg_spec args[CONTROL_MAX_ARGS];	/* up to the first unnamed */
};

/*
 * 0, or a compile error if @field of @stype is not of C type @ctype: a table
 * row cannot make the parser store a string where a number is read.
 */
#define CONTROL_FIELD_IS(stype, field, ctype) \
	(0 * sizeof(char[_Generic(((stype *)0)->field, ctype: 1, default: -1)]))

/* Table rows: argument @argname, stored in @field of struct @stype. */
#define CONTROL_STRING_ARG(argname, stype, field) \
	{ .name = (argname), .type = CONTROL_ARG_STRING, \
	  .offset = offsetof(stype, field) + CONTROL_FIELD_IS(stype, field, const char *) }
#define CONTROL_OPT_STRING_ARG(argname, stype, field) \
	{ .name = (argname), .type = CONTROL_ARG_STRING, .optional = true, \
	  .offset = offsetof(stype, field) + CONTROL_FIELD_IS(stype, field, const char *) }
#define CONTROL_U64_ARG(argname, stype, field) \
	{ .name = (argname), .type = CONTROL_ARG_U64, \
	  .offset = offsetof(stype, field) + CONTROL_FIELD_IS(stype, field, uint64_t) }
/* Optional ones: an integer in [lo, hi]; a boolean. */
#define CONTROL_OPT_U64_RANGE_ARG(argname, stype, field, lo, hi) \
	{ .name = (argname), .type = CONTROL_ARG_U64, .optional = true, \
	  .ranged = true, .min = (lo), .max = (hi), \
	  .offset = offsetof(stype, field) + CONTROL_FIELD_IS(stype, field, uint64_t) }
#define CONTROL_OPT_BOOL_ARG(argname, stype, field) \
	{ .name = (argname), .type = CONTROL_ARG_BOOL, .optional = true, \
	  .offset = offsetof(stype, field) + CONTROL_FIELD_IS(stype, field, bool) }

/* Indexed by enum control_command. */
extern const struct control_command_spec control_commands[CONTROL_NR_COMMANDS];

struct control_request {
	enum control_command cmd;
	struct control_args args;
	json_t *json;			/* owns the strings in args */
};

/*
 * Parses one request line (@len bytes, no newline; need not be
 * NUL-terminated). 0, or -EINVAL with the reason in @err, meant for the
 * client. On success release @req with control_request_release().
 */
int control_request_parse(const char *line, size_t len, struct control_request *req,
			  char *err, size_t errlen);
void control_request_release(struct control_request *req);

/*
 * The parser behind control_request_parse, on any table whose offsets point
 * into @args: the index of the command in *@cmd, its arguments in @args, the
 * JSON owning their strings in *@json (NULL on failure). Fields of absent
 * optional arguments keep what the caller put there. For tests of argument
 * types no command uses yet.
 */
int control_parse_with(const struct control_command_spec *cmds, unsigned int nr_cmds,
		       const char *line, size_t len, unsigned int *cmd, void *args,
		       json_t **json, char *err, size_t errlen);

/* "status, pause, ...": every command's name, for messages. */
void control_command_list(char *buf, size_t len);

/* A reply object already holding "ok": true, for a handler to add to. */
json_t *control_reply_new(void);

/*
 * A reply (or an error) as one '\n'-terminated line, malloc'd; NULL if out
 * of memory. A message that is not valid UTF-8 has its other bytes
 * replaced by '?'.
 */
char *control_reply_line(const json_t *reply);
char *control_error_line(const char *msg);

/* Whether a reply line says "ok": true. 0, or -EINVAL if it is no reply. */
int control_reply_parse(const char *line, size_t len, bool *ok);

/*
 * tern ctl's request line ('\n'-terminated, malloc'd) for @command with
 * @args: "key=value" words (value: a JSON number if it is one exactly,
 * true/false, else a string), or one JSON object. NULL with the reason in
 * @err.
 */
char *control_request_build(const char *command, char *const args[], int nr_args,
			    char *err, size_t errlen);

/*
 * Splits a byte stream into lines. Read into control_lines_room(), report
 * with control_lines_added(), then take lines with control_lines_next().
 */
struct control_lines {
	size_t start;			/* first byte not taken yet */
	size_t scanned;			/* bytes before it known to hold no newline */
	size_t len;			/* bytes in buf */
	char buf[CONTROL_LINE_MAX + 2];	/* a longest line, its newline, a NUL */
};

void control_lines_init(struct control_lines *l);
char *control_lines_room(struct control_lines *l, size_t *room);
void control_lines_added(struct control_lines *l, size_t n);

/*
 * The next line, NUL-terminated in place, without its "\n" or "\r\n": 1, or
 * 0 if no line is complete yet, or -EMSGSIZE if more than CONTROL_LINE_MAX
 * bytes came without a newline (then the stream is beyond repair).
 */
int control_lines_next(struct control_lines *l, char **line, size_t *len);

/* At end of stream: what is left without a newline, as a last line. 1 or 0. */
int control_lines_rest(struct control_lines *l, char **line, size_t *len);

/* Whether every byte received has been taken as a line. */
bool control_lines_empty(const struct control_lines *l);

#endif
