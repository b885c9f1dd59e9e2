// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control protocol's pure half: requests parsed and checked against the
 * command table, replies encoded, lines cut out of a byte stream. Nothing
 * here touches a socket or the VM, so all of it is unit-tested natively.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control_proto.h"
#include "migration/migrate.h"	/* the migrate arguments' limits */
#include "migration/postcopy_proto.h"

/* A new command: a row here, a handler in control.c, a section in docs/control.md. */
const struct control_command_spec control_commands[CONTROL_NR_COMMANDS] = {
	[CONTROL_STATUS]	= { .name = "status" },
	[CONTROL_PAUSE]		= { .name = "pause" },
	[CONTROL_RESUME]	= { .name = "resume" },
	[CONTROL_SNAPSHOT]	= { .name = "snapshot", .args = {
		CONTROL_STRING_ARG("path", struct control_args, path),
	} },
	[CONTROL_QUIT]		= { .name = "quit" },
	[CONTROL_INJECT_MEMORY_ERROR] = { .name = "inject-memory-error", .args = {
		CONTROL_U64_ARG("gpa", struct control_args, gpa),
	} },
	[CONTROL_MIGRATE]	= { .name = "migrate", .args = {
		CONTROL_STRING_ARG("uri", struct control_args, uri),
		CONTROL_OPT_U64_RANGE_ARG("downtime_ms", struct control_args, downtime_ms,
					  1, MIGRATE_MAX_DOWNTIME_MS),
		CONTROL_OPT_U64_RANGE_ARG("max_bandwidth", struct control_args, max_bandwidth,
					  0, MIGRATE_MAX_BANDWIDTH_MIB),
		CONTROL_OPT_BOOL_ARG("auto_converge", struct control_args, auto_converge),
		CONTROL_OPT_U64_RANGE_ARG("max_rounds", struct control_args, max_rounds,
					  1, MIGRATE_ROUNDS_LIMIT),
		CONTROL_OPT_BOOL_ARG("postcopy", struct control_args, postcopy),
		CONTROL_OPT_U64_RANGE_ARG("recovery_timeout_s", struct control_args,
					  recovery_timeout_s, 1, POSTCOPY_MAX_RECOVERY_S),
		CONTROL_OPT_U64_RANGE_ARG("max_postcopy_bandwidth", struct control_args,
					  max_postcopy_bandwidth, 0, MIGRATE_MAX_BANDWIDTH_MIB),
		CONTROL_OPT_STRING_ARG("tls_psk", struct control_args, tls_psk),
		CONTROL_OPT_STRING_ARG("tls_creds", struct control_args, tls_creds),
		CONTROL_OPT_STRING_ARG("tls_hostname", struct control_args, tls_hostname),
		CONTROL_OPT_STRING_ARG("insecure", struct control_args, insecure),
	} },
	[CONTROL_MIGRATE_CANCEL] = { .name = "migrate-cancel" },
	[CONTROL_MIGRATE_START_POSTCOPY] = { .name = "migrate-start-postcopy" },
	[CONTROL_MIGRATE_RECONNECT] = { .name = "migrate-reconnect" },
#ifdef TERN_TEST_COMMANDS
	[CONTROL_TEST_OPEN]	= { .name = "test-open", .args = {
		CONTROL_STRING_ARG("path", struct control_args, path),
	} },
#endif
};

/* Requests are parsed strictly: no duplicate keys, any value at the top so
 * that "not an object" gets our own message rather than jansson's. */
#define DECODE_FLAGS	(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES)

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "a string", "an array", ...: what the client sent instead. */
static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:	return "an object";
	case JSON_ARRAY:	return "an array";
	case JSON_STRING:	return "a string";
	case JSON_INTEGER:	return "an integer";
	case JSON_REAL:		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:	return "a boolean";
	case JSON_NULL:		return "null";
	}
	return "an unknown JSON value";
}

static const char *arg_type_name(enum control_arg_type type)
{
	switch (type) {
	case CONTROL_ARG_STRING:	return "a non-empty string";
	case CONTROL_ARG_U64:		return "an unsigned 64-bit integer";
	case CONTROL_ARG_BOOL:		return "true or false";
	}
	return "?";
}

static void append(char *buf, size_t len, const char *s)
{
	size_t used = strnlen(buf, len);

	if (used < len)
		snprintf(buf + used, len - used, "%s", s);
}

static void list_names(const struct control_command_spec *cmds, unsigned int nr,
		       char *buf, size_t len)
{
	if (len)
		buf[0] = 0;
	for (unsigned int i = 0; i < nr; i++) {
		if (i)
			append(buf, len, ", ");
		append(buf, len, cmds[i].name);
	}
}

void control_command_list(char *buf, size_t len)
{
	list_names(control_commands, CONTROL_NR_COMMANDS, buf, len);
}

static unsigned int nr_args(const struct control_command_spec *spec)
{
	unsigned int n = 0;

	while (n < CONTROL_MAX_ARGS && spec->args[n].name)
		n++;
	return n;
}

static const struct control_arg_spec *find_arg(const struct control_command_spec *spec,
					       const char *name)
{
	for (unsigned int i = 0; i < nr_args(spec); i++)
		if (!strcmp(spec->args[i].name, name))
			return &spec->args[i];
	return NULL;
}

/* The request object holds "command" and maybe "args", nothing else. */
static int check_request_shape(json_t *root, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(root))
		return fail(err, errlen, "a request must be a JSON object, not %s", json_kind(root));
	json_object_foreach(root, key, v) {
		if (strcmp(key, "command") && strcmp(key, "args"))
			return fail(err, errlen,
				    "unknown field '%s' in the request; it has \"command\" and optionally \"args\"",
				    key);
	}
	return 0;
}

static int find_command(const struct control_command_spec *cmds, unsigned int nr,
			const json_t *name, unsigned int *cmd, char *err, size_t errlen)
{
	char known[256];

	list_names(cmds, nr, known, sizeof(known));
	if (!name)
		return fail(err, errlen, "the request has no \"command\"; known commands: %s", known);
	if (!json_is_string(name))
		return fail(err, errlen, "\"command\" must be a string, not %s; known commands: %s",
			    json_kind(name), known);
	for (unsigned int i = 0; i < nr; i++) {
		if (!strcmp(cmds[i].name, json_string_value(name))) {
			*cmd = i;
			return 0;
		}
	}
	return fail(err, errlen, "unknown command '%s'; known commands: %s",
		    json_string_value(name), known);
}

static bool is_digit_in(char c, bool hex)
{
	if (c >= '0' && c <= '9')
		return true;
	return hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
}

/* A whole decimal or 0x-hexadecimal number: no sign, no spaces. */
static int parse_u64_text(const char *s, uint64_t *val)
{
	bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	const char *digits = hex ? s + 2 : s;

	if (!*digits)
		return -EINVAL;
	for (const char *p = digits; *p; p++)
		if (!is_digit_in(*p, hex))
			return -EINVAL;
	errno = 0;
	*val = strtoull(digits, NULL, hex ? 16 : 10);
	return errno ? -ERANGE : 0;
}

static int take_string(const char *cmd, const struct control_arg_spec *spec, const json_t *v,
		       void *field, char *err, size_t errlen)
{
	const char *s;

	if (!json_is_string(v))
		return fail(err, errlen, "%s: argument '%s' must be %s, not %s", cmd, spec->name,
			    arg_type_name(spec->type), json_kind(v));
	s = json_string_value(v);
	if (!*s)
		return fail(err, errlen, "%s: argument '%s' must not be empty", cmd, spec->name);
	memcpy(field, &s, sizeof(s));
	return 0;
}

static int take_u64(const char *cmd, const struct control_arg_spec *spec, const json_t *v,
		    void *field, char *err, size_t errlen)
{
	uint64_t val;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		val = (uint64_t)json_integer_value(v);
	} else if (json_is_integer(v)) {
		return fail(err, errlen, "%s: argument '%s' must not be negative", cmd, spec->name);
	} else if (json_is_string(v)) {
		if (parse_u64_text(json_string_value(v), &val))
			return fail(err, errlen,
				    "%s: argument '%s': '%s' is not an unsigned 64-bit integer (decimal, or hexadecimal with 0x)",
				    cmd, spec->name, json_string_value(v));
	} else {
		return fail(err, errlen, "%s: argument '%s' must be %s, not %s", cmd, spec->name,
			    arg_type_name(spec->type), json_kind(v));
	}
	if (spec->ranged && (val < spec->min || val > spec->max))
		return fail(err, errlen, "%s: argument '%s' is %llu; it must be from %llu to %llu",
			    cmd, spec->name, (unsigned long long)val,
			    (unsigned long long)spec->min, (unsigned long long)spec->max);
	memcpy(field, &val, sizeof(val));
	return 0;
}

/* JSON true/false, or the strings "true"/"false" (what 'tern ctl key=value' sends). */
static int take_bool(const char *cmd, const struct control_arg_spec *spec, const json_t *v,
		     void *field, char *err, size_t errlen)
{
	bool val;

	if (json_is_boolean(v))
		val = json_is_true(v);
	else if (json_is_string(v) && !strcmp(json_string_value(v), "true"))
		val = true;
	else if (json_is_string(v) && !strcmp(json_string_value(v), "false"))
		val = false;
	else if (json_is_string(v))
		return fail(err, errlen, "%s: argument '%s' must be %s, not '%s'", cmd, spec->name,
			    arg_type_name(spec->type), json_string_value(v));
	else
		return fail(err, errlen, "%s: argument '%s' must be %s, not %s", cmd, spec->name,
			    arg_type_name(spec->type), json_kind(v));
	memcpy(field, &val, sizeof(val));
	return 0;
}

static int take_arg(const char *cmd, const struct control_arg_spec *spec, const json_t *v,
		    void *args, char *err, size_t errlen)
{
	void *field = (char *)args + spec->offset;

	switch (spec->type) {
	case CONTROL_ARG_STRING:
		return take_string(cmd, spec, v, field, err, errlen);
	case CONTROL_ARG_U64:
		return take_u64(cmd, spec, v, field, err, errlen);
	case CONTROL_ARG_BOOL:
		return take_bool(cmd, spec, v, field, err, errlen);
	}
	return fail(err, errlen, "%s: argument '%s' has no parser", cmd, spec->name);
}

static int reject_unknown_args(const struct control_command_spec *spec, json_t *jargs,
			       char *err, size_t errlen)
{
	const char *key;
	char takes[256];
	json_t *v;

	json_object_foreach(jargs, key, v) {
		if (find_arg(spec, key))
			continue;
		if (!nr_args(spec))
			return fail(err, errlen, "%s: unknown argument '%s'; %s takes no arguments",
				    spec->name, key, spec->name);
		takes[0] = 0;
		for (unsigned int i = 0; i < nr_args(spec); i++) {
			if (i)
				append(takes, sizeof(takes), ", ");
			append(takes, sizeof(takes), spec->args[i].name);
		}
		return fail(err, errlen, "%s: unknown argument '%s'; it takes: %s", spec->name, key,
			    takes);
	}
	return 0;
}

static int parse_args(const struct control_command_spec *spec, json_t *jargs, void *args,
		      char *err, size_t errlen)
{
	int ret;

	if (jargs && !json_is_object(jargs))
		return fail(err, errlen, "%s: \"args\" must be a JSON object, not %s", spec->name,
			    json_kind(jargs));
	if (jargs) {
		ret = reject_unknown_args(spec, jargs, err, errlen);
		if (ret)
			return ret;
	}
	for (unsigned int i = 0; i < nr_args(spec); i++) {
		const struct control_arg_spec *a = &spec->args[i];
		json_t *v = jargs ? json_object_get(jargs, a->name) : NULL;

		if (!v && a->optional)
			continue;
		if (!v)
			return fail(err, errlen, "%s: missing argument '%s' (%s)", spec->name,
				    a->name, arg_type_name(a->type));
		ret = take_arg(spec->name, a, v, args, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

int control_parse_with(const struct control_command_spec *cmds, unsigned int nr_cmds,
		       const char *line, size_t len, unsigned int *cmd, void *args,
		       json_t **json, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	int ret;

	*json = NULL;
	root = json_loadb(line, len, DECODE_FLAGS, &jerr);
	if (!root)
		return fail(err, errlen, "not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
			    jerr.column);
	ret = check_request_shape(root, err, errlen);
	if (!ret)
		ret = find_command(cmds, nr_cmds, json_object_get(root, "command"), cmd, err,
				   errlen);
	if (!ret)
		ret = parse_args(&cmds[*cmd], json_object_get(root, "args"), args, err, errlen);
	if (ret) {
		json_decref(root);
		return ret;
	}
	*json = root;
	return 0;
}

int control_request_parse(const char *line, size_t len, struct control_request *req,
			  char *err, size_t errlen)
{
	unsigned int cmd = 0;
	int ret;

	/* The presets of absent arguments (struct control_args). */
	*req = (struct control_request){ .args = { .auto_converge = true } };
	ret = control_parse_with(control_commands, CONTROL_NR_COMMANDS, line, len, &cmd,
				 &req->args, &req->json, err, errlen);
	if (ret) {
		req->args = (struct control_args){ 0 };
		return ret;
	}
	req->cmd = (enum control_command)cmd;
	return 0;
}

void control_request_release(struct control_request *req)
{
	json_decref(req->json);
	*req = (struct control_request){ 0 };
}

/* @json on one line, '\n'-terminated, in memory of our own malloc(). */
static char *json_line(const json_t *json)
{
	size_t need = json_dumpb(json, NULL, 0, 0);
	char *line;

	if (!need)
		return NULL;
	line = malloc(need + 2);
	if (!line)
		return NULL;
	if (json_dumpb(json, line, need, 0) != need) {
		free(line);
		return NULL;
	}
	line[need] = '\n';
	line[need + 1] = 0;
	return line;
}

json_t *control_reply_new(void)
{
	return json_pack("{s:b}", "ok", 1);
}

char *control_reply_line(const json_t *reply)
{
	return json_line(reply);
}

/* A JSON string of @msg even if it is not UTF-8 (strerror, a cut message). */
static json_t *message_string(const char *msg)
{
	json_t *s = json_string(msg);
	char *copy;

	if (s)
		return s;
	copy = strdup(msg);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	s = json_string(copy);
	free(copy);
	return s;
}

char *control_error_line(const char *msg)
{
	json_t *text = message_string(msg), *reply;
	char *line;

	if (!text)
		return NULL;
	/* 'o' hands @text over to the reply, also if packing fails. */
	reply = json_pack("{s:b, s:o}", "ok", 0, "error", text);
	if (!reply)
		return NULL;
	line = json_line(reply);
	json_decref(reply);
	return line;
}

int control_reply_parse(const char *line, size_t len, bool *ok)
{
	json_t *reply = json_loadb(line, len, DECODE_FLAGS, NULL);
	json_t *v = json_object_get(reply, "ok");
	int ret = json_is_boolean(v) ? 0 : -EINVAL;

	if (!ret)
		*ok = json_is_true(v);
	json_decref(reply);
	return ret;
}

/* JSON numbers start with '-' or a digit and end with a digit. */
static json_t *word_number(const char *s)
{
	size_t len = strlen(s);
	json_t *v;

	if (!len || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) ||
	    !(s[len - 1] >= '0' && s[len - 1] <= '9'))
		return NULL;
	v = json_loadb(s, len, JSON_DECODE_ANY, NULL);
	if (v && !json_is_number(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

static json_t *word_value(const char *s)
{
	json_t *v;

	if (!strcmp(s, "true"))
		return json_true();
	if (!strcmp(s, "false"))
		return json_false();
	v = word_number(s);
	return v ? v : json_string(s);
}

static int add_word(json_t *args, const char *word, char *err, size_t errlen)
{
	const char *eq = strchr(word, '=');
	char *key;
	json_t *v;
	int ret = 0;

	if (word[0] == '{')
		return fail(err, errlen, "a JSON object must be the only argument");
	if (!eq || eq == word)
		return fail(err, errlen, "'%s' is not key=value (or one JSON object)", word);
	key = strndup(word, (size_t)(eq - word));
	if (!key)
		return fail(err, errlen, "out of memory");
	v = word_value(eq + 1);
	if (json_object_get(args, key)) {
		json_decref(v);
		ret = fail(err, errlen, "argument '%s' given twice", key);
	} else if (!v || json_object_set_new(args, key, v)) {
		/* json_object_set_new took @v even though it failed. */
		ret = fail(err, errlen, "'%s' is not valid UTF-8", word);
	}
	free(key);
	return ret;
}

static json_t *args_from_words(char *const words[], int nr, char *err, size_t errlen)
{
	json_t *args = json_object();

	if (!args) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	for (int i = 0; i < nr; i++) {
		if (add_word(args, words[i], err, errlen)) {
			json_decref(args);
			return NULL;
		}
	}
	return args;
}

static json_t *args_from_object(const char *text, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *args = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);

	if (!args) {
		fail(err, errlen, "arguments are not JSON: %s (column %d)", jerr.text, jerr.column);
		return NULL;
	}
	if (!json_is_object(args)) {
		fail(err, errlen, "arguments must be key=value words or one JSON object");
		json_decref(args);
		return NULL;
	}
	return args;
}

static char *request_line(json_t *name, json_t *args, char *err, size_t errlen)
{
	json_t *req = json_pack("{s:O}", "command", name);
	char *line;

	if (!req || (json_object_size(args) && json_object_set(req, "args", args))) {
		json_decref(req);
		fail(err, errlen, "out of memory");
		return NULL;
	}
	line = json_line(req);
	json_decref(req);
	if (!line)
		fail(err, errlen, "out of memory");
	return line;
}

char *control_request_build(const char *command, char *const args[], int nr_args,
			    char *err, size_t errlen)
{
	json_t *name = json_string(command), *jargs = NULL;
	char *line = NULL;

	if (!name || !*command)
		fail(err, errlen, "command '%s' is empty or not valid UTF-8", command);
	else if (nr_args == 1 && args[0][0] == '{')
		jargs = args_from_object(args[0], err, errlen);
	else
		jargs = args_from_words(args, nr_args, err, errlen);
	if (jargs)
		line = request_line(name, jargs, err, errlen);
	if (line && strlen(line) - 1 > CONTROL_LINE_MAX) {
		fail(err, errlen, "the request is %zu bytes, more than %d", strlen(line) - 1,
		     CONTROL_LINE_MAX);
		free(line);
		line = NULL;
	}
	json_decref(jargs);
	json_decref(name);
	return line;
}

void control_lines_init(struct control_lines *l)
{
	l->start = l->scanned = l->len = 0;
}

/* Room for a longest line and its newline; one byte more stays for a NUL. */
char *control_lines_room(struct control_lines *l, size_t *room)
{
	if (l->start) {
		memmove(l->buf, l->buf + l->start, l->len - l->start);
		l->len -= l->start;
		l->scanned -= l->start;
		l->start = 0;
	}
	*room = sizeof(l->buf) - 1 - l->len;
	return l->buf + l->len;
}

void control_lines_added(struct control_lines *l, size_t n)
{
	l->len += n;
}

static void cut_line(struct control_lines *l, size_t end, char **line, size_t *len)
{
	*line = l->buf + l->start;
	*len = end - l->start;
	if (*len && (*line)[*len - 1] == '\r')
		(*len)--;
	(*line)[*len] = 0;
}

int control_lines_next(struct control_lines *l, char **line, size_t *len)
{
	char *nl = memchr(l->buf + l->scanned, '\n', l->len - l->scanned);
	size_t end;

	if (!nl) {
		l->scanned = l->len;
		return l->len - l->start > CONTROL_LINE_MAX ? -EMSGSIZE : 0;
	}
	end = (size_t)(nl - l->buf);
	if (end - l->start > CONTROL_LINE_MAX)
		return -EMSGSIZE;
	cut_line(l, end, line, len);
	l->start = l->scanned = end + 1;
	return 1;
}

int control_lines_rest(struct control_lines *l, char **line, size_t *len)
{
	if (l->start == l->len)
		return 0;
	cut_line(l, l->len, line, len);
	l->start = l->scanned = l->len;
	return 1;
}

bool control_lines_empty(const struct control_lines *l)
{
	return l->start == l->len;
}
