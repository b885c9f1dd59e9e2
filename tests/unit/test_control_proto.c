// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control protocol without sockets: every command, every way a request
 * can be wrong (and what the client is told), argument types, reply
 * encoding, tern ctl's request building, and cutting lines from a stream.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/control_proto.h"

#define KNOWN "known commands: status, pause, resume, snapshot, quit, inject-memory-error"

static int parse(const char *line, struct control_request *req, char *err)
{
	return control_request_parse(line, strlen(line), req, err, CONTROL_ERR_MAX);
}

/* @line must parse as @cmd; returns with @req to be released. */
static void assert_parses(const char *line, enum control_command cmd,
			  struct control_request *req)
{
	char err[CONTROL_ERR_MAX] = "";

	if (parse(line, req, err))
		fail_msg("'%s' refused: %s", line, err);
	assert_int_equal(req->cmd, cmd);
	assert_non_null(req->json);
}

/* @line must be refused with a message containing every one of @want. */
static void assert_refused_(const char *line, const char *const want[])
{
	char err[CONTROL_ERR_MAX] = "";
	struct control_request req;

	if (!parse(line, &req, err)) {
		control_request_release(&req);
		fail_msg("'%s' accepted", line);
	}
	assert_null(req.json);
	assert_null(req.args.path);
	for (; *want; want++)
		if (!strstr(err, *want))
			fail_msg("'%s': error \"%s\" does not say \"%s\"", line, err, *want);
}

#define assert_refused(line, ...) \
	assert_refused_(line, (const char *const[]){ __VA_ARGS__, NULL })

static void test_commands_without_arguments(void **state)
{
	static const struct {
		const char *line;
		enum control_command cmd;
	} cases[] = {
		{ "{\"command\": \"status\"}", CONTROL_STATUS },
		{ "{\"command\": \"pause\"}", CONTROL_PAUSE },
		{ "{\"command\": \"resume\"}", CONTROL_RESUME },
		{ "{\"command\": \"quit\"}", CONTROL_QUIT },
		{ "{\"command\":\"status\",\"args\":{}}", CONTROL_STATUS },
		{ "{\"args\": {}, \"command\": \"quit\"}", CONTROL_QUIT },
		{ "  {\"command\": \"pause\"}  \t", CONTROL_PAUSE },
	};
	struct control_request req;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_parses(cases[i].line, cases[i].cmd, &req);
		assert_null(req.args.path);
		control_request_release(&req);
		assert_null(req.json);
	}
}

static void test_snapshot(void **state)
{
	struct control_request req;

	assert_parses("{\"command\": \"snapshot\", \"args\": {\"path\": \"/tmp/s.tern\"}}",
		      CONTROL_SNAPSHOT, &req);
	assert_string_equal(req.args.path, "/tmp/s.tern");
	control_request_release(&req);

	/* Escapes and UTF-8 come through decoded. */
	assert_parses("{\"command\":\"snapshot\",\"args\":{\"path\":\"a \\\"b\\\"\\n\\u00e9\"}}",
		      CONTROL_SNAPSHOT, &req);
	assert_string_equal(req.args.path, "a \"b\"\n\xc3\xa9");
	control_request_release(&req);
}

/* postcopy: JSON booleans or the strings tern ctl sends; absent is false. */
static void test_migrate_postcopy(void **state)
{
	static const struct {
		const char *args;
		bool want;
	} ok[] = {
		{ "{\"uri\": \"unix:/m\", \"postcopy\": true}", true },
		{ "{\"uri\": \"unix:/m\", \"postcopy\": false}", false },
		{ "{\"uri\": \"unix:/m\", \"postcopy\": \"true\"}", true },
		{ "{\"uri\": \"unix:/m\", \"postcopy\": \"false\"}", false },
		{ "{\"uri\": \"unix:/m\"}", false },
	};
	struct control_request req;
	char line[256];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(line, sizeof(line), "{\"command\": \"migrate\", \"args\": %s}", ok[i].args);
		assert_parses(line, CONTROL_MIGRATE, &req);
		assert_int_equal(req.args.postcopy, ok[i].want);
		assert_string_equal(req.args.uri, "unix:/m");
		control_request_release(&req);
	}
	assert_refused("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/m\", \"postcopy\": 1}}",
		       "migrate: argument 'postcopy' must be true or false, not an integer");
	assert_refused("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/m\", \"postcopy\": \"yes\"}}",
		       "'postcopy' must be true or false, not 'yes'");
}

/* recovery_timeout_s: 1 to 3600 s; max_postcopy_bandwidth: 0 to 1 TiB/s;
 * absent, both are 0: the defaults. */
static void test_migrate_postcopy_settings(void **state)
{
	struct control_request req;

	assert_parses("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/m\", "
		      "\"postcopy\": true, \"recovery_timeout_s\": \"3600\", "
		      "\"max_postcopy_bandwidth\": 7}}", CONTROL_MIGRATE, &req);
	assert_int_equal(req.args.recovery_timeout_s, 3600);
	assert_int_equal(req.args.max_postcopy_bandwidth, 7);
	control_request_release(&req);
	assert_parses("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/m\"}}",
		      CONTROL_MIGRATE, &req);
	assert_int_equal(req.args.recovery_timeout_s, 0);
	assert_int_equal(req.args.max_postcopy_bandwidth, 0);
	control_request_release(&req);
	assert_refused("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/m\", \"max_postcopy_bandwidth\": 1048577}}",
		       "'max_postcopy_bandwidth' is 1048577; it must be from 0 to 1048576");
	assert_refused("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/m\", \"recovery_timeout_s\": 0}}",
		       "'recovery_timeout_s' is 0; it must be from 1 to 3600");
	assert_refused("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/m\", \"recovery_timeout_s\": 3601}}",
		       "'recovery_timeout_s' is 3601; it must be from 1 to 3600");
}

/* The line need not be NUL-terminated: only @len bytes are read. */
static void test_inject_memory_error(void **state)
{
	struct control_request req;

	assert_parses("{\"command\": \"inject-memory-error\", \"args\": {\"gpa\": \"0x428ae000\"}}",
		      CONTROL_INJECT_MEMORY_ERROR, &req);
	assert_int_equal(req.args.gpa, 0x428ae000ULL);
	control_request_release(&req);
	assert_parses("{\"command\": \"inject-memory-error\", \"args\": {\"gpa\": 1073741824}}",
		      CONTROL_INJECT_MEMORY_ERROR, &req);
	assert_int_equal(req.args.gpa, 1ULL << 30);
	control_request_release(&req);
	assert_refused("{\"command\": \"inject-memory-error\"}", "missing argument 'gpa'");
	assert_refused("{\"command\": \"inject-memory-error\", \"args\": {\"gpa\": -1}}", "gpa");
	assert_refused("{\"command\": \"inject-memory-error\", \"args\": {\"addr\": 1}}",
		       "unknown argument 'addr'");
}

static void test_parse_reads_only_len(void **state)
{
	const char buf[] = "{\"command\": \"quit\"}GARBAGE";
	struct control_request req;
	char err[CONTROL_ERR_MAX];

	assert_int_equal(control_request_parse(buf, strlen(buf) - 7, &req, err, sizeof(err)), 0);
	assert_int_equal(req.cmd, CONTROL_QUIT);
	control_request_release(&req);
}

static void test_not_json(void **state)
{
	assert_refused("{\"command\": }", "not JSON", "unexpected token", "line 1, column 13");
	assert_refused("{\"command\": \"status\"", "not JSON", "line 1");
	assert_refused("{\"command\": \"status\"} x", "not JSON", "end of file expected");
	assert_refused("{\"command\": \"status\"}{\"command\": \"quit\"}", "not JSON");
	assert_refused("status", "not JSON", "invalid token");
	assert_refused("", "not JSON");
	assert_refused("\xff{}", "not JSON", "unable to decode byte 0xff");
	assert_refused("{\"command\": \"st\xc3\"}", "not JSON");
	assert_refused("{\"command\": \"status\", \"command\": \"quit\"}", "not JSON",
		       "duplicate object key");
	assert_refused("{\"command\": \"snapshot\", \"args\": {\"path\": \"a\\u0000b\"}}",
		       "not JSON", "\\u0000 is not allowed");
}

static void test_not_an_object(void **state)
{
	assert_refused("[\"status\"]", "a request must be a JSON object, not an array");
	assert_refused("\"status\"", "a request must be a JSON object, not a string");
	assert_refused("42", "must be a JSON object, not an integer");
	assert_refused("4.2", "must be a JSON object, not a real number");
	assert_refused("null", "must be a JSON object, not null");
	assert_refused("true", "must be a JSON object, not a boolean");
}

static void test_missing_or_bad_command(void **state)
{
	assert_refused("{}", "the request has no \"command\"", KNOWN);
	assert_refused("{\"args\": {}}", "no \"command\"", KNOWN);
	assert_refused("{\"command\": 1}", "\"command\" must be a string, not an integer", KNOWN);
	assert_refused("{\"command\": null}", "\"command\" must be a string, not null");
	assert_refused("{\"command\": [\"status\"]}", "must be a string, not an array");
	assert_refused("{\"command\": \"reboot\"}", "unknown command 'reboot'", KNOWN);
	assert_refused("{\"command\": \"Status\"}", "unknown command 'Status'", KNOWN);
	assert_refused("{\"command\": \"\"}", "unknown command ''", KNOWN);
	assert_refused("{\"command\": \"status \"}", "unknown command 'status '");
	assert_refused("{\"command\": \"status\", \"arg\": {}}",
		       "unknown field 'arg' in the request", "\"command\"", "\"args\"");
	assert_refused("{\"command\": \"status\", \"id\": 1}", "unknown field 'id'");
}

static void test_bad_arguments(void **state)
{
	assert_refused("{\"command\": \"snapshot\", \"args\": \"/tmp/x\"}",
		       "snapshot: \"args\" must be a JSON object, not a string");
	assert_refused("{\"command\": \"snapshot\", \"args\": null}",
		       "\"args\" must be a JSON object, not null");
	assert_refused("{\"command\": \"status\", \"args\": []}",
		       "status: \"args\" must be a JSON object, not an array");
	assert_refused("{\"command\": \"status\", \"args\": {\"verbose\": true}}",
		       "status: unknown argument 'verbose'; status takes no arguments");
	assert_refused("{\"command\": \"quit\", \"args\": {\"now\": 1}}",
		       "quit: unknown argument 'now'; quit takes no arguments");
	assert_refused("{\"command\": \"snapshot\", \"args\": {\"path\": \"/a\", \"paht\": \"b\"}}",
		       "snapshot: unknown argument 'paht'; it takes: path");
	assert_refused("{\"command\": \"snapshot\"}",
		       "snapshot: missing argument 'path' (a non-empty string)");
	assert_refused("{\"command\": \"snapshot\", \"args\": {}}",
		       "snapshot: missing argument 'path'");
}

static void test_wrong_argument_types(void **state)
{
	assert_refused("{\"command\": \"snapshot\", \"args\": {\"path\": 1}}",
		       "snapshot: argument 'path' must be a non-empty string, not an integer");
	assert_refused("{\"command\": \"snapshot\", \"args\": {\"path\": 1.5}}",
		       "must be a non-empty string, not a real number");
	assert_refused("{\"command\": \"snapshot\", \"args\": {\"path\": null}}",
		       "must be a non-empty string, not null");
	assert_refused("{\"command\": \"snapshot\", \"args\": {\"path\": false}}",
		       "must be a non-empty string, not a boolean");
	assert_refused("{\"command\": \"snapshot\", \"args\": {\"path\": [\"/a\"]}}",
		       "must be a non-empty string, not an array");
	assert_refused("{\"command\": \"snapshot\", \"args\": {\"path\": {}}}",
		       "must be a non-empty string, not an object");
	assert_refused("{\"command\": \"snapshot\", \"args\": {\"path\": \"\"}}",
		       "snapshot: argument 'path' must not be empty");
}

/* Argument kinds no command uses yet, through a table of the test's own. */
struct test_args {
	uint64_t gpa;
	uint64_t len;
	const char *name;
};

static const struct control_command_spec test_table[] = {
	{ .name = "poke", .args = {
		CONTROL_U64_ARG("gpa", struct test_args, gpa),
		{ .name = "len", .type = CONTROL_ARG_U64,
		  .offset = offsetof(struct test_args, len), .optional = true },
		{ .name = "name", .type = CONTROL_ARG_STRING,
		  .offset = offsetof(struct test_args, name), .optional = true },
	} },
	{ .name = "noop" },
};

/* @keep: where to keep the JSON that strings in @args point into; NULL: drop it. */
static int parse_test_keep(const char *line, struct test_args *args, char *err, json_t **keep)
{
	unsigned int cmd = 99;
	json_t *json = NULL;
	int ret;

	ret = control_parse_with(test_table, 2, line, strlen(line), &cmd, args, &json, err,
				 CONTROL_ERR_MAX);
	if (!ret)
		assert_int_equal(cmd, strstr(line, "noop") ? 1 : 0);
	else
		assert_null(json);
	if (keep)
		*keep = json;
	else
		json_decref(json);
	return ret;
}

static int parse_test(const char *line, struct test_args *args, char *err)
{
	return parse_test_keep(line, args, err, NULL);
}

static uint64_t poke_gpa(const char *value)
{
	char line[256], err[CONTROL_ERR_MAX] = "";
	struct test_args args = { 0 };

	snprintf(line, sizeof(line), "{\"command\": \"poke\", \"args\": {\"gpa\": %s}}", value);
	if (parse_test(line, &args, err))
		fail_msg("gpa %s refused: %s", value, err);
	return args.gpa;
}

static void assert_poke_refused(const char *value, const char *want)
{
	char line[256], err[CONTROL_ERR_MAX] = "";
	struct test_args args = { 0 };

	snprintf(line, sizeof(line), "{\"command\": \"poke\", \"args\": {\"gpa\": %s}}", value);
	if (!parse_test(line, &args, err))
		fail_msg("gpa %s accepted", value);
	if (!strstr(err, want))
		fail_msg("gpa %s: error \"%s\" does not say \"%s\"", value, err, want);
}

static void test_u64_arguments(void **state)
{
	assert_int_equal(poke_gpa("0"), 0);
	assert_int_equal(poke_gpa("4096"), 4096);
	assert_int_equal(poke_gpa("9223372036854775807"), INT64_MAX);
	/* Strings: what JSON integers cannot hold, and hexadecimal. */
	assert_int_equal(poke_gpa("\"4096\""), 4096);
	assert_int_equal(poke_gpa("\"0x40000000\""), 0x40000000);
	assert_int_equal(poke_gpa("\"0XfF\""), 255);
	assert_true(poke_gpa("\"18446744073709551615\"") == UINT64_MAX);
	assert_true(poke_gpa("\"0xffffffffffffffff\"") == UINT64_MAX);

	assert_poke_refused("-1", "poke: argument 'gpa' must not be negative");
	assert_poke_refused("1.5", "must be an unsigned 64-bit integer, not a real number");
	assert_poke_refused("1e3", "not a real number");
	assert_poke_refused("true", "not a boolean");
	assert_poke_refused("null", "not null");
	assert_poke_refused("[1]", "not an array");
	assert_poke_refused("\"\"", "'' is not an unsigned 64-bit integer");
	assert_poke_refused("\"-1\"", "'-1' is not");
	assert_poke_refused("\"+1\"", "'+1' is not");
	assert_poke_refused("\" 1\"", "' 1' is not");
	assert_poke_refused("\"1 \"", "'1 ' is not");
	assert_poke_refused("\"0x\"", "'0x' is not");
	assert_poke_refused("\"0x0x10\"", "'0x0x10' is not");
	assert_poke_refused("\"12g\"", "'12g' is not");
	assert_poke_refused("\"0x1g\"", "'0x1g' is not");
	assert_poke_refused("\"18446744073709551616\"", "is not an unsigned 64-bit integer");
	assert_poke_refused("\"0x10000000000000000\"", "is not an unsigned 64-bit integer");
	/* Beyond INT64_MAX a JSON integer is jansson's to refuse. */
	assert_poke_refused("18446744073709551615", "not JSON");
}

static void test_optional_arguments(void **state)
{
	char err[CONTROL_ERR_MAX] = "";
	struct test_args args = { .len = 7 };
	json_t *json;

	/* Absent optional arguments keep what the caller put there. */
	assert_int_equal(parse_test("{\"command\": \"poke\", \"args\": {\"gpa\": 1}}", &args, err), 0);
	assert_int_equal(args.gpa, 1);
	assert_int_equal(args.len, 7);
	assert_null(args.name);
	assert_int_equal(parse_test_keep("{\"command\": \"poke\", \"args\": {\"name\": \"x\", \"gpa\": 2, \"len\": 3}}",
					 &args, err, &json), 0);
	assert_int_equal(args.gpa, 2);
	assert_int_equal(args.len, 3);
	assert_string_equal(args.name, "x");
	json_decref(json);

	assert_int_equal(parse_test("{\"command\": \"poke\", \"args\": {\"len\": 3}}", &args, err),
			 -EINVAL);
	assert_non_null(strstr(err, "poke: missing argument 'gpa' (an unsigned 64-bit integer)"));
	assert_int_equal(parse_test("{\"command\": \"poke\", \"args\": {\"gpa\": 1, \"size\": 3}}",
				    &args, err), -EINVAL);
	assert_non_null(strstr(err, "poke: unknown argument 'size'; it takes: gpa, len, name"));
	assert_int_equal(parse_test("{\"command\": \"noop\"}", &args, err), 0);
	assert_int_equal(parse_test("{\"command\": \"status\"}", &args, err), -EINVAL);
	assert_non_null(strstr(err, "known commands: poke, noop"));
}

/* migrate: the URI, and the convergence settings with their limits. */
static void test_migrate(void **state)
{
	struct control_request req;

	(void)state;
	assert_parses("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/a\"}}",
		      CONTROL_MIGRATE, &req);
	assert_string_equal(req.args.uri, "unix:/a");
	/* Absent: the defaults (0 means tern's own), auto-converge on. */
	assert_int_equal(req.args.downtime_ms, 0);
	assert_int_equal(req.args.max_bandwidth, 0);
	assert_int_equal(req.args.max_rounds, 0);
	assert_true(req.args.auto_converge);
	control_request_release(&req);

	assert_parses("{\"command\": \"migrate\", \"args\": {\"uri\": \"tcp:1.2.3.4:5\", "
		      "\"downtime_ms\": 50, \"max_bandwidth\": \"20\", \"auto_converge\": false, "
		      "\"max_rounds\": 4}}", CONTROL_MIGRATE, &req);
	assert_int_equal(req.args.downtime_ms, 50);
	assert_int_equal(req.args.max_bandwidth, 20);
	assert_false(req.args.auto_converge);
	assert_int_equal(req.args.max_rounds, 4);
	control_request_release(&req);

	/* The limits themselves are accepted. */
	assert_parses("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/a\", "
		      "\"downtime_ms\": 60000, \"max_bandwidth\": 1048576, \"auto_converge\": true, "
		      "\"max_rounds\": 1000}}", CONTROL_MIGRATE, &req);
	assert_int_equal(req.args.downtime_ms, 60000);
	assert_int_equal(req.args.max_bandwidth, 1048576);
	assert_true(req.args.auto_converge);
	assert_int_equal(req.args.max_rounds, 1000);
	control_request_release(&req);
	assert_parses("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/a\", "
		      "\"downtime_ms\": 1, \"max_bandwidth\": 0, \"max_rounds\": 1}}",
		      CONTROL_MIGRATE, &req);
	assert_int_equal(req.args.downtime_ms, 1);
	assert_int_equal(req.args.max_rounds, 1);
	control_request_release(&req);

	assert_refused("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/a\", \"downtime_ms\": 0}}",
		       "migrate: argument 'downtime_ms' is 0; it must be from 1 to 60000");
	assert_refused("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/a\", \"downtime_ms\": 60001}}",
		       "'downtime_ms' is 60001; it must be from 1 to 60000");
	assert_refused("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/a\", \"max_bandwidth\": 1048577}}",
		       "'max_bandwidth' is 1048577; it must be from 0 to 1048576");
	assert_refused("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/a\", \"max_bandwidth\": -5}}",
		       "'max_bandwidth' must not be negative");
	assert_refused("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/a\", \"max_rounds\": 0}}",
		       "'max_rounds' is 0; it must be from 1 to 1000");
	assert_refused("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/a\", \"max_rounds\": \"0x10000\"}}",
		       "'max_rounds' is 65536");
	assert_refused("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/a\", \"auto_converge\": 1}}",
		       "migrate: argument 'auto_converge' must be true or false, not an integer");
	assert_refused("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/a\", \"auto_converge\": \"no\"}}",
		       "'auto_converge' must be true or false, not 'no'");
	assert_refused("{\"command\": \"migrate\", \"args\": {\"uri\": \"unix:/a\", \"bandwidth\": 5}}",
		       "migrate: unknown argument 'bandwidth'; it takes: uri, downtime_ms, max_bandwidth, auto_converge, max_rounds");
	assert_refused("{\"command\": \"migrate\", \"args\": {\"downtime_ms\": 5}}",
		       "migrate: missing argument 'uri'");
}

/* tern ctl's words make the JSON the parser takes. */
static void test_migrate_from_words(void **state)
{
	char *const words[] = { "uri=unix:/a", "auto_converge=false", "max_bandwidth=20" };
	char err[CONTROL_ERR_MAX] = "";
	struct control_request req;
	char *line = control_request_build("migrate", words, 3, err, sizeof(err));

	(void)state;
	assert_non_null(line);
	line[strlen(line) - 1] = 0;
	assert_parses(line, CONTROL_MIGRATE, &req);
	assert_false(req.args.auto_converge);
	assert_int_equal(req.args.max_bandwidth, 20);
	control_request_release(&req);
	free(line);
}

static void test_command_table(void **state)
{
	char list[256];

	control_command_list(list, sizeof(list));
	assert_string_equal(list, "status, pause, resume, snapshot, quit, inject-memory-error, migrate, migrate-cancel, migrate-start-postcopy, migrate-reconnect");
	for (unsigned int i = 0; i < CONTROL_NR_COMMANDS; i++) {
		assert_non_null(control_commands[i].name);
		for (unsigned int j = 0; j < i; j++)
			assert_string_not_equal(control_commands[i].name, control_commands[j].name);
	}
	/* A short buffer is cut, still terminated. */
	control_command_list(list, 10);
	assert_string_equal(list, "status, p");
}

/* A reply line: exactly one '\n', at the end. */
static void assert_one_line(const char *line)
{
	size_t len = strlen(line);

	assert_true(len > 1);
	assert_int_equal(line[len - 1], '\n');
	assert_null(memchr(line, '\n', len - 1));
}

static void test_reply_ok(void **state)
{
	json_t *reply = control_reply_new();
	char *line;

	assert_non_null(reply);
	line = control_reply_line(reply);
	assert_string_equal(line, "{\"ok\": true}\n");
	free(line);
	assert_int_equal(json_object_set_new(reply, "state", json_string("running")), 0);
	assert_int_equal(json_object_set_new(reply, "vcpus", json_integer(4)), 0);
	line = control_reply_line(reply);
	assert_string_equal(line, "{\"ok\": true, \"state\": \"running\", \"vcpus\": 4}\n");
	free(line);
	json_decref(reply);
}

/* The error line decodes back to exactly @msg. */
static void assert_error_round_trip(const char *msg, const char *want_line)
{
	char *line = control_error_line(msg);
	json_t *reply;

	assert_non_null(line);
	assert_one_line(line);
	if (want_line)
		assert_string_equal(line, want_line);
	reply = json_loads(line, 0, NULL);
	assert_non_null(reply);
	assert_true(json_is_false(json_object_get(reply, "ok")));
	assert_string_equal(json_string_value(json_object_get(reply, "error")), msg);
	json_decref(reply);
	free(line);
}

static void test_reply_error_escaping(void **state)
{
	assert_error_round_trip("pausing the VM failed: Device or resource busy",
		"{\"ok\": false, \"error\": \"pausing the VM failed: Device or resource busy\"}\n");
	assert_error_round_trip("quote \" backslash \\ slash /",
		"{\"ok\": false, \"error\": \"quote \\\" backslash \\\\ slash /\"}\n");
	assert_error_round_trip("new\nline, tab\t, cr\r, bell\x07",
		"{\"ok\": false, \"error\": \"new\\nline, tab\\t, cr\\r, bell\\u0007\"}\n");
	assert_error_round_trip("caf\xc3\xa9 \xe2\x9c\x93", NULL);
	assert_error_round_trip("", "{\"ok\": false, \"error\": \"\"}\n");
}

/* Bytes that are not UTF-8 (a message cut mid-character) become '?'. */
static void test_reply_error_not_utf8(void **state)
{
	char *line = control_error_line("bad \xff byte, cut \xc3");

	assert_non_null(line);
	assert_string_equal(line, "{\"ok\": false, \"error\": \"bad ? byte, cut ?\"}\n");
	free(line);
}

static void test_reply_parse(void **state)
{
	static const char *const bad[] = {
		"", "ok", "{}", "[true]", "{\"ok\": 1}", "{\"ok\": \"true\"}", "{\"ok\": null}",
		"{\"ok\": true", "{\"ok\": true, \"ok\": false}",
	};

	const char *yes = "{\"ok\": true, \"state\": \"running\"}";
	const char *no = "{\"ok\": false, \"error\": \"x\"}";
	bool ok = false;

	assert_int_equal(control_reply_parse(yes, strlen(yes), &ok), 0);
	assert_true(ok);
	assert_int_equal(control_reply_parse(no, strlen(no), &ok), 0);
	assert_false(ok);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (control_reply_parse(bad[i], strlen(bad[i]), &ok) != -EINVAL)
			fail_msg("'%s' taken for a reply", bad[i]);
}

static char *build(char *err, const char *command, ...)
{
	char *args[16];
	int nr = 0;
	va_list ap;

	va_start(ap, command);
	while ((args[nr] = va_arg(ap, char *)))
		nr++;
	va_end(ap);
	return control_request_build(command, args, nr, err, CONTROL_ERR_MAX);
}

#define BUILD(...) build(err, __VA_ARGS__, NULL)

static void assert_built(char *line, const char *want)
{
	if (!line)
		fail_msg("refused; expected %s", want);
	assert_string_equal(line, want);
	free(line);
}

static void test_build_request(void **state)
{
	char err[CONTROL_ERR_MAX] = "";

	assert_built(BUILD("status"), "{\"command\": \"status\"}\n");
	assert_built(BUILD("snapshot", "path=/tmp/s.tern"),
		     "{\"command\": \"snapshot\", \"args\": {\"path\": \"/tmp/s.tern\"}}\n");
	/* Numbers, exactly as JSON spells them; booleans; the rest strings. */
	assert_built(BUILD("x", "a=4096", "b=-1", "c=1.5", "d=1e3", "e=0"),
		     "{\"command\": \"x\", \"args\": {\"a\": 4096, \"b\": -1, \"c\": 1.5, \"d\": 1000.0, \"e\": 0}}\n");
	assert_built(BUILD("x", "a=true", "b=false", "c=null", "d=True"),
		     "{\"command\": \"x\", \"args\": {\"a\": true, \"b\": false, \"c\": \"null\", \"d\": \"True\"}}\n");
	assert_built(BUILD("x", "a=0x10", "b=01", "c=1.", "d= 1", "e=1 ", "f=+1", "g=-", "h=1e"),
		     "{\"command\": \"x\", \"args\": {\"a\": \"0x10\", \"b\": \"01\", \"c\": \"1.\", \"d\": \" 1\", \"e\": \"1 \", \"f\": \"+1\", \"g\": \"-\", \"h\": \"1e\"}}\n");
	/* Too big for a JSON integer: sent as a string, which u64 arguments take. */
	assert_built(BUILD("x", "gpa=18446744073709551615"),
		     "{\"command\": \"x\", \"args\": {\"gpa\": \"18446744073709551615\"}}\n");
	/* Split at the first '='; an empty value is an empty string. */
	assert_built(BUILD("x", "a=b=c", "d="),
		     "{\"command\": \"x\", \"args\": {\"a\": \"b=c\", \"d\": \"\"}}\n");
	assert_built(BUILD("x", "q=say \"hi\"\n"),
		     "{\"command\": \"x\", \"args\": {\"q\": \"say \\\"hi\\\"\\n\"}}\n");
	/* One JSON object, as it is. */
	assert_built(BUILD("snapshot", "{\"path\": \"/s\", \"n\": [1, 2]}"),
		     "{\"command\": \"snapshot\", \"args\": {\"path\": \"/s\", \"n\": [1, 2]}}\n");
	assert_built(BUILD("status", "{}"), "{\"command\": \"status\"}\n");
}

static void assert_build_refused(char *line, const char *err, const char *want)
{
	if (line) {
		free(line);
		fail_msg("built; expected an error saying \"%s\"", want);
	}
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not say \"%s\"", err, want);
}

static void test_build_request_errors(void **state)
{
	char err[CONTROL_ERR_MAX] = "";
	char *big = malloc(CONTROL_LINE_MAX + 16);

	assert_build_refused(BUILD("snapshot", "/tmp/s"), err,
			     "'/tmp/s' is not key=value (or one JSON object)");
	assert_build_refused(BUILD("snapshot", "=x"), err, "'=x' is not key=value");
	assert_build_refused(BUILD("x", "a=1", "a=2"), err, "argument 'a' given twice");
	assert_build_refused(BUILD("x", "a=1", "{\"b\": 2}"), err,
			     "a JSON object must be the only argument");
	assert_build_refused(BUILD("x", "{\"b\": 2}", "a=1"), err,
			     "a JSON object must be the only argument");
	assert_build_refused(BUILD("x", "{\"b\": }"), err, "arguments are not JSON");
	assert_build_refused(BUILD("x", "{\"b\": 1} x"), err, "arguments are not JSON");
	assert_build_refused(BUILD("x", "{\"b\": 1, \"b\": 2}"), err, "duplicate object key");
	assert_build_refused(BUILD("x", "[1]"), err, "'[1]' is not key=value");
	assert_build_refused(BUILD("x", "a=\xff"), err, "is not valid UTF-8");
	assert_build_refused(BUILD("x", "\xff=1"), err, "is not valid UTF-8");
	assert_build_refused(BUILD("\xff"), err, "empty or not valid UTF-8");
	assert_build_refused(BUILD(""), err, "empty or not valid UTF-8");

	assert_non_null(big);
	memcpy(big, "a=", 2);
	memset(big + 2, 'v', CONTROL_LINE_MAX);
	big[2 + CONTROL_LINE_MAX] = 0;
	assert_build_refused(BUILD("x", big), err, "more than 65536");
	free(big);
}

/* What tern ctl sends, the server understands. */
static void test_build_then_parse(void **state)
{
	char err[CONTROL_ERR_MAX] = "";
	struct control_request req;
	char *line = BUILD("snapshot", "path=/var/tmp/vm 1.tern");

	assert_non_null(line);
	assert_int_equal(control_request_parse(line, strlen(line) - 1, &req, err, sizeof(err)), 0);
	assert_int_equal(req.cmd, CONTROL_SNAPSHOT);
	assert_string_equal(req.args.path, "/var/tmp/vm 1.tern");
	control_request_release(&req);
	free(line);
}

static void feed(struct control_lines *l, const char *bytes, size_t n)
{
	size_t room;
	char *p = control_lines_room(l, &room);

	assert_true(n <= room);
	memcpy(p, bytes, n);
	control_lines_added(l, n);
}

static void feed_str(struct control_lines *l, const char *s)
{
	feed(l, s, strlen(s));
}

static void assert_next_line(struct control_lines *l, const char *want)
{
	char *line;
	size_t len;

	assert_int_equal(control_lines_next(l, &line, &len), 1);
	assert_int_equal(len, strlen(want));
	assert_string_equal(line, want);
}

static void test_lines(void **state)
{
	struct control_lines *l = malloc(sizeof(*l));
	char *line;
	size_t len;

	assert_non_null(l);
	control_lines_init(l);
	assert_true(control_lines_empty(l));
	assert_int_equal(control_lines_next(l, &line, &len), 0);

	feed_str(l, "one\ntwo\r\n\nthr");
	assert_next_line(l, "one");
	assert_next_line(l, "two");
	assert_next_line(l, "");
	assert_int_equal(control_lines_next(l, &line, &len), 0);
	assert_false(control_lines_empty(l));
	feed_str(l, "ee");
	assert_int_equal(control_lines_next(l, &line, &len), 0);
	feed_str(l, "\nfour");
	assert_next_line(l, "three");
	/* At end of stream, the unterminated rest is a last line. */
	assert_int_equal(control_lines_rest(l, &line, &len), 1);
	assert_string_equal(line, "four");
	assert_int_equal(len, 4);
	assert_true(control_lines_empty(l));
	assert_int_equal(control_lines_rest(l, &line, &len), 0);
	free(l);
}

static void test_lines_limit(void **state)
{
	struct control_lines *l = malloc(sizeof(*l));
	char *big = malloc(CONTROL_LINE_MAX + 2);
	char *line;
	size_t len, room;

	assert_non_null(l);
	assert_non_null(big);
	memset(big, 'x', CONTROL_LINE_MAX + 1);
	big[CONTROL_LINE_MAX] = '\n';

	/* A longest line, after a short one that was taken: the room moves up. */
	control_lines_init(l);
	feed_str(l, "a\n");
	assert_next_line(l, "a");
	control_lines_room(l, &room);
	assert_int_equal(room, CONTROL_LINE_MAX + 1);
	feed(l, big, CONTROL_LINE_MAX + 1);
	assert_int_equal(control_lines_next(l, &line, &len), 1);
	assert_int_equal(len, CONTROL_LINE_MAX);
	assert_true(control_lines_empty(l));

	/* A byte more without a newline: too long, whatever follows. */
	control_lines_init(l);
	feed(l, big, CONTROL_LINE_MAX);
	assert_int_equal(control_lines_next(l, &line, &len), 0);
	feed_str(l, "y");
	assert_int_equal(control_lines_next(l, &line, &len), -EMSGSIZE);
	control_lines_room(l, &room);
	assert_int_equal(room, 0);

	/* The longest line may arrive a byte at a time. */
	control_lines_init(l);
	for (size_t i = 0; i <= CONTROL_LINE_MAX; i++) {
		feed(l, &big[i], 1);
		assert_int_equal(control_lines_next(l, &line, &len), i == CONTROL_LINE_MAX);
	}
	assert_int_equal(len, CONTROL_LINE_MAX);
	free(big);
	free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands_without_arguments),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_parse_reads_only_len),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_missing_or_bad_command),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_wrong_argument_types),
		cmocka_unit_test(test_u64_arguments),
		cmocka_unit_test(test_optional_arguments),
		cmocka_unit_test(test_migrate),
		cmocka_unit_test(test_migrate_from_words),
		cmocka_unit_test(test_command_table),
		cmocka_unit_test(test_inject_memory_error),
		cmocka_unit_test(test_reply_ok),
		cmocka_unit_test(test_reply_error_escaping),
		cmocka_unit_test(test_reply_error_not_utf8),
		cmocka_unit_test(test_reply_parse),
		cmocka_unit_test(test_build_request),
		cmocka_unit_test(test_build_request_errors),
		cmocka_unit_test(test_migrate_postcopy),
		cmocka_unit_test(test_migrate_postcopy_settings),
		cmocka_unit_test(test_build_then_parse),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_lines_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
