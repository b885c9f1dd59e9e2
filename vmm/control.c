// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket (docs/control.md): its server, polled by the main
 * loop (mainloop.c), and the command handlers.
 *
 * Control requests are answered one at a time, in the order they arrive,
 * on this thread: a long one (snapshot) holds up the console and the other
 * clients until it is done. That keeps the VM's state changes strictly
 * serial, with no locking between the commands.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "console.h"
#include "control.h"
#include "control_proto.h"
#include "landlock.h"
#include "log.h"
#include "memfault_service.h"
#include "migration/channel_keys.h"
#include "migration/migrate.h"
#include "migration/postcopy_incoming.h"
#include "migration/snapshot.h"
#include "vm.h"

#define FLUSH_TIMEOUT_MS	1000	/* per reply still unsent when the loop ends */
#define ACCEPT_RETRY_MS		1000	/* after accept() ran out of fds or memory */

struct control_client {
	int fd;
	bool eof;			/* no more input: the peer's EOF, or a line too long */
	char *out;			/* the reply being written; NULL: none */
	size_t out_len, out_done;
	struct control_lines in;
};

struct control {
	int listen_fd;
	bool accept_blocked;		/* accept() failed for lack of resources */
	dev_t dev;			/* the socket file we made: unlink only that */
	ino_t ino;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct control_client *clients[CONTROL_MAX_CLIENTS];
};

/*
 * A command's work. 0 with its result fields added to @reply (which holds
 * "ok": true already), or -errno with the message for the client in @err.
 */
typedef int control_handler(struct vm *vm, const struct control_args *args, json_t *reply,
			    char *err, size_t errlen);

static int failed(char *err, size_t errlen, const char *what, int ret)
{
	snprintf(err, errlen, "%s failed: %s", what, strerror(-ret));
	return ret;
}

/* Adds @fields (a new object, or NULL if building it failed) to @reply. */
static int add_fields(json_t *reply, json_t *fields, char *err, size_t errlen)
{
	int ret = fields && !json_object_update(reply, fields) ? 0 : -ENOMEM;

	json_decref(fields);
	return ret ? failed(err, errlen, "building the reply", ret) : 0;
}

static const char *state_name(const struct vm *vm)
{
	return vm_is_paused(vm) ? "paused" : "running";
}

static json_t *postcopy_json(const struct postcopy_source_stats *pc)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}",
			 "pages_missing", (json_int_t)pc->pages_missing,
			 "pages_sent", (json_int_t)(pc->pages_on_demand + pc->pages_pushed),
			 "pages_on_demand", (json_int_t)pc->pages_on_demand,
			 "pages_pushed", (json_int_t)pc->pages_pushed,
			 "reconnects", (json_int_t)pc->reconnects);
}

/* status's "migration" object (docs/control.md); NULL with no migration
 * or out of memory. */
static json_t *migration_json(const struct migrate_stats *st)
{
	json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			      "s:I, s:b, s:I, s:I, s:s}",
			      "state", st->state, "uri", st->uri,
			      "round", (json_int_t)st->rounds,
			      "mib_sent", (json_int_t)(st->bytes_sent >> 20),
			      "mib_per_s", (json_int_t)(st->bandwidth >> 20),
			      "dirty_pages_per_s", (json_int_t)st->dirty_rate,
			      "expected_downtime_ms", (json_int_t)st->expected_downtime_ms,
			      "downtime_target_ms", (json_int_t)st->downtime_target_ms,
			      "fixed_cost_ms", (json_int_t)st->fixed_cost_ms,
			      "throttle_percent", (json_int_t)st->throttle_pct,
			      "max_bandwidth_mib_per_s", (json_int_t)st->max_bandwidth_mib,
			      "max_rounds", (json_int_t)st->max_rounds,
			      "pages_sent", (json_int_t)st->pages_sent,
			      "auto_converge", st->auto_converge,
			      "pages_resent", (json_int_t)st->pages_resent,
			      "elapsed_ms", (json_int_t)st->elapsed_ms,
			      "dirty_tracking", st->dirty_tracking);

	if (j && st->completed) {
		json_object_set_new(j, "downtime_ms", json_integer((json_int_t)st->downtime_ms));
		json_object_set_new(j, "final_work_ms", json_integer((json_int_t)st->final_work_ms));
	}
	if (j && st->error[0])
		json_object_set_new(j, "error", json_string(st->error));
	if (j && st->postcopy_asked) {
		json_object_set_new(j, "recovery_timeout_s", json_integer((json_int_t)st->recovery_s));
		json_object_set_new(j, "max_postcopy_bandwidth_mib_per_s",
				    json_integer((json_int_t)st->postcopy_bandwidth_mib));
	}
	if (j && st->postcopy)
		json_object_set_new(j, "postcopy", postcopy_json(&st->pc));
	return j;
}

static int do_status(struct vm *vm, const struct control_args *args, json_t *reply,
		     char *err, size_t errlen)
{
	json_int_t uptime_ms = (json_int_t)((monotonic_ns() - vm->start_ns) / 1000000);
	struct migrate_stats st;
	json_t *mig = NULL;
	int ret;

	if (!migrate_stats(vm, &st)) {
		mig = migration_json(&st);
		if (!mig)
			return failed(err, errlen, "building the reply", -ENOMEM);
	}

	ret = add_fields(reply, json_pack("{s:s, s:I, s:I, s:s, s:I, s:I, s:I, s:I}",
					  "state", state_name(vm),
					  "vcpus", (json_int_t)vm->nr_vcpus,
					  "memory_mib", (json_int_t)(vm->ram.size >> 20),
					  "memory_backend", mem_backend_name(vm->ram.backend),
					  "memory_errors", (json_int_t)atomic_load(&vm->memory_errors),
					  "pages_replaced", (json_int_t)atomic_load(&vm->pages_replaced),
					  "uptime_ms", uptime_ms,
					  "dirty_ring_full_exits",
					  (json_int_t)atomic_load(&vm->dirty_ring_full_exits)),
			 err, errlen);
	if (ret) {
		json_decref(mig);
		return ret;
	}
	if (mig && json_object_set_new(reply, "migration", mig))
		return failed(err, errlen, "building the reply", -ENOMEM);
	return 0;
}

/* While a migration runs, its thread alone pauses and resumes the VM. An
 * incoming post-copy still fetching pages holds and releases the vCPUs
 * itself, and RAM is not whole yet. */
static int refuse_while_migrating(struct vm *vm, const char *what, char *err, size_t errlen)
{
	if (postcopy_incoming_serving(vm)) {
		snprintf(err, errlen, "cannot %s while an incoming post-copy migration still "
			 "fetches pages from its source; wait until it completes", what);
		return -EBUSY;
	}
	if (!migrate_active(vm))
		return 0;
	snprintf(err, errlen, "cannot %s while a migration runs ('migrate-cancel' first)", what);
	return -EBUSY;
}

/* The channel options; migrate_start checks how they combine. */
static int migrate_sec_from_args(struct channel_sec *sec, const struct control_args *args,
				 char *err, size_t errlen)
{
	const char *const keys[] = { "tls_psk", "tls_creds", "tls_hostname", "insecure" };
	const char *const values[] = { args->tls_psk, args->tls_creds, args->tls_hostname,
				       args->insecure };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int ret = values[i] ? channel_sec_set(sec, keys[i], values[i], err, errlen) : 0;

		if (ret)
			return ret;
	}
	return 0;
}

static int do_migrate(struct vm *vm, const struct control_args *args, json_t *reply,
		      char *err, size_t errlen)
{
	struct migrate_params p = {
		.uri = args->uri, .downtime_ms = args->downtime_ms,
		.max_bandwidth_mib = args->max_bandwidth, .auto_converge = args->auto_converge,
		.max_rounds = (unsigned int)args->max_rounds,	/* checked: <= 1000 */
		.postcopy = args->postcopy,
		.recovery_s = (unsigned int)args->recovery_timeout_s,	/* checked: <= 3600 */
		.postcopy_bandwidth_mib = args->max_postcopy_bandwidth,
	};
	const struct channel_sec *start_keys;
	int ret = refuse_while_migrating(vm, "migrate", err, errlen) ?:
		  landlock_check_migrate(vm->cfg, args->uri, err, errlen);

	if (ret < 0)
		return ret;
	ret = migrate_sec_from_args(&p.sec, args, err, errlen);
	if (ret < 0)
		return ret;
	/* Keys read at start (--migrate-to URI,tls_psk=...) stay tern's. */
	start_keys = migration_target_keys(vm, args->uri, &p.sec);
	if (start_keys)
		p.sec = *start_keys;
	ret = migrate_start(vm, &p, err, errlen);

	if (ret < 0)
		return ret;
	return add_fields(reply, json_pack("{s:s}", "migration", "started"), err, errlen);
}

static int do_migrate_cancel(struct vm *vm, const struct control_args *args, json_t *reply,
			     char *err, size_t errlen)
{
	return migrate_cancel(vm, err, errlen);
}

static int do_migrate_start_postcopy(struct vm *vm, const struct control_args *args,
				     json_t *reply, char *err, size_t errlen)
{
	return migrate_start_postcopy(vm, err, errlen);
}

static int do_migrate_reconnect(struct vm *vm, const struct control_args *args, json_t *reply,
				char *err, size_t errlen)
{
	return migrate_reconnect(vm, err, errlen);
}

static int do_pause(struct vm *vm, const struct control_args *args, json_t *reply,
		    char *err, size_t errlen)
{
	int ret = refuse_while_migrating(vm, "pause", err, errlen);

	if (ret < 0)
		return ret;
	ret = vm_pause(vm);
	if (ret == -ETIMEDOUT) {
		snprintf(err, errlen, "pausing the VM timed out: a vCPU or the I/O thread did not stop (tern's log names it); the VM runs on");
		return ret;
	}
	if (ret < 0)
		return failed(err, errlen, "pausing the VM", ret);
	return add_fields(reply, json_pack("{s:s}", "state", state_name(vm)), err, errlen);
}

static int do_resume(struct vm *vm, const struct control_args *args, json_t *reply,
		     char *err, size_t errlen)
{
	int ret = refuse_while_migrating(vm, "resume", err, errlen);

	if (ret < 0)
		return ret;
	ret = vm_resume(vm);
	if (ret < 0)
		return failed(err, errlen, "resuming the VM", ret);
	return add_fields(reply, json_pack("{s:s}", "state", state_name(vm)), err, errlen);
}

/* The reply names the file absolutely: a relative path is tern's, not the client's. */
static json_t *snapshot_result(const char *path, uint64_t start_ns)
{
	char *abs = realpath(path, NULL);
	struct stat st;
	json_t *fields;

	fields = json_pack("{s:s, s:I}", "path", abs ? abs : path,
			   "duration_ms", (json_int_t)((monotonic_ns() - start_ns) / 1000000));
	free(abs);
	if (fields && !stat(path, &st) &&
	    json_object_set_new(fields, "bytes", json_integer((json_int_t)st.st_size))) {
		json_decref(fields);
		return NULL;
	}
	return fields;
}

static int do_snapshot(struct vm *vm, const struct control_args *args, json_t *reply,
		       char *err, size_t errlen)
{
	uint64_t start_ns = monotonic_ns();
	char why[CONTROL_ERR_MAX] = "";
	int ret = refuse_while_migrating(vm, "snapshot", err, errlen) ?:
		  landlock_check_snapshot(vm->cfg, args->path, err, errlen);

	if (ret < 0)
		return ret;
	vm_trace(vm, "control: snapshot to %s", args->path);
	ret = snapshot_save(vm, args->path, why, sizeof(why));
	if (ret < 0) {
		snprintf(err, errlen, "snapshot to %s failed: %s", args->path,
			 why[0] ? why : strerror(-ret));
		return ret;
	}
	return add_fields(reply, snapshot_result(args->path, start_ns), err, errlen);
}

/* The loop sees the stop and ends after this reply has been sent. */
static int do_quit(struct vm *vm, const struct control_args *args, json_t *reply,
		   char *err, size_t errlen)
{
	pr_info("quit requested on the control socket: stopping the VM");
	vm_request_stop(vm, VM_STOP_QUIT, 0);
	return 0;
}

static int do_inject_memory_error(struct vm *vm, const struct control_args *args,
				  json_t *reply, char *err, size_t errlen)
{
	uint64_t page_gpa;
	char addr[32];
	int ret;

	if (!vm->cfg->allow_fault_injection) {
		snprintf(err, errlen, "inject-memory-error destroys a host page: refused unless tern runs with --allow-fault-injection");
		return -EPERM;
	}
	ret = memfault_poison_page(vm, args->gpa, &page_gpa, err, errlen);
	if (ret < 0)
		return ret;
	/* A string: JSON integers stop at 2^63, addresses need not. */
	snprintf(addr, sizeof(addr), "%#llx", (unsigned long long)page_gpa);
	return add_fields(reply, json_pack("{s:s, s:I, s:s}", "gpa", addr,
					   "page_size", (json_int_t)sysconf(_SC_PAGESIZE),
					   "backend", mem_backend_name(vm->ram.backend)), err, errlen);
}

/* Indexed like control_commands[] (control_proto.c). */
static control_handler *const handlers[CONTROL_NR_COMMANDS] = {
	[CONTROL_STATUS]	= do_status,
	[CONTROL_PAUSE]		= do_pause,
	[CONTROL_RESUME]	= do_resume,
	[CONTROL_SNAPSHOT]	= do_snapshot,
	[CONTROL_QUIT]		= do_quit,
	[CONTROL_INJECT_MEMORY_ERROR] = do_inject_memory_error,
	[CONTROL_MIGRATE]	= do_migrate,
	[CONTROL_MIGRATE_CANCEL] = do_migrate_cancel,
	[CONTROL_MIGRATE_START_POSTCOPY] = do_migrate_start_postcopy,
	[CONTROL_MIGRATE_RECONNECT] = do_migrate_reconnect,
#ifdef TERN_TEST_COMMANDS
	[CONTROL_TEST_OPEN]	= control_test_open,
#endif
};

/* The reply line to one request line; NULL if out of memory. */
static char *answer(struct vm *vm, const char *line, size_t len)
{
	char err[CONTROL_ERR_MAX + CONFIG_PATH_MAX];
	struct control_request req;
	json_t *reply;
	char *out;
	int ret;

	if (control_request_parse(line, len, &req, err, sizeof(err)))
		return control_error_line(err);
	vm_trace(vm, "control: %s", control_commands[req.cmd].name);
	reply = control_reply_new();
	if (!reply)
		ret = failed(err, sizeof(err), "building the reply", -ENOMEM);
	else if (!handlers[req.cmd])
		ret = failed(err, sizeof(err), control_commands[req.cmd].name, -ENOSYS);
	else
		ret = handlers[req.cmd](vm, &req.args, reply, err, sizeof(err));
	out = ret ? control_error_line(err) : control_reply_line(reply);
	json_decref(reply);
	control_request_release(&req);
	return out;
}

/* Writes what the socket takes of the pending reply. 0, or -errno: drop the client. */
static int client_flush(struct control_client *c)
{
	while (c->out) {
		ssize_t n = send(c->fd, c->out + c->out_done, c->out_len - c->out_done,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		c->out_done += (size_t)n;
		if (c->out_done == c->out_len) {
			free(c->out);
			c->out = NULL;
		}
	}
	return 0;
}

/* Takes @line (malloc'd; NULL: out of memory) as the client's next reply. */
static int client_send(struct control_client *c, char *line)
{
	if (!line)
		return -ENOMEM;
	c->out = line;
	c->out_len = strlen(line);
	c->out_done = 0;
	return client_flush(c);
}

/* Past a line too long there is no telling where the next request starts. */
static int client_refuse_long_line(struct control_client *c)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "request longer than %d bytes; closing the connection",
		 CONTROL_LINE_MAX);
	control_lines_init(&c->in);
	c->eof = true;
	return client_send(c, control_error_line(msg));
}

/*
 * Answers the complete lines received, in order, until a reply has to wait
 * for room in the socket or the VM stops (the rest then waits for the next
 * run, after a guest reset). Blank lines are skipped.
 */
static int client_answer(struct vm *vm, struct control_client *c)
{
	char *line;
	size_t len;
	int ret;

	while (!c->out && vm_stop_reason(vm) == VM_RUNNING) {
		ret = control_lines_next(&c->in, &line, &len);
		if (ret == -EMSGSIZE)
			return client_refuse_long_line(c);
		if (!ret && c->eof)
			ret = control_lines_rest(&c->in, &line, &len);
		if (!ret)
			return 0;
		if (len) {
			ret = client_send(c, answer(vm, line, len));
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int client_read(struct control_client *c)
{
	size_t room;
	char *p = control_lines_room(&c->in, &room);
	ssize_t n;

	if (!room)
		return 0;	/* full of whole lines: client_answer() takes them first */
	n = recv(c->fd, p, room, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
	if (!n)
		c->eof = true;
	control_lines_added(&c->in, (size_t)n);
	return 0;
}

/* A client is done once it sent EOF and got every reply. */
static bool client_done(const struct control_client *c)
{
	return c->eof && !c->out && control_lines_empty(&c->in);
}

/* One client's turn after poll(). 0: keep it; <0: close it. */
static int client_service(struct vm *vm, struct control_client *c, short revents)
{
	int ret = client_flush(c);

	if (!ret && !c->out && !c->eof && (revents & (POLLIN | POLLHUP | POLLERR)))
		ret = client_read(c);
	if (!ret)
		ret = client_answer(vm, c);
	if (!ret && client_done(c))
		ret = -ECONNRESET;
	return ret;
}

static short client_events(const struct control_client *c)
{
	if (c->out)
		return POLLOUT;
	return c->eof ? 0 : POLLIN;
}

static void client_close(struct control *ctl, unsigned int i)
{
	struct control_client *c = ctl->clients[i];

	close(c->fd);
	free(c->out);
	free(c);
	ctl->clients[i] = NULL;
	ctl->accept_blocked = false;
}

/* A client over the limit gets told why, as far as its socket takes it. */
static void refuse_client(int fd)
{
	char msg[96], *line;

	snprintf(msg, sizeof(msg), "too many control clients (at most %d); try again later",
		 CONTROL_MAX_CLIENTS);
	line = control_error_line(msg);
	if (line && send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		pr_warn("control: refusing a client: %s", strerror(errno));
	free(line);
	close(fd);
}

static int free_slot(const struct control *ctl)
{
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (!ctl->clients[i])
			return i;
	return -1;
}

static bool out_of_resources(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void accept_client(struct control *ctl)
{
	int fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct control_client *c;
	int slot;

	if (fd < 0) {
		/* Left pending, the connection would wake poll() at once, forever. */
		if (out_of_resources(errno)) {
			pr_warn("control: cannot accept a client: %s; retrying in %d ms",
				strerror(errno), ACCEPT_RETRY_MS);
			ctl->accept_blocked = true;
		}
		return;		/* EAGAIN, ECONNABORTED: it went away */
	}
	slot = free_slot(ctl);
	if (slot < 0) {
		refuse_client(fd);
		return;
	}
	c = malloc(sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->eof = false;
	c->out = NULL;
	control_lines_init(&c->in);
	ctl->clients[slot] = c;
}

/* Lines left over when a run ended (a guest reset) are answered now. */
void control_serve_buffered(struct vm *vm)
{
	struct control *ctl = vm->control;

	for (unsigned int i = 0; ctl && i < CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i] && client_service(vm, ctl->clients[i], 0) < 0)
			client_close(ctl, i);
}

/* Replies still queued when the VM stopped, "quit"'s own among them. */
void control_flush_replies(struct vm *vm)
{
	struct control *ctl = vm->control;

	for (unsigned int i = 0; ctl && i < CONTROL_MAX_CLIENTS; i++) {
		struct control_client *c = ctl->clients[i];
		struct pollfd p = { .fd = c ? c->fd : -1, .events = POLLOUT };

		while (c && c->out && poll(&p, 1, FLUSH_TIMEOUT_MS) > 0 && !client_flush(c))
			;
	}
}

/* Slot 0 is the listening socket, then one per client; -1: nothing to poll. */
int control_poll_fill(struct vm *vm, struct pollfd fds[CONTROL_POLL_NR])
{
	struct control *ctl = vm->control;

	fds[0] = (struct pollfd){ .fd = ctl && !ctl->accept_blocked ? ctl->listen_fd : -1,
				  .events = POLLIN };
	for (unsigned int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct control_client *c = ctl ? ctl->clients[i] : NULL;

		fds[1 + i] = (struct pollfd){ .fd = c ? c->fd : -1,
					      .events = c ? client_events(c) : 0 };
	}
	return ctl && ctl->accept_blocked ? ACCEPT_RETRY_MS : -1;
}

void control_poll_serve(struct vm *vm, const struct pollfd fds[CONTROL_POLL_NR])
{
	struct control *ctl = vm->control;

	if (!ctl)
		return;
	ctl->accept_blocked = false;
	for (unsigned int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		short revents = fds[1 + i].revents;

		if (ctl->clients[i] && revents && client_service(vm, ctl->clients[i], revents) < 0)
			client_close(ctl, i);
	}
	if (fds[0].revents)
		accept_client(ctl);
}

/*
 * 1 if a server answers at @addr, 0 if the socket file is stale (nobody
 * listening), or -errno.
 */
static int socket_in_use(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int ret;

	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	if (!ret || errno == EAGAIN)	/* EAGAIN: its backlog is full, but it's alive */
		ret = 1;
	else
		ret = errno == ECONNREFUSED ? 0 : -errno;
	close(fd);
	return ret;
}

/* Makes room at @addr: nothing there, or a stale socket that is removed. */
static int clear_stale_socket(const struct sockaddr_un *addr)
{
	const char *path = addr->sun_path;
	struct stat st;
	int ret;

	if (lstat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		pr_err("--control %s: %s", path, strerror(errno));
		return ret;
	}
	if (!S_ISSOCK(st.st_mode)) {
		pr_err("--control %s: the file exists and is not a socket; refusing to replace it",
		       path);
		return -EEXIST;
	}
	ret = socket_in_use(addr);
	if (ret == 1) {
		pr_err("--control %s: another process (another tern?) is listening on it", path);
		return -EADDRINUSE;
	}
	if (ret < 0) {
		pr_err("--control %s: cannot tell whether the socket there is in use: %s", path,
		       strerror(-ret));
		return ret;
	}
	if (unlink(path)) {
		ret = -errno;
		pr_err("--control %s: cannot remove the stale socket there: %s", path,
		       strerror(errno));
		return ret;
	}
	return 0;
}

static int listen_at(struct control *ctl, const struct sockaddr_un *addr)
{
	struct stat st;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	ctl->listen_fd = fd;
	if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)))
		return -errno;
	/* The VM is the owner's to command. (Between bind and chmod the
	 * umask's mode applies; a private directory closes that gap.) */
	if (chmod(addr->sun_path, 0600) || stat(addr->sun_path, &st) ||
	    listen(fd, CONTROL_MAX_CLIENTS)) {
		int ret = -errno;

		unlink(addr->sun_path);
		return ret;
	}
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	return 0;
}

int control_open(struct vm *vm, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct control *ctl;
	int ret;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		pr_err("--control %s: a unix socket path is at most %zu bytes", path,
		       sizeof(addr.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->listen_fd = -1;
	memcpy(ctl->path, addr.sun_path, sizeof(ctl->path));
	ret = clear_stale_socket(&addr);
	if (!ret) {
		ret = listen_at(ctl, &addr);
		if (ret < 0)
			pr_err("--control %s: cannot listen there: %s", path, strerror(-ret));
	}
	if (ret < 0) {
		if (ctl->listen_fd >= 0)
			close(ctl->listen_fd);
		free(ctl);
		return ret;
	}
	vm->control = ctl;
	vm_trace(vm, "control: listening on %s", path);
	return 0;
}

void control_close(struct vm *vm)
{
	struct control *ctl = vm->control;
	struct stat st;

	if (!ctl)
		return;
	for (unsigned int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i])
			client_close(ctl, i);
	close(ctl->listen_fd);
	/* Only the socket we made: someone may have put another in its place. */
	if (!lstat(ctl->path, &st) && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
		unlink(ctl->path);
	free(ctl);
	vm->control = NULL;
}
