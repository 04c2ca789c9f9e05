/*
 * The host's side of the agent protocol (lib/agent/) against a hostile
 * guest: a fake agent on the other end of a socketpair sends scripted bytes,
 * well-formed or not. Every malformed, oversized, out-of-order or truncated
 * reply must end the request with a clear error, never a crash, a hang or an
 * allocation the guest chose.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/channel.h"
#include "agent/exec.h"
#include "agent/files.h"
#include "agent/ready.h"
#include "agent/sync.h"
#include "util/clock.h"
#include "util/error.h"

/* What the fake agent sends, all at once after connecting, before it reads anything. */
struct fake_agent {
	uint8_t script[256 * 1024];
	size_t len;
	bool keep_open; /* after the script, read until the host closes; else close at once */
	size_t read_first; /* bytes to read from the host (kept in received) before the script */
	int fd;
	pthread_t thread;
	/* With keep_open: the start of what the host sent, for tests to check. */
	uint8_t received[4096];
	size_t received_len;
};

static void *fake_agent_main(void *arg)
{
	struct fake_agent *a = arg;
	size_t sent = 0;
	uint8_t sink[4096];
	ssize_t n;

	while (a->received_len < a->read_first &&
	       (n = read(a->fd, a->received + a->received_len, a->read_first - a->received_len)) > 0)
		a->received_len += (size_t)n;
	while (sent < a->len) {
		n = write(a->fd, a->script + sent, a->len - sent);
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	/* Drain what the host sends, so it never blocks on a full socket; keep its start. */
	while (a->keep_open && (n = read(a->fd, sink, sizeof(sink))) > 0) {
		size_t room = sizeof(a->received) - a->received_len;
		size_t keep = (size_t)n < room ? (size_t)n : room;

		memcpy(a->received + a->received_len, sink, keep);
		a->received_len += keep;
	}
	close(a->fd);
	return NULL;
}

static struct agent_writer script_writer(struct fake_agent *a)
{
	struct agent_writer w;

	agent_writer_init(&w, a->script + a->len, sizeof(a->script) - a->len);
	return w;
}

static void script_commit(struct fake_agent *a, struct agent_writer *w)
{
	assert_int_equal(w->err, 0);
	a->len += w->len;
}

static void script_hello(struct fake_agent *a, uint32_t version)
{
	struct agent_writer w = script_writer(a);

	agent_guest_hello_encode(&w, version, "fake-agent 1");
	script_commit(a, &w);
}

static void script_frame(struct fake_agent *a, uint16_t type, const void *payload, size_t len)
{
	struct agent_writer w = script_writer(a);

	agent_frame_encode(&w, type, payload, len);
	script_commit(a, &w);
}

/* Raw header bytes, for frames the encoder refuses to write. */
static void script_header(struct fake_agent *a, uint32_t len, uint16_t type, uint16_t flags)
{
	uint8_t *p = a->script + a->len;

	p[0] = (uint8_t)len, p[1] = (uint8_t)(len >> 8), p[2] = (uint8_t)(len >> 16);
	p[3] = (uint8_t)(len >> 24), p[4] = (uint8_t)type, p[5] = (uint8_t)(type >> 8);
	p[6] = (uint8_t)flags, p[7] = (uint8_t)(flags >> 8);
	a->len += AGENT_HEADER_SIZE;
}

static void script_started(struct fake_agent *a)
{
	struct agent_writer w = script_writer(a);

	agent_started_encode(&w, 7);
	script_commit(a, &w);
}

static void script_exited(struct fake_agent *a, uint32_t how, uint32_t code)
{
	struct agent_exited e = { .how = how, .code = code, .wall_us = 5, .maxrss_kib = 9 };
	struct agent_writer w = script_writer(a);

	agent_exited_encode(&w, &e);
	script_commit(a, &w);
}

static void script_error(struct fake_agent *a, uint16_t type, uint32_t err, const char *msg)
{
	struct agent_writer w = script_writer(a);

	if (type == AGENT_G2H_ERROR)
		agent_error_encode(&w, err, msg);
	else
		agent_exec_failed_encode(&w, err, msg);
	script_commit(a, &w);
}

/* Start the fake agent and attach a channel to it. */
static int connect_fake(struct fake_agent *a, struct agent_channel *ch)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	a->fd = sv[1];
	assert_int_equal(pthread_create(&a->thread, NULL, fake_agent_main, a), 0);
	/* No VM to stop here: poll() ignores the negative stop descriptor. */
	return agent_channel_attach(sv[0], -1, ch);
}

static int run_exec(struct fake_agent *a, struct agent_exec_outcome *o, size_t capture_limit)
{
	static const char *const argv[] = { "cmd", NULL }, *const envp[] = { NULL };
	struct agent_exec_request req = { .argv = argv, .envp = envp, .stdin_fd = -1, .cancel_fd = -1,
					  .capture_limit = capture_limit, .timeout_ms = 5000 };
	struct agent_channel ch;
	int err = connect_fake(a, &ch);

	if (!err) {
		err = agent_exec_on(&ch, &req, o);
		agent_channel_close(&ch);
	}
	pthread_join(a->thread, NULL);
	return err;
}

static struct fake_agent *new_agent(void)
{
	struct fake_agent *a = calloc(1, sizeof(*a));

	script_hello(a, AGENT_PROTOCOL_VERSION);
	return a;
}

static void exec_happy_path(void **state)
{
	struct fake_agent *a = new_agent();
	struct agent_exec_outcome o;

	(void)state;
	script_started(a);
	script_frame(a, AGENT_G2H_STDOUT, "hi", 2);
	script_frame(a, AGENT_G2H_STDERR, "e", 1);
	script_exited(a, AGENT_EXITED_CODE, 3);
	assert_int_equal(run_exec(a, &o, 100), 0);
	assert_true(o.started && o.exited && !o.signaled);
	assert_int_equal(o.code, 3);
	assert_int_equal(o.pid, 7);
	assert_string_equal((char *)o.out.data, "hi");
	assert_string_equal((char *)o.err.data, "e");
	assert_int_equal(o.maxrss_kib, 9);
	agent_exec_outcome_release(&o);
	free(a);
}

/* One hostile reply after the handshake, and the error it must give. */
struct hostile_case {
	const char *name;
	void (*script)(struct fake_agent *a);
	int expected;
	const char *message_part;
};

static void output_before_started(struct fake_agent *a)
{
	script_frame(a, AGENT_G2H_STDOUT, "x", 1);
}

static void oversized_frame(struct fake_agent *a)
{
	script_started(a);
	script_header(a, 0xfffffff0u, AGENT_G2H_STDOUT, 0);
}

static void unknown_type(struct fake_agent *a)
{
	script_header(a, 0, 200, 0);
}

static void nonzero_flags(struct fake_agent *a)
{
	script_header(a, 0, AGENT_G2H_PONG, 1);
}

static void wrong_direction(struct fake_agent *a)
{
	script_started(a);
	script_frame(a, AGENT_H2G_STDIN, "x", 1);
}

static void truncated_frame(struct fake_agent *a)
{
	script_started(a);
	script_header(a, 10, AGENT_G2H_STDOUT, 0);
	memcpy(a->script + a->len, "abc", 3);
	a->len += 3;
}

static void gone_before_exit(struct fake_agent *a)
{
	script_started(a);
	script_frame(a, AGENT_G2H_STDOUT, "x", 1);
}

static void second_started(struct fake_agent *a)
{
	script_started(a);
	script_started(a);
}

static void exited_with_signal_zero(struct fake_agent *a)
{
	script_started(a);
	script_header(a, 40, AGENT_G2H_EXITED, 0);
	memset(a->script + a->len, 0, 40);
	a->script[a->len] = AGENT_EXITED_SIGNAL;
	a->len += 40;
}

static void guest_error(struct fake_agent *a)
{
	script_error(a, AGENT_G2H_ERROR, ENOTDIR, "chdir '/etc/passwd': Not a directory");
}

static void error_with_nul(struct fake_agent *a)
{
	script_header(a, 4 + 4 + 3, AGENT_G2H_ERROR, 0);
	memcpy(a->script + a->len, "\x05\0\0\0\x03\0\0\0a\0b", 11);
	a->len += 11;
}

static void exec_failed_after_start(struct fake_agent *a)
{
	script_started(a);
	script_error(a, AGENT_G2H_EXEC_FAILED, ENOENT, "late");
}

static const struct hostile_case hostile_execs[] = {
	{ "output before STARTED", output_before_started, -EPROTO, "before the command started" },
	{ "oversized frame", oversized_frame, -EPROTO, "bad frame header" },
	{ "unknown type", unknown_type, -EPROTO, "bad frame header" },
	{ "nonzero flags", nonzero_flags, -EPROTO, "bad frame header" },
	{ "host-to-guest type", wrong_direction, -EPROTO, "STDIN" },
	{ "truncated frame", truncated_frame, -EPROTO, "inside a frame" },
	{ "closed before EXITED", gone_before_exit, -EPIPE, "before the command ended" },
	{ "second STARTED", second_started, -EPROTO, "STARTED" },
	{ "EXITED by signal 0", exited_with_signal_zero, -EPROTO, "EXITED" },
	{ "ERROR from the guest", guest_error, -ENOTDIR, "chdir '/etc/passwd'" },
	{ "ERROR with a NUL", error_with_nul, -EPROTO, "malformed ERROR" },
	{ "EXEC_FAILED after STARTED", exec_failed_after_start, -EPROTO, "EXEC_FAILED" },
};

static void exec_hostile_replies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hostile_execs) / sizeof(hostile_execs[0]); i++) {
		const struct hostile_case *c = &hostile_execs[i];
		struct fake_agent *a = new_agent();
		struct agent_exec_outcome o;
		int err;

		c->script(a);
		err = run_exec(a, &o, 100);
		agent_exec_outcome_release(&o);
		if (err != c->expected || !strstr(error_get(), c->message_part))
			fail_msg("%s: got %d '%s', expected %d with '%s'", c->name, err, error_get(),
				 c->expected, c->message_part);
		free(a);
	}
}

static void exec_failed_is_an_outcome(void **state)
{
	struct fake_agent *a = new_agent();
	struct agent_exec_outcome o;

	(void)state;
	script_error(a, AGENT_G2H_EXEC_FAILED, ENOENT, "execve 'cmd': No such file");
	assert_int_equal(run_exec(a, &o, 100), 0);
	assert_false(o.started);
	assert_int_equal(o.exec_errno, ENOENT);
	agent_exec_outcome_release(&o);
	free(a);
}

static void capture_is_bounded(void **state)
{
	struct fake_agent *a = new_agent();
	struct agent_exec_outcome o;
	static uint8_t chunk[AGENT_DATA_CHUNK];

	(void)state;
	memset(chunk, 'z', sizeof(chunk));
	script_started(a);
	for (int i = 0; i < 3; i++)
		script_frame(a, AGENT_G2H_STDOUT, chunk, sizeof(chunk));
	script_exited(a, AGENT_EXITED_CODE, 0);
	assert_int_equal(run_exec(a, &o, 1000), 0);
	assert_int_equal(o.out.len, 1000);
	assert_true(o.out.truncated);
	assert_true(o.out.cap <= 4096);
	agent_exec_outcome_release(&o);
	free(a);
}

/* A PING through the library's own (agent_ping_on): the handshake's outcome, which the first receive checks. */
static int ping_fake(struct fake_agent *a, int timeout_ms)
{
	struct agent_channel ch;
	int err = connect_fake(a, &ch);

	assert_int_equal(err, 0);
	err = agent_ping_on(&ch, deadline_after_ms(timeout_ms));
	agent_channel_close(&ch);
	pthread_join(a->thread, NULL);
	free(a);
	return err;
}

static void handshake_refusals(void **state)
{
	struct fake_agent *a;

	(void)state;
	a = calloc(1, sizeof(*a));
	script_hello(a, 2);
	assert_int_equal(ping_fake(a, 5000), -EPROTONOSUPPORT);
	assert_non_null(strstr(error_get(), "fake-agent 1"));

	a = calloc(1, sizeof(*a));
	script_error(a, AGENT_G2H_ERROR, EPROTONOSUPPORT, "v1 only");
	assert_int_equal(ping_fake(a, 5000), -EPROTONOSUPPORT);
	assert_non_null(strstr(error_get(), "v1 only"));

	a = calloc(1, sizeof(*a));
	script_started(a);
	assert_int_equal(ping_fake(a, 5000), -EPROTO);

	/* A HELLO, then the stream ends: no answer to the request. */
	a = calloc(1, sizeof(*a));
	script_hello(a, AGENT_PROTOCOL_VERSION);
	assert_int_equal(ping_fake(a, 5000), -EPIPE);

	/* Silence: the request's deadline ends the wait. */
	a = calloc(1, sizeof(*a));
	a->keep_open = true;
	assert_int_equal(ping_fake(a, 100), -ETIMEDOUT);
}

/*
 * Our HELLO and the request leave together: this agent reads both before it
 * says anything, so a host that waited for the guest's HELLO first would
 * never get an answer. The HELLO itself is consumed by the receive.
 */
static void hello_leaves_with_the_request(void **state)
{
	struct fake_agent *a = new_agent();
	struct agent_channel ch;

	(void)state;
	a->read_first = AGENT_HEADER_SIZE + 4 + AGENT_HEADER_SIZE;
	script_frame(a, AGENT_G2H_PONG, NULL, 0);
	assert_int_equal(connect_fake(a, &ch), 0);
	/* 0 only when the answer is a PONG (agent_ping_on checks). */
	assert_int_equal(agent_ping_on(&ch, deadline_after_ms(5000)), 0);
	assert_int_equal(ch.version, AGENT_PROTOCOL_VERSION);
	agent_channel_close(&ch);
	pthread_join(a->thread, NULL);
	assert_int_equal(a->received_len, a->read_first);
	assert_int_equal(a->received[4], AGENT_H2G_HELLO);
	assert_int_equal(a->received[AGENT_HEADER_SIZE + 4 + 4], AGENT_H2G_PING);
	free(a);
}

static int run_read(struct fake_agent *a, size_t max, uint8_t **data, size_t *len)
{
	struct agent_channel ch;
	int err = connect_fake(a, &ch);

	if (!err) {
		err = agent_file_read_on(&ch, "/f", max, data, len);
		agent_channel_close(&ch);
	}
	pthread_join(a->thread, NULL);
	return err;
}

static void script_file_info(struct fake_agent *a, uint64_t size)
{
	struct agent_writer w = script_writer(a);

	agent_file_info_encode(&w, size);
	script_commit(a, &w);
}

static void file_read_checks_sizes(void **state)
{
	uint8_t *data = (uint8_t *)0x1;
	size_t len = 99;
	struct fake_agent *a;

	(void)state;
	a = new_agent();
	script_file_info(a, 5);
	script_frame(a, AGENT_G2H_FILE_DATA, "hel", 3);
	script_frame(a, AGENT_G2H_FILE_DATA, "lo", 2);
	script_frame(a, AGENT_G2H_FILE_END, NULL, 0);
	assert_int_equal(run_read(a, 5, &data, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal((char *)data, "hello");
	free(data);
	free(a);

	/* More than the caller allows: refused before allocating what the guest announced. */
	data = (uint8_t *)0x1;
	a = new_agent();
	script_file_info(a, UINT64_MAX);
	assert_int_equal(run_read(a, 1 << 20, &data, &len), -EPROTO);
	assert_ptr_equal(data, (uint8_t *)0x1);
	free(a);

	a = new_agent();
	script_file_info(a, 2);
	script_frame(a, AGENT_G2H_FILE_DATA, "abc", 3);
	assert_int_equal(run_read(a, 10, &data, &len), -EPROTO);
	free(a);

	a = new_agent();
	script_file_info(a, 4);
	script_frame(a, AGENT_G2H_FILE_DATA, "ab", 2);
	script_frame(a, AGENT_G2H_FILE_END, NULL, 0);
	assert_int_equal(run_read(a, 10, &data, &len), -EPROTO);
	free(a);

	a = new_agent();
	script_error(a, AGENT_G2H_ERROR, EFBIG, "'/f' is 11 bytes, over 10");
	len = 99;
	assert_int_equal(run_read(a, 10, &data, &len), -EFBIG);
	assert_int_equal(len, 99);
	free(a);
}

static void file_write_reports_guest_errors(void **state)
{
	static uint8_t big[512 * 1024];
	struct agent_channel ch;
	struct fake_agent *a;

	(void)state;
	a = new_agent();
	script_error(a, AGENT_G2H_ERROR, ENOSPC, "write '/f': No space left on device");
	assert_int_equal(connect_fake(a, &ch), 0);
	assert_int_equal(agent_file_write_on(&ch, "/f", big, sizeof(big), 0644), -ENOSPC);
	assert_non_null(strstr(error_get(), "No space left"));
	agent_channel_close(&ch);
	pthread_join(a->thread, NULL);
	free(a);

	/* OK, then gone: half a megabyte cannot all have reached it. */
	a = new_agent();
	script_frame(a, AGENT_G2H_OK, NULL, 0);
	assert_int_equal(connect_fake(a, &ch), 0);
	assert_int_equal(agent_file_write_on(&ch, "/f", big, sizeof(big), 0644), -EPROTO);
	agent_channel_close(&ch);
	pthread_join(a->thread, NULL);
	free(a);
}

/*
 * A guest's OK may be waiting already when the host's last bytes leave (the
 * host thread was preempted after its flush, say): the upload was complete
 * then, and so it is a success. The fake agent answers up front, which
 * makes that moment certain.
 */
static void file_write_answered_as_it_completes(void **state)
{
	struct agent_channel ch;
	struct fake_agent *a;
	struct pollfd p;

	(void)state;
	a = new_agent();
	a->keep_open = true;
	script_frame(a, AGENT_G2H_OK, NULL, 0);
	assert_int_equal(connect_fake(a, &ch), 0);
	p = (struct pollfd){ .fd = ch.fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(agent_file_write_on(&ch, "/f", "kept\n", 5, 0644), 0);
	agent_channel_close(&ch);
	pthread_join(a->thread, NULL);
	free(a);
}

/* The payload of the first frame of this type the host sent, its header checked. */
static const uint8_t *received_frame(const struct fake_agent *a, uint16_t type, uint32_t *len)
{
	size_t off = 0;

	*len = 0; /* cmocka's fail_msg() ends the test, but the compiler cannot tell */
	while (off + AGENT_HEADER_SIZE <= a->received_len) {
		struct agent_frame_header h;

		assert_int_equal(agent_frame_header_parse(a->received + off, &h), 0);
		assert_true(off + AGENT_HEADER_SIZE + h.len <= a->received_len);
		if (h.type == type) {
			*len = h.len;
			return a->received + off + AGENT_HEADER_SIZE;
		}
		off += AGENT_HEADER_SIZE + h.len;
	}
	fail_msg("the host sent no %s", agent_type_name(type));
	return NULL;
}

static const uint8_t test_seed[AGENT_SYNC_SEED_SIZE] = {
	0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 0xff,
};
#define TEST_REALTIME_NS 1767225600123456789ull

static int run_sync(struct fake_agent *a, int64_t deadline)
{
	struct agent_channel ch;
	int err = connect_fake(a, &ch);

	if (!err) {
		err = agent_sync_on(&ch, deadline, TEST_REALTIME_NS, test_seed);
		agent_channel_close(&ch);
	}
	pthread_join(a->thread, NULL);
	return err;
}

static void sync_sends_time_and_seed(void **state)
{
	struct fake_agent *a = new_agent();
	struct agent_sync s;
	const uint8_t *p;
	uint32_t len;

	(void)state;
	a->keep_open = true;
	script_frame(a, AGENT_G2H_OK, NULL, 0);
	assert_int_equal(run_sync(a, deadline_after_ms(5000)), 0);
	p = received_frame(a, AGENT_H2G_SYNC, &len);
	assert_int_equal(agent_sync_decode(p, len, &s), 0);
	assert_true(s.realtime_ns == TEST_REALTIME_NS);
	assert_memory_equal(s.seed, test_seed, AGENT_SYNC_SEED_SIZE);
	free(a);
}

static void sync_guest_refused(struct fake_agent *a)
{
	script_error(a, AGENT_G2H_ERROR, EPERM, "RNDRESEEDCRNG: Operation not permitted");
}

static void sync_pong(struct fake_agent *a)
{
	script_frame(a, AGENT_G2H_PONG, NULL, 0);
}

static void sync_echoed(struct fake_agent *a)
{
	static const uint8_t payload[8 + AGENT_SYNC_SEED_SIZE];

	script_frame(a, AGENT_H2G_SYNC, payload, sizeof(payload));
}

static void sync_ok_with_payload(struct fake_agent *a)
{
	script_header(a, 1, AGENT_G2H_OK, 0);
	a->script[a->len++] = 0;
}

static void sync_oversized(struct fake_agent *a)
{
	script_header(a, 0xfffffff0u, AGENT_G2H_ERROR, 0);
}

static void sync_truncated(struct fake_agent *a)
{
	script_header(a, 12, AGENT_G2H_ERROR, 0);
	memcpy(a->script + a->len, "\x01\0\0", 3);
	a->len += 3;
}

static void sync_hang_up(struct fake_agent *a)
{
	(void)a;
}

static void sync_ok_then_garbage(struct fake_agent *a)
{
	/* The OK answers; what follows is never read. */
	script_frame(a, AGENT_G2H_OK, NULL, 0);
	script_header(a, 0, 200, 0);
}

static const struct hostile_case hostile_syncs[] = {
	{ "ERROR from the guest", sync_guest_refused, -EPERM,
	  "sync failed in the guest: RNDRESEEDCRNG: Operation not permitted" },
	{ "PONG for SYNC", sync_pong, -EPROTO, "PONG" },
	{ "host-to-guest type", sync_echoed, -EPROTO, "SYNC" },
	{ "OK with a payload", sync_ok_with_payload, -EPROTO, "bad frame header" },
	{ "unknown type", unknown_type, -EPROTO, "bad frame header" },
	{ "oversized frame", sync_oversized, -EPROTO, "bad frame header" },
	{ "truncated frame", sync_truncated, -EPROTO, "inside a frame" },
	{ "ERROR with a NUL", error_with_nul, -EPROTO, "malformed ERROR" },
	{ "closed without an answer", sync_hang_up, -EPIPE, "closed the connection" },
	{ "OK, then garbage", sync_ok_then_garbage, 0, "" },
};

static void sync_hostile_replies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hostile_syncs) / sizeof(hostile_syncs[0]); i++) {
		const struct hostile_case *c = &hostile_syncs[i];
		struct fake_agent *a = new_agent();
		int err;

		c->script(a);
		err = run_sync(a, deadline_after_ms(5000));
		if (err != c->expected || (err && !strstr(error_get(), c->message_part)))
			fail_msg("%s: got %d '%s', expected %d with '%s'", c->name, err, error_get(),
				 c->expected, c->message_part);
		free(a);
	}
}

/* An agent that never answers: the caller's deadline ends the wait. */
static void sync_deadline(void **state)
{
	struct fake_agent *a = new_agent();

	(void)state;
	a->keep_open = true;
	assert_int_equal(run_sync(a, deadline_after_ms(100)), -ETIMEDOUT);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exec_happy_path),
		cmocka_unit_test(exec_hostile_replies),
		cmocka_unit_test(exec_failed_is_an_outcome),
		cmocka_unit_test(capture_is_bounded),
		cmocka_unit_test(handshake_refusals),
		cmocka_unit_test(hello_leaves_with_the_request),
		cmocka_unit_test(file_read_checks_sizes),
		cmocka_unit_test(file_write_reports_guest_errors),
		cmocka_unit_test(file_write_answered_as_it_completes),
		cmocka_unit_test(sync_sends_time_and_seed),
		cmocka_unit_test(sync_hostile_replies),
		cmocka_unit_test(sync_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
