// SPDX-License-Identifier: GPL-2.0-only
/*
 * Migration channel security, the pure half: the PSK file (format, size,
 * permissions), the channel options (--incoming's comma options and how
 * they combine), the session token; and TLS handshakes between two real
 * sockets (pre-shared key: agreed keys, a wrong key, a plain-text peer).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "migration/channel_sec.h"
#include "migration/tls.h"

#define KEY32	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY32B	"ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static char err[512];

/* ---- the PSK text ---- */

static void test_psk_parse_32_bytes(void **state)
{
	uint8_t key[CHANNEL_PSK_MAX];

	assert_int_equal(channel_psk_parse(KEY32 "\n", strlen(KEY32) + 1, key, err, sizeof(err)),
			 32);
	assert_int_equal(key[0], 0x00);
	assert_int_equal(key[15], 0x0f);
	assert_int_equal(key[31], 0x1f);
	char upper[] = KEY32;

	/* No newline, upper case. */
	upper[0] = 'A';
	upper[1] = 'B';
	assert_int_equal(channel_psk_parse(upper, 64, key, err, sizeof(err)), 32);
	assert_int_equal(key[0], 0xab);
}

static void test_psk_parse_64_bytes(void **state)
{
	uint8_t key[CHANNEL_PSK_MAX];

	assert_int_equal(channel_psk_parse(KEY32 KEY32, 128, key, err, sizeof(err)), 64);
	assert_int_equal(key[63], 0x1f);
}

static void test_psk_parse_refuses(void **state)
{
	uint8_t key[CHANNEL_PSK_MAX];
	const char *two_lines = "0001020304050607080910111213141516\n17181920212223242526272829303132\n";
	char not_hex[] = KEY32;

	/* 31 bytes. */
	assert_int_equal(channel_psk_parse(KEY32, 62, key, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "31 bytes"));
	/* 65 bytes. */
	assert_int_equal(channel_psk_parse(KEY32 KEY32 "00", 130, key, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "65 bytes"));
	/* Odd, not hex, two lines, a space, empty. */
	assert_int_equal(channel_psk_parse(KEY32 "0", 65, key, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "odd"));
	not_hex[0] = 'z';
	assert_int_equal(channel_psk_parse(not_hex, 64, key, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a hex digit"));
	assert_int_equal(channel_psk_parse(two_lines, strlen(two_lines), key, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(channel_psk_parse(KEY32 " ", 65, key, err, sizeof(err)), -EINVAL);
	assert_int_equal(channel_psk_parse("", 0, key, err, sizeof(err)), -EINVAL);
	assert_int_equal(channel_psk_parse("\n", 1, key, err, sizeof(err)), -EINVAL);
}

/* ---- the PSK file ---- */

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static char dir[] = "/tmp/tern-test-chan-XXXXXX";

static void path_in(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static void test_psk_load(void **state)
{
	uint8_t key[CHANNEL_PSK_MAX];
	char path[128];

	path_in(path, sizeof(path), "psk");
	write_file(path, KEY32 "\n", 0600);
	assert_int_equal(channel_psk_load(path, key, err, sizeof(err)), 32);
	write_file(path, KEY32 "\n", 0400);
	assert_int_equal(channel_psk_load(path, key, err, sizeof(err)), 32);
	/* Group- or world-readable: refused, with the fix. */
	write_file(path, KEY32 "\n", 0640);
	assert_int_equal(channel_psk_load(path, key, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "chmod 600"));
	write_file(path, KEY32 "\n", 0604);
	assert_int_equal(channel_psk_load(path, key, err, sizeof(err)), -EPERM);
	/* Short key, in a private file. */
	write_file(path, "00112233\n", 0600);
	assert_int_equal(channel_psk_load(path, key, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "4 bytes"));
	/* Missing; a directory. */
	path_in(path, sizeof(path), "none");
	assert_int_equal(channel_psk_load(path, key, err, sizeof(err)), -ENOENT);
	assert_true(channel_psk_load(dir, key, err, sizeof(err)) < 0);
}

/* ---- options ---- */

static void test_spec_tcp_needs_a_choice(void **state)
{
	struct channel_spec cs;

	assert_int_equal(channel_spec_parse("tcp:127.0.0.1:4444", &cs, err, sizeof(err)), -EINVAL);
	/* Both ways out are named. */
	assert_non_null(strstr(err, "tls_psk=FILE"));
	assert_non_null(strstr(err, "tls_creds=DIR"));
	assert_non_null(strstr(err, "insecure=on"));
	assert_int_equal(channel_spec_parse("tcp:127.0.0.1:4444,insecure=off", &cs, err,
					    sizeof(err)), -EINVAL);
	assert_int_equal(channel_spec_parse("tcp:127.0.0.1:4444,insecure=on", &cs, err,
					    sizeof(err)), 0);
	assert_string_equal(cs.uri, "tcp:127.0.0.1:4444");
	assert_true(cs.sec.insecure);
	assert_false(channel_sec_tls(&cs.sec));
}

static void test_spec_psk(void **state)
{
	struct channel_spec cs;
	char arg[256], path[128];

	path_in(path, sizeof(path), "psk");
	write_file(path, KEY32 "\n", 0600);
	snprintf(arg, sizeof(arg), "tcp:[::1]:4444,tls_psk=%s", path);
	assert_int_equal(channel_spec_parse(arg, &cs, err, sizeof(err)), 0);
	assert_string_equal(cs.uri, "tcp:[::1]:4444");
	assert_string_equal(cs.sec.tls_psk, path);
	assert_true(channel_sec_tls(&cs.sec));
	/* The key file is checked when the options are. */
	write_file(path, KEY32 "\n", 0644);
	assert_int_equal(channel_spec_parse(arg, &cs, err, sizeof(err)), -EINVAL);
	/* PSK and insecure; PSK and creds; a hostname without creds. */
	write_file(path, KEY32 "\n", 0600);
	snprintf(arg, sizeof(arg), "tcp::4444,tls_psk=%s,insecure=on", path);
	assert_int_equal(channel_spec_parse(arg, &cs, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "insecure=on"));
	snprintf(arg, sizeof(arg), "tcp::4444,tls_psk=%s,tls_creds=%s", path, dir);
	assert_int_equal(channel_spec_parse(arg, &cs, err, sizeof(err)), -EINVAL);
	snprintf(arg, sizeof(arg), "tcp::4444,tls_psk=%s,tls_hostname=dst", path);
	assert_int_equal(channel_spec_parse(arg, &cs, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "tls_creds"));
}

static void test_spec_creds(void **state)
{
	struct channel_spec cs;
	char arg[256], path[128];

	snprintf(arg, sizeof(arg), "tcp:10.0.0.1:4444,tls_creds=%s,tls_hostname=dst", dir);
	/* No files yet. */
	assert_true(channel_spec_parse(arg, &cs, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, CHANNEL_CA_FILE));
	path_in(path, sizeof(path), CHANNEL_CA_FILE);
	write_file(path, "ca", 0644);
	path_in(path, sizeof(path), CHANNEL_CERT_FILE);
	write_file(path, "cert", 0644);
	path_in(path, sizeof(path), CHANNEL_KEY_FILE);
	write_file(path, "key", 0644);
	assert_int_equal(channel_spec_parse(arg, &cs, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, CHANNEL_KEY_FILE));
	write_file(path, "key", 0600);
	assert_int_equal(channel_spec_parse(arg, &cs, err, sizeof(err)), 0);
	assert_string_equal(cs.sec.tls_creds, dir);
	assert_string_equal(cs.sec.tls_hostname, "dst");
}

static void test_spec_bad_options(void **state)
{
	struct channel_spec cs;

	assert_int_equal(channel_spec_parse("tcp::1,tls_pks=x", &cs, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown"));
	assert_int_equal(channel_spec_parse("tcp::1,insecure", &cs, err, sizeof(err)), -EINVAL);
	assert_int_equal(channel_spec_parse("tcp::1,insecure=yes", &cs, err, sizeof(err)), -EINVAL);
	assert_int_equal(channel_spec_parse("tcp::1,tls_psk=", &cs, err, sizeof(err)), -EINVAL);
	assert_int_equal(channel_spec_parse(",insecure=on", &cs, err, sizeof(err)), -EINVAL);
	assert_int_equal(channel_spec_parse("udp:1:2,insecure=on", &cs, err, sizeof(err)), -EINVAL);
}

static void test_spec_unix_stays_plain(void **state)
{
	struct channel_spec cs;

	assert_int_equal(channel_spec_parse("unix:/tmp/m.sock", &cs, err, sizeof(err)), 0);
	assert_string_equal(cs.uri, "unix:/tmp/m.sock");
	assert_int_equal(channel_spec_parse("unix:/tmp/m.sock,insecure=on", &cs, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "tcp: only"));
	assert_int_equal(channel_spec_parse("unix:/tmp/m.sock,tls_psk=/x", &cs, err, sizeof(err)),
			 -EINVAL);
}

/* ---- the session token ---- */

static void test_token(void **state)
{
	uint8_t a[CHANNEL_TOKEN_LEN], b[CHANNEL_TOKEN_LEN];

	assert_int_equal(channel_token_new(a), 0);
	memcpy(b, a, sizeof(b));
	assert_true(channel_token_equal(a, b));
	b[0] ^= 1;
	assert_false(channel_token_equal(a, b));
	b[0] ^= 1;
	b[CHANNEL_TOKEN_LEN - 1] ^= 0x80;
	assert_false(channel_token_equal(a, b));
	/* Fresh tokens differ (a collision of 256 random bits would be a bug). */
	assert_int_equal(channel_token_new(b), 0);
	assert_false(channel_token_equal(a, b));
}

/* ---- TLS handshakes over loopback TCP ---- */

struct side {
	int fd;
	struct channel_sec sec;
	bool server;
	struct tls_keys keys;
	int ret;
	char err[512];
};

/* As on tern's confined threads, a handshake thread may open no file: the
 * filter traps an open (tern's kills the process), and the test fails. */
static volatile sig_atomic_t opened_files;

static void on_sigsys(int sig)
{
	opened_files++;
}

static void forbid_opening_files(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

	assert_non_null(ctx);
	assert_int_equal(seccomp_rule_add(ctx, SCMP_ACT_TRAP, SCMP_SYS(openat), 0), 0);
	assert_int_equal(seccomp_rule_add(ctx, SCMP_ACT_TRAP, SCMP_SYS(open), 0), 0);
	assert_int_equal(seccomp_load(ctx), 0);
	seccomp_release(ctx);
}

static void *run_side(void *arg)
{
	struct side *s = arg;

	forbid_opening_files();
	s->ret = tls_handshake(s->fd, &s->sec, s->server, 5, &s->keys, s->err, sizeof(s->err));
	return NULL;
}

static void tcp_pair(int *client, int *server)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(*client, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*server = accept(l, NULL, NULL);
	assert_true(*server >= 0);
	close(l);
}

static void psk_sides(struct side *c, struct side *s, const char *ckey, const char *skey)
{
	char cpath[128], spath[128];

	memset(c, 0, sizeof(*c));
	memset(s, 0, sizeof(*s));
	path_in(cpath, sizeof(cpath), "psk-client");
	path_in(spath, sizeof(spath), "psk-server");
	write_file(cpath, ckey, 0600);
	write_file(spath, skey, 0600);
	snprintf(c->sec.tls_psk, sizeof(c->sec.tls_psk), "%s", cpath);
	snprintf(s->sec.tls_psk, sizeof(s->sec.tls_psk), "%s", spath);
	s->server = true;
	/* Read once, as tern does at start; the handshakes open no file. */
	assert_int_equal(tls_creds_load(&c->sec, false, c->err, sizeof(c->err)), 0);
	assert_int_equal(tls_creds_load(&s->sec, true, s->err, sizeof(s->err)), 0);
	tcp_pair(&c->fd, &s->fd);
}

static void sides_free(struct side *c, struct side *s)
{
	tls_creds_free(&c->sec);
	tls_creds_free(&s->sec);
	assert_null(c->sec.creds);
}

/* One side's handshake on a thread of its own (its filter stays there). */
static void run_confined(struct side *s)
{
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, run_side, s), 0);
	pthread_join(t, NULL);
	assert_int_equal(opened_files, 0);
}

static void handshake_both(struct side *c, struct side *s)
{
	pthread_t t;

	pthread_t tc;

	assert_int_equal(pthread_create(&t, NULL, run_side, s), 0);
	assert_int_equal(pthread_create(&tc, NULL, run_side, c), 0);
	pthread_join(t, NULL);
	pthread_join(tc, NULL);
	assert_int_equal(opened_files, 0);
	close(c->fd);
	close(s->fd);
}

static void test_tls_psk_agrees(void **state)
{
	struct side c, s;

	psk_sides(&c, &s, KEY32 "\n", KEY32 "\n");
	handshake_both(&c, &s);
	assert_int_equal(c.ret, 0);
	assert_int_equal(s.ret, 0);
	/* Each side's sending key is the other's receiving key, and the two
	 * directions differ. */
	assert_memory_equal(c.keys.tx_key, s.keys.rx_key, sizeof(c.keys.tx_key));
	assert_memory_equal(c.keys.tx_iv, s.keys.rx_iv, sizeof(c.keys.tx_iv));
	assert_memory_equal(s.keys.tx_key, c.keys.rx_key, sizeof(s.keys.tx_key));
	assert_memory_not_equal(c.keys.tx_key, c.keys.rx_key, sizeof(c.keys.tx_key));
	sides_free(&c, &s);
}

static void test_tls_wrong_psk_refused(void **state)
{
	struct side c, s;

	psk_sides(&c, &s, KEY32 "\n", KEY32B "\n");
	handshake_both(&c, &s);
	assert_int_equal(s.ret, -EACCES);
	assert_non_null(strstr(s.err, "wrong pre-shared key"));
	assert_true(c.ret < 0);
	assert_non_null(strstr(c.err, "wrong pre-shared key"));
	sides_free(&c, &s);
}

static void test_tls_plain_client_refused(void **state)
{
	struct side c, s;
	const char hello[] = "TERN plain stream header";

	psk_sides(&c, &s, KEY32 "\n", KEY32 "\n");
	assert_int_equal(write(c.fd, hello, sizeof(hello)), (ssize_t)sizeof(hello));
	run_confined(&s);
	assert_int_equal(s.ret, -EPROTO);
	assert_non_null(strstr(s.err, "plain text"));
	close(c.fd);
	close(s.fd);
	sides_free(&c, &s);
}

static void test_tls_silent_client_times_out(void **state)
{
	struct side c, s;

	psk_sides(&c, &s, KEY32 "\n", KEY32 "\n");
	s.ret = tls_handshake(s.fd, &s.sec, true, 1, &s.keys, s.err, sizeof(s.err));
	assert_int_equal(s.ret, -ETIMEDOUT);
	close(c.fd);
	close(s.fd);
	sides_free(&c, &s);
}

static void test_tls_plain_server_refused(void **state)
{
	struct side c, s;
	const char reply[] = "refuse not a tern stream\n";

	psk_sides(&c, &s, KEY32 "\n", KEY32 "\n");
	/* A plain destination answers the ClientHello with a line. */
	assert_int_equal(write(s.fd, reply, sizeof(reply) - 1), (ssize_t)sizeof(reply) - 1);
	run_confined(&c);
	assert_true(c.ret < 0);
	assert_non_null(strstr(c.err, "does not speak TLS"));
	close(c.fd);
	close(s.fd);
	sides_free(&c, &s);
}

/* ---- X.509, from a CA made here with the openssl tool ---- */

static bool have_certs;

/* ca.pem + NAME/{ca,cert,key}.pem for src, dst (one CA) and rogue (another
 * CA, name dst), as tests/lab/run makes them. */
static void make_certs(void)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "mkdir %s/x509 && cd %s/x509 && umask 077 && "
		 "for ca in ca rogue-ca; do openssl req -x509 -new -newkey ec "
		 "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $ca.key -out $ca.pem -days 2 "
		 "-subj \"/CN=test $ca\" || exit 1; done && "
		 "for n in src dst rogue; do mkdir -p $n; ca=ca; cn=$n; "
		 "[ $n = rogue ] && ca=rogue-ca && cn=dst; "
		 "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-keyout $n/key.pem -out $n.csr -subj /CN=$cn || exit 1; "
		 "printf 'subjectAltName=DNS:%%s\\nextendedKeyUsage=serverAuth,clientAuth\\n' $cn >$n.ext; "
		 "openssl x509 -req -in $n.csr -CA $ca.pem -CAkey $ca.key -CAcreateserial -days 2 "
		 "-extfile $n.ext -out $n/cert.pem || exit 1; cp $ca.pem $n/ca.pem; done "
		 ">/dev/null 2>&1", dir, dir);
	have_certs = system(cmd) == 0;
}

static void x509_sides(struct side *c, struct side *s, const char *cdir, const char *chost,
		       const char *shost)
{
	memset(c, 0, sizeof(*c));
	memset(s, 0, sizeof(*s));
	snprintf(c->sec.tls_creds, sizeof(c->sec.tls_creds), "%s/x509/%s", dir, cdir);
	snprintf(c->sec.tls_hostname, sizeof(c->sec.tls_hostname), "%s", chost);
	snprintf(s->sec.tls_creds, sizeof(s->sec.tls_creds), "%s/x509/dst", dir);
	snprintf(s->sec.tls_hostname, sizeof(s->sec.tls_hostname), "%s", shost);
	s->server = true;
	assert_int_equal(tls_creds_load(&c->sec, false, c->err, sizeof(c->err)), 0);
	assert_int_equal(tls_creds_load(&s->sec, true, s->err, sizeof(s->err)), 0);
	tcp_pair(&c->fd, &s->fd);
}

static void test_tls_x509_agrees(void **state)
{
	struct side c, s;

	if (!have_certs)
		skip();
	x509_sides(&c, &s, "src", "dst", "src");
	handshake_both(&c, &s);
	assert_int_equal(c.ret, 0);
	assert_int_equal(s.ret, 0);
	assert_memory_equal(c.keys.tx_key, s.keys.rx_key, sizeof(c.keys.tx_key));
	assert_memory_equal(s.keys.tx_key, c.keys.rx_key, sizeof(s.keys.tx_key));
	sides_free(&c, &s);
}

static void test_tls_x509_other_ca_refused(void **state)
{
	struct side c, s;

	if (!have_certs)
		skip();
	x509_sides(&c, &s, "rogue", "dst", "");
	handshake_both(&c, &s);
	assert_true(c.ret < 0);
	assert_true(s.ret < 0);
	assert_non_null(strstr(c.err, "certificate is refused"));
	sides_free(&c, &s);
}

static void test_tls_x509_wrong_name_refused(void **state)
{
	struct side c, s;

	if (!have_certs)
		skip();
	x509_sides(&c, &s, "src", "elsewhere", "src");
	handshake_both(&c, &s);
	assert_true(c.ret < 0);
	assert_true(s.ret < 0);
	assert_non_null(strstr(c.err, "certificate is refused"));
	sides_free(&c, &s);
}

static void test_tls_unloaded_keys_refused(void **state)
{
	struct side c, s;

	psk_sides(&c, &s, KEY32 "\n", KEY32 "\n");
	tls_creds_free(&s.sec);
	/* A TLS record's first byte, so that the server gets as far as its keys. */
	assert_int_equal(write(c.fd, "\x16", 1), 1);
	s.ret = tls_handshake(s.fd, &s.sec, true, 1, &s.keys, s.err, sizeof(s.err));
	assert_int_equal(s.ret, -EINVAL);
	assert_non_null(strstr(s.err, "not loaded"));
	close(c.fd);
	close(s.fd);
	sides_free(&c, &s);
}

static int setup(void **state)
{
	if (!mkdtemp(dir) || signal(SIGSYS, on_sigsys) == SIG_ERR)
		return -1;
	make_certs();
	if (!have_certs)
		fprintf(stderr, "no openssl tool: the X.509 handshakes are skipped "
			"(scripts/setup installs it)\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_psk_parse_32_bytes),
		cmocka_unit_test(test_psk_parse_64_bytes),
		cmocka_unit_test(test_psk_parse_refuses),
		cmocka_unit_test(test_psk_load),
		cmocka_unit_test(test_spec_tcp_needs_a_choice),
		cmocka_unit_test(test_spec_psk),
		cmocka_unit_test(test_spec_creds),
		cmocka_unit_test(test_spec_bad_options),
		cmocka_unit_test(test_spec_unix_stays_plain),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_tls_psk_agrees),
		cmocka_unit_test(test_tls_wrong_psk_refused),
		cmocka_unit_test(test_tls_plain_client_refused),
		cmocka_unit_test(test_tls_silent_client_times_out),
		cmocka_unit_test(test_tls_plain_server_refused),
		cmocka_unit_test(test_tls_unloaded_keys_refused),
		cmocka_unit_test(test_tls_x509_agrees),
		cmocka_unit_test(test_tls_x509_other_ca_refused),
		cmocka_unit_test(test_tls_x509_wrong_name_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
