/*
 * The agent wire format as a hostile peer may send it: every message round
 * trips, and headers, truncations, trailing bytes, embedded NULs and
 * out-of-range counts are refused without reading past the payload. Payloads
 * under test are copied into exact-size heap buffers so that an overread is
 * an AddressSanitizer report, not a lucky pass.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/protocol.h"

/* Room for the largest frame plus slack to prove the writer's own limit. */
static uint8_t buf[AGENT_HEADER_SIZE + AGENT_MAX_PAYLOAD + 64];

static struct agent_writer writer(void)
{
	struct agent_writer w;

	agent_writer_init(&w, buf, sizeof(buf));
	return w;
}

/* The payload of the one frame in w, its header checked as a receiver would. */
static const uint8_t *only_frame(const struct agent_writer *w, uint16_t type, size_t *len)
{
	struct agent_frame_header h;

	assert_int_equal(w->err, 0);
	assert_true(w->len >= AGENT_HEADER_SIZE);
	assert_int_equal(agent_frame_header_parse(w->buf, &h), 0);
	assert_int_equal(h.type, type);
	assert_int_equal(h.len, w->len - AGENT_HEADER_SIZE);
	*len = h.len;
	return w->buf + AGENT_HEADER_SIZE;
}

/* n bytes of p on the heap with nothing after them. */
static uint8_t *exact_copy(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

static void header_bytes(uint8_t hdr[AGENT_HEADER_SIZE], uint32_t len, uint16_t type,
			 uint16_t flags)
{
	const uint8_t b[AGENT_HEADER_SIZE] = {
		len, len >> 8, len >> 16, len >> 24, type, type >> 8, flags, flags >> 8,
	};

	memcpy(hdr, b, sizeof(b));
}

static int parse_header(uint32_t len, uint16_t type, uint16_t flags)
{
	uint8_t hdr[AGENT_HEADER_SIZE];
	struct agent_frame_header h;

	header_bytes(hdr, len, type, flags);
	return agent_frame_header_parse(hdr, &h);
}

static void assert_str(struct agent_str s, const char *expected)
{
	assert_int_equal(s.len, strlen(expected));
	assert_memory_equal(s.ptr, expected, s.len);
}

/* Raw string bytes, so a test can put a NUL where agent_put_string() refuses one. */
static void put_raw_string(struct agent_writer *w, const char *s, uint32_t len)
{
	agent_put_u32(w, len);
	agent_put_bytes(w, s, len);
}

/*
 * An EXEC payload up to and including cwd, written outside any frame so the
 * rest can break rules that agent_frame_end() or the encoder would enforce.
 */
static void raw_exec_head(struct agent_writer *w, uint32_t flags)
{
	agent_put_u64(w, 7);
	agent_put_u32(w, flags);
	agent_put_u32(w, 0);
	agent_put_u32(w, 0);
	put_raw_string(w, "", 0);
}

static int decode_exec_raw(const struct agent_writer *w)
{
	struct agent_exec_msg m;
	uint8_t *p;
	int err;

	assert_int_equal(w->err, 0);
	p = exact_copy(w->buf, w->len);
	err = agent_exec_decode(p, w->len, &m);
	free(p);
	return err;
}

static const char *const rich_argv[] = { "sh", "-c", "echo hi; cat" };
static const char *const rich_envp[] = { "PATH=/usr/bin:/bin", "EMPTY=", "A==b" };

static const struct agent_exec_args rich_exec = {
	.session = 0x1122334455667788ull,
	.flags = AGENT_EXEC_STDIN,
	.uid = 1000,
	.gid = AGENT_ID_KEEP,
	.cwd = "/tmp/work",
	.argv = rich_argv,
	.argc = 3,
	.envp = rich_envp,
	.envc = 3,
};

/* ---- Round trips ---- */

static void host_hello_round_trip(void **state)
{
	struct agent_writer w = writer();
	const uint8_t *p;
	size_t n;
	uint32_t version = 0;

	(void)state;
	assert_int_equal(agent_host_hello_encode(&w, AGENT_PROTOCOL_VERSION), 0);
	p = only_frame(&w, AGENT_H2G_HELLO, &n);
	assert_int_equal(n, 4);
	assert_int_equal(agent_host_hello_decode(p, n, &version), 0);
	assert_int_equal(version, AGENT_PROTOCOL_VERSION);

	w = writer();
	assert_int_equal(agent_host_hello_encode(&w, 0), -EINVAL);
}

static void guest_hello_round_trip(void **state)
{
	struct agent_writer w = writer();
	struct agent_guest_hello h;
	const uint8_t *p;
	size_t n;

	(void)state;
	assert_int_equal(agent_guest_hello_encode(&w, 1, "agentvm-agent 0.1.0"), 0);
	p = only_frame(&w, AGENT_G2H_HELLO, &n);
	assert_int_equal(agent_guest_hello_decode(p, n, &h), 0);
	assert_int_equal(h.version, 1);
	assert_str(h.agent_version, "agentvm-agent 0.1.0");
}

static void hello_version_zero_refused(void **state)
{
	struct agent_writer w = writer();
	struct agent_guest_hello h;
	uint32_t version;

	(void)state;
	assert_int_equal(agent_guest_hello_encode(&w, 0, "x"), -EINVAL);
	w = writer();
	agent_put_u32(&w, 0);
	assert_int_equal(agent_host_hello_decode(w.buf, w.len, &version), -EPROTO);
	put_raw_string(&w, "x", 1);
	assert_int_equal(agent_guest_hello_decode(w.buf, w.len, &h), -EPROTO);
}

static void empty_frames_round_trip(void **state)
{
	static const uint16_t empty[] = {
		AGENT_H2G_PING, AGENT_H2G_STDIN_EOF, AGENT_G2H_PONG, AGENT_G2H_OK, AGENT_G2H_FILE_END,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		struct agent_writer w = writer();
		size_t n;

		assert_int_equal(agent_frame_encode(&w, empty[i], NULL, 0), 0);
		only_frame(&w, empty[i], &n);
		assert_int_equal(n, 0);

		w = writer();
		assert_int_equal(agent_frame_encode(&w, empty[i], "x", 1), -EINVAL);
	}
}

static void data_frames_round_trip(void **state)
{
	static const uint16_t data[] = {
		AGENT_H2G_STDIN, AGENT_H2G_FILE_DATA, AGENT_G2H_STDOUT, AGENT_G2H_STDERR,
		AGENT_G2H_FILE_DATA,
	};
	uint8_t *chunk = malloc(AGENT_DATA_CHUNK + 1);

	(void)state;
	assert_non_null(chunk);
	for (size_t i = 0; i < AGENT_DATA_CHUNK + 1; i++)
		chunk[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
		struct agent_writer w = writer();
		const uint8_t *p;
		size_t n;

		assert_int_equal(agent_frame_encode(&w, data[i], chunk, AGENT_DATA_CHUNK), 0);
		p = only_frame(&w, data[i], &n);
		assert_int_equal(n, AGENT_DATA_CHUNK);
		assert_memory_equal(p, chunk, n);

		w = writer();
		assert_int_equal(agent_frame_encode(&w, data[i], chunk, 1), 0);
		w = writer();
		assert_int_equal(agent_frame_encode(&w, data[i], chunk, AGENT_DATA_CHUNK + 1), -EINVAL);
		w = writer();
		assert_int_equal(agent_frame_encode(&w, data[i], NULL, 0), -EINVAL);
	}
	free(chunk);
}

static void exec_round_trip(void **state)
{
	struct agent_writer w = writer();
	struct agent_exec_msg m;
	struct agent_str s;
	const uint8_t *p;
	size_t n;

	(void)state;
	assert_int_equal(agent_exec_encode(&w, &rich_exec), 0);
	p = only_frame(&w, AGENT_H2G_EXEC, &n);
	assert_int_equal(agent_exec_decode(p, n, &m), 0);
	assert_true(m.session == rich_exec.session);
	assert_int_equal(m.flags, AGENT_EXEC_STDIN);
	assert_int_equal(m.uid, 1000);
	assert_int_equal(m.gid, AGENT_ID_KEEP);
	assert_str(m.cwd, "/tmp/work");

	assert_int_equal(m.argv.count, 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_true(agent_strings_next(&m.argv, &s));
		assert_str(s, rich_argv[i]);
	}
	assert_false(agent_strings_next(&m.argv, &s));
	assert_false(agent_strings_next(&m.argv, &s));

	assert_int_equal(m.env.count, 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_true(agent_strings_next(&m.env, &s));
		assert_str(s, rich_envp[i]);
	}
	assert_false(agent_strings_next(&m.env, &s));
}

static void exec_defaults_round_trip(void **state)
{
	static const char *const argv[] = { "true" };
	const struct agent_exec_args a = {
		.uid = AGENT_ID_KEEP, .gid = AGENT_ID_KEEP, .argv = argv, .argc = 1,
	};
	struct agent_writer w = writer();
	struct agent_exec_msg m;
	struct agent_str s;
	const uint8_t *p;
	size_t n;

	(void)state;
	assert_int_equal(agent_exec_encode(&w, &a), 0);
	p = only_frame(&w, AGENT_H2G_EXEC, &n);
	/* The smallest EXEC there is: the header check's minimum must admit it. */
	assert_int_equal(n, 8 + 4 + 4 + 4 + 4 + 4 + (4 + 4) + 4);
	assert_int_equal(agent_exec_decode(p, n, &m), 0);
	assert_int_equal(m.flags, 0);
	assert_int_equal(m.cwd.len, 0);
	assert_int_equal(m.env.count, 0);
	assert_false(agent_strings_next(&m.env, &s));
	assert_true(agent_strings_next(&m.argv, &s));
	assert_str(s, "true");
}

static void exec_at_the_limits(void **state)
{
	static const char *argv[AGENT_MAX_ARGS], *envp[AGENT_MAX_ENV];
	struct agent_exec_args a = {
		.argv = argv, .argc = AGENT_MAX_ARGS, .envp = envp, .envc = AGENT_MAX_ENV,
	};
	struct agent_writer w = writer();
	struct agent_exec_msg m;
	struct agent_str s;
	const uint8_t *p;
	uint32_t seen = 0;
	size_t n;

	(void)state;
	for (size_t i = 0; i < AGENT_MAX_ARGS; i++)
		argv[i] = "a";
	for (size_t i = 0; i < AGENT_MAX_ENV; i++)
		envp[i] = "K=v";
	assert_int_equal(agent_exec_encode(&w, &a), 0);
	p = only_frame(&w, AGENT_H2G_EXEC, &n);
	assert_int_equal(agent_exec_decode(p, n, &m), 0);
	assert_int_equal(m.argv.count, AGENT_MAX_ARGS);
	assert_int_equal(m.env.count, AGENT_MAX_ENV);
	while (agent_strings_next(&m.env, &s)) {
		assert_str(s, "K=v");
		seen++;
	}
	assert_int_equal(seen, AGENT_MAX_ENV);
}

static void kill_round_trip(void **state)
{
	struct agent_writer w = writer();
	const uint8_t *p;
	size_t n;
	uint32_t sig = 0;

	(void)state;
	assert_int_equal(agent_kill_encode(&w, 64), 0);
	p = only_frame(&w, AGENT_H2G_KILL, &n);
	assert_int_equal(agent_kill_decode(p, n, &sig), 0);
	assert_int_equal(sig, 64);
}

static void file_write_round_trip(void **state)
{
	struct agent_writer w = writer();
	struct agent_file_write f;
	const uint8_t *p;
	size_t n;

	(void)state;
	assert_int_equal(agent_file_write_encode(&w, 04755, 1ull << 40, "/usr/local/bin/tool"), 0);
	p = only_frame(&w, AGENT_H2G_FILE_WRITE, &n);
	assert_int_equal(agent_file_write_decode(p, n, &f), 0);
	assert_int_equal(f.mode, 04755);
	assert_true(f.size == 1ull << 40);
	assert_str(f.path, "/usr/local/bin/tool");
}

static void file_read_round_trip(void **state)
{
	struct agent_writer w = writer();
	struct agent_file_read f;
	const uint8_t *p;
	size_t n;

	(void)state;
	assert_int_equal(agent_file_read_encode(&w, UINT64_MAX, "/etc/hostname"), 0);
	p = only_frame(&w, AGENT_H2G_FILE_READ, &n);
	assert_int_equal(agent_file_read_decode(p, n, &f), 0);
	assert_true(f.max_size == UINT64_MAX);
	assert_str(f.path, "/etc/hostname");
}

static const uint8_t sync_seed[AGENT_SYNC_SEED_SIZE] = {
	0x00, 0x01, 0xfe, 0xff, 'r', 'a', 'n', 'd', 1,  2,  3,  4,  5,  6,  7,  8,
	9,    10,   11,   12,   13,  14,  15,  16,  17, 18, 19, 20, 21, 22, 23, 0x80,
};

static void sync_round_trip(void **state)
{
	static const uint64_t times[] = { 0, 1767225600123456789ull, UINT64_MAX };

	(void)state;
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		struct agent_writer w = writer();
		struct agent_sync s;
		const uint8_t *p;
		size_t n;

		assert_int_equal(agent_sync_encode(&w, times[i], sync_seed), 0);
		p = only_frame(&w, AGENT_H2G_SYNC, &n);
		assert_int_equal(n, 8 + AGENT_SYNC_SEED_SIZE);
		assert_int_equal(agent_sync_decode(p, n, &s), 0);
		assert_true(s.realtime_ns == times[i]);
		assert_ptr_equal(s.seed, p + 8); /* in place, like strings */
		assert_memory_equal(s.seed, sync_seed, AGENT_SYNC_SEED_SIZE);
	}
}

static void sync_wrong_sizes(void **state)
{
	uint8_t *payload = calloc(1, 8 + AGENT_SYNC_SEED_SIZE + 1);
	struct agent_sync s = { .realtime_ns = 5, .seed = NULL };
	struct agent_writer w = writer();

	(void)state;
	assert_non_null(payload);
	/* One byte over or under: refused, and *out left alone. */
	assert_int_equal(agent_sync_decode(payload, 8 + AGENT_SYNC_SEED_SIZE + 1, &s), -EPROTO);
	assert_int_equal(agent_sync_decode(payload, 8 + AGENT_SYNC_SEED_SIZE - 1, &s), -EPROTO);
	assert_true(s.realtime_ns == 5 && s.seed == NULL);
	free(payload);

	/* A writer will not close a SYNC without its seed. */
	agent_frame_begin(&w, AGENT_H2G_SYNC);
	agent_put_u64(&w, 1);
	assert_int_equal(agent_frame_end(&w), -EINVAL);
}

static void started_round_trip(void **state)
{
	struct agent_writer w = writer();
	const uint8_t *p;
	size_t n;
	uint32_t pid = 0;

	(void)state;
	assert_int_equal(agent_started_encode(&w, 4194304), 0);
	p = only_frame(&w, AGENT_G2H_STARTED, &n);
	assert_int_equal(agent_started_decode(p, n, &pid), 0);
	assert_int_equal(pid, 4194304);
}

static void exited_round_trip(void **state)
{
	const struct agent_exited cases[] = {
		{ .how = AGENT_EXITED_CODE, .code = 0, .wall_us = 1, .user_us = 2, .sys_us = 3,
		  .maxrss_kib = 4 },
		{ .how = AGENT_EXITED_CODE, .code = 255, .wall_us = UINT64_MAX },
		{ .how = AGENT_EXITED_SIGNAL, .code = 9, .maxrss_kib = 1ull << 33 },
		{ .how = AGENT_EXITED_SIGNAL, .code = 64 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct agent_writer w = writer();
		struct agent_exited e;
		const uint8_t *p;
		size_t n;

		assert_int_equal(agent_exited_encode(&w, &cases[i]), 0);
		p = only_frame(&w, AGENT_G2H_EXITED, &n);
		assert_int_equal(n, 40);
		assert_int_equal(agent_exited_decode(p, n, &e), 0);
		assert_memory_equal(&e, &cases[i], sizeof(e));
	}
}

static void error_round_trip(void **state)
{
	struct agent_writer w = writer();
	struct agent_error e;
	const uint8_t *p;
	size_t n;

	(void)state;
	assert_int_equal(agent_error_encode(&w, ENOENT, "execve 'nope': No such file or directory"),
			 0);
	p = only_frame(&w, AGENT_G2H_ERROR, &n);
	assert_int_equal(agent_error_decode(p, n, &e), 0);
	assert_int_equal(e.err, ENOENT);
	assert_str(e.message, "execve 'nope': No such file or directory");

	w = writer();
	assert_int_equal(agent_error_encode(&w, EIO, ""), 0);
	p = only_frame(&w, AGENT_G2H_ERROR, &n);
	assert_int_equal(agent_error_decode(p, n, &e), 0);
	assert_int_equal(e.message.len, 0);

	w = writer();
	assert_int_equal(agent_exec_failed_encode(&w, EACCES, "execve '/etc': Permission denied"),
			 0);
	p = only_frame(&w, AGENT_G2H_EXEC_FAILED, &n);
	assert_int_equal(agent_error_decode(p, n, &e), 0);
	assert_int_equal(e.err, EACCES);
	assert_str(e.message, "execve '/etc': Permission denied");

	w = writer();
	assert_int_equal(agent_exec_failed_encode(&w, 0, "x"), -EINVAL);
}

static void file_info_round_trip(void **state)
{
	struct agent_writer w = writer();
	const uint8_t *p;
	size_t n;
	uint64_t size = 1;

	(void)state;
	assert_int_equal(agent_file_info_encode(&w, 0), 0);
	p = only_frame(&w, AGENT_G2H_FILE_INFO, &n);
	assert_int_equal(agent_file_info_decode(p, n, &size), 0);
	assert_true(size == 0);
}

static void frames_back_to_back(void **state)
{
	struct agent_writer w = writer();
	struct agent_frame_header h;
	struct agent_exec_msg m;
	uint32_t version;

	(void)state;
	assert_int_equal(agent_host_hello_encode(&w, 1), 0);
	assert_int_equal(agent_exec_encode(&w, &rich_exec), 0);
	assert_int_equal(agent_frame_encode(&w, AGENT_H2G_STDIN_EOF, NULL, 0), 0);

	assert_int_equal(agent_frame_header_parse(buf, &h), 0);
	assert_int_equal(h.type, AGENT_H2G_HELLO);
	assert_int_equal(agent_host_hello_decode(buf + AGENT_HEADER_SIZE, h.len, &version), 0);
	size_t off = AGENT_HEADER_SIZE + h.len;
	assert_int_equal(agent_frame_header_parse(buf + off, &h), 0);
	assert_int_equal(h.type, AGENT_H2G_EXEC);
	assert_int_equal(agent_exec_decode(buf + off + AGENT_HEADER_SIZE, h.len, &m), 0);
	off += AGENT_HEADER_SIZE + h.len;
	assert_int_equal(agent_frame_header_parse(buf + off, &h), 0);
	assert_int_equal(h.type, AGENT_H2G_STDIN_EOF);
	assert_int_equal(off + AGENT_HEADER_SIZE + h.len, w.len);
}

/* ---- Headers ---- */

static void header_bad_flags(void **state)
{
	(void)state;
	assert_int_equal(parse_header(0, AGENT_H2G_PING, 0), 0);
	assert_int_equal(parse_header(0, AGENT_H2G_PING, 1), -EPROTO);
	assert_int_equal(parse_header(0, AGENT_H2G_PING, 0x8000), -EPROTO);
	assert_int_equal(parse_header(4, AGENT_G2H_STARTED, 0xffff), -EPROTO);
}

static void header_unknown_type(void **state)
{
	static const uint16_t unknown[] = { 0, 11, 63, 76, 127, 128, 0xffff };
	struct agent_writer w;

	(void)state;
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		assert_int_equal(parse_header(0, unknown[i], 0), -EPROTO);
		assert_string_equal(agent_type_name(unknown[i]), "unknown");
		w = writer();
		agent_frame_begin(&w, unknown[i]);
		assert_int_equal(agent_frame_end(&w), -EINVAL);
	}
}

static void header_oversized(void **state)
{
	(void)state;
	assert_int_equal(parse_header(AGENT_MAX_PAYLOAD, AGENT_H2G_EXEC, 0), 0);
	assert_int_equal(parse_header(AGENT_MAX_PAYLOAD + 1, AGENT_H2G_EXEC, 0), -EMSGSIZE);
	assert_int_equal(parse_header(UINT32_MAX, AGENT_G2H_ERROR, 0), -EMSGSIZE);
	assert_int_equal(parse_header(UINT32_MAX, AGENT_G2H_STDOUT, 0), -EMSGSIZE);
}

static void header_wrong_size_for_type(void **state)
{
	static const struct {
		uint16_t type;
		uint32_t len;
		int expected;
	} cases[] = {
		{ AGENT_H2G_HELLO, 4, 0 },        { AGENT_H2G_HELLO, 3, -EPROTO },
		{ AGENT_H2G_HELLO, 5, -EPROTO },  { AGENT_H2G_PING, 1, -EPROTO },
		{ AGENT_H2G_EXEC, 36, 0 },        { AGENT_H2G_EXEC, 35, -EPROTO },
		{ AGENT_H2G_KILL, 4, 0 },         { AGENT_H2G_KILL, 3, -EPROTO },
		{ AGENT_H2G_KILL, 5, -EPROTO },   { AGENT_H2G_STDIN_EOF, 4, -EPROTO },
		{ AGENT_H2G_FILE_WRITE, 16, 0 },  { AGENT_H2G_FILE_WRITE, 15, -EPROTO },
		{ AGENT_H2G_FILE_READ, 12, 0 },   { AGENT_H2G_FILE_READ, 11, -EPROTO },
		{ AGENT_H2G_SYNC, 40, 0 },        { AGENT_H2G_SYNC, 39, -EPROTO },
		{ AGENT_H2G_SYNC, 41, -EPROTO },  { AGENT_H2G_SYNC, 8, -EPROTO },
		{ AGENT_H2G_SYNC, 0, -EPROTO },   { AGENT_H2G_SYNC, AGENT_MAX_PAYLOAD, -EPROTO },
		{ AGENT_G2H_HELLO, 8, 0 },        { AGENT_G2H_HELLO, 7, -EPROTO },
		{ AGENT_G2H_PONG, 8, -EPROTO },   { AGENT_G2H_STARTED, 4, 0 },
		{ AGENT_G2H_STARTED, 8, -EPROTO }, { AGENT_G2H_EXITED, 40, 0 },
		{ AGENT_G2H_EXITED, 39, -EPROTO }, { AGENT_G2H_EXITED, 41, -EPROTO },
		{ AGENT_G2H_ERROR, 8, 0 },        { AGENT_G2H_ERROR, 7, -EPROTO },
		{ AGENT_G2H_EXEC_FAILED, 8, 0 },  { AGENT_G2H_EXEC_FAILED, 7, -EPROTO },
		{ AGENT_G2H_OK, 1, -EPROTO },     { AGENT_G2H_FILE_INFO, 8, 0 },
		{ AGENT_G2H_FILE_INFO, 4, -EPROTO }, { AGENT_G2H_FILE_END, 1, -EPROTO },
		{ AGENT_H2G_STDIN, 0, -EPROTO },  { AGENT_H2G_STDIN, AGENT_DATA_CHUNK, 0 },
		{ AGENT_H2G_STDIN, AGENT_DATA_CHUNK + 1, -EPROTO },
		{ AGENT_G2H_STDERR, 0, -EPROTO }, { AGENT_G2H_FILE_DATA, AGENT_DATA_CHUNK + 1, -EPROTO },
		{ AGENT_H2G_FILE_DATA, 0, -EPROTO },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse_header(cases[i].len, cases[i].type, 0) != cases[i].expected)
			fail_msg("%s of %u bytes: expected %d", agent_type_name(cases[i].type),
				 cases[i].len, cases[i].expected);
	}
}

static void header_not_written_on_failure(void **state)
{
	uint8_t hdr[AGENT_HEADER_SIZE];
	struct agent_frame_header h = { .len = 123, .type = 45 };

	(void)state;
	header_bytes(hdr, 5, AGENT_H2G_KILL, 0);
	assert_int_equal(agent_frame_header_parse(hdr, &h), -EPROTO);
	assert_int_equal(h.len, 123);
	assert_int_equal(h.type, 45);
}

static void type_names(void **state)
{
	(void)state;
	assert_string_equal(agent_type_name(AGENT_H2G_EXEC), "EXEC");
	assert_string_equal(agent_type_name(AGENT_G2H_HELLO), "HELLO");
	assert_string_equal(agent_type_name(AGENT_G2H_FILE_END), "FILE_END");
	assert_string_equal(agent_type_name(AGENT_H2G_SYNC), "SYNC");
}

/* ---- Every decoder against every truncation and a trailing byte ---- */

static int enc_host_hello(struct agent_writer *w) { return agent_host_hello_encode(w, 1); }
static int enc_guest_hello(struct agent_writer *w) { return agent_guest_hello_encode(w, 1, "v1"); }
static int enc_exec(struct agent_writer *w) { return agent_exec_encode(w, &rich_exec); }
static int enc_kill(struct agent_writer *w) { return agent_kill_encode(w, 15); }
static int enc_file_write(struct agent_writer *w) { return agent_file_write_encode(w, 0644, 3, "/f"); }
static int enc_file_read(struct agent_writer *w) { return agent_file_read_encode(w, 10, "/f"); }
static int enc_sync(struct agent_writer *w) { return agent_sync_encode(w, 42, sync_seed); }
static int enc_started(struct agent_writer *w) { return agent_started_encode(w, 42); }
static int enc_file_info(struct agent_writer *w) { return agent_file_info_encode(w, 3); }
static int enc_error(struct agent_writer *w) { return agent_error_encode(w, EACCES, "no"); }

static int enc_exited(struct agent_writer *w)
{
	const struct agent_exited e = { .how = AGENT_EXITED_CODE, .code = 3 };

	return agent_exited_encode(w, &e);
}

static int dec_host_hello(const uint8_t *p, size_t n)
{
	uint32_t v;

	return agent_host_hello_decode(p, n, &v);
}

static int dec_guest_hello(const uint8_t *p, size_t n)
{
	struct agent_guest_hello h;

	return agent_guest_hello_decode(p, n, &h);
}

static int dec_exec(const uint8_t *p, size_t n)
{
	struct agent_exec_msg m;

	return agent_exec_decode(p, n, &m);
}

static int dec_kill(const uint8_t *p, size_t n)
{
	uint32_t v;

	return agent_kill_decode(p, n, &v);
}

static int dec_file_write(const uint8_t *p, size_t n)
{
	struct agent_file_write f;

	return agent_file_write_decode(p, n, &f);
}

static int dec_file_read(const uint8_t *p, size_t n)
{
	struct agent_file_read f;

	return agent_file_read_decode(p, n, &f);
}

static int dec_sync(const uint8_t *p, size_t n)
{
	struct agent_sync v;

	return agent_sync_decode(p, n, &v);
}

static int dec_started(const uint8_t *p, size_t n)
{
	uint32_t v;

	return agent_started_decode(p, n, &v);
}

static int dec_file_info(const uint8_t *p, size_t n)
{
	uint64_t v;

	return agent_file_info_decode(p, n, &v);
}

static int dec_error(const uint8_t *p, size_t n)
{
	struct agent_error e;

	return agent_error_decode(p, n, &e);
}

static int dec_exited(const uint8_t *p, size_t n)
{
	struct agent_exited e;

	return agent_exited_decode(p, n, &e);
}

static const struct message {
	uint16_t type;
	int (*encode)(struct agent_writer *w);
	int (*decode)(const uint8_t *p, size_t n);
} messages[] = {
	{ AGENT_H2G_HELLO, enc_host_hello, dec_host_hello },
	{ AGENT_G2H_HELLO, enc_guest_hello, dec_guest_hello },
	{ AGENT_H2G_EXEC, enc_exec, dec_exec },
	{ AGENT_H2G_KILL, enc_kill, dec_kill },
	{ AGENT_H2G_FILE_WRITE, enc_file_write, dec_file_write },
	{ AGENT_H2G_FILE_READ, enc_file_read, dec_file_read },
	{ AGENT_H2G_SYNC, enc_sync, dec_sync },
	{ AGENT_G2H_STARTED, enc_started, dec_started },
	{ AGENT_G2H_FILE_INFO, enc_file_info, dec_file_info },
	{ AGENT_G2H_ERROR, enc_error, dec_error },
	{ AGENT_G2H_EXITED, enc_exited, dec_exited },
};

static void every_decoder_refuses_truncation(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
		struct agent_writer w = writer();
		const uint8_t *p;
		size_t n;

		assert_int_equal(messages[i].encode(&w), 0);
		p = only_frame(&w, messages[i].type, &n);
		for (size_t cut = 0; cut <= n; cut++) {
			uint8_t *c = exact_copy(p, cut);
			int err = messages[i].decode(c, cut);

			free(c);
			if (err != (cut == n ? 0 : -EPROTO))
				fail_msg("%s cut to %zu of %zu bytes: %d", agent_type_name(messages[i].type),
					 cut, n, err);
		}
	}
}

static void every_decoder_refuses_trailing_bytes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
		struct agent_writer w = writer();
		const uint8_t *p;
		uint8_t *c;
		size_t n;

		assert_int_equal(messages[i].encode(&w), 0);
		p = only_frame(&w, messages[i].type, &n);
		c = malloc(n + 1);
		assert_non_null(c);
		memcpy(c, p, n);
		c[n] = 0;
		assert_int_equal(messages[i].decode(c, n + 1), -EPROTO);
		free(c);
	}
}

/* ---- EXEC as a hostile host may send it ---- */

static void exec_truncated_everywhere(void **state)
{
	struct agent_writer w = writer();
	struct agent_exec_msg m, before;
	const uint8_t *p;
	size_t n;

	(void)state;
	assert_int_equal(agent_exec_encode(&w, &rich_exec), 0);
	p = only_frame(&w, AGENT_H2G_EXEC, &n);
	memset(&before, 0xa5, sizeof(before));
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *c = exact_copy(p, cut);

		m = before;
		assert_int_equal(agent_exec_decode(c, cut, &m), -EPROTO);
		assert_memory_equal(&m, &before, sizeof(m));
		free(c);
	}
}

static void exec_string_with_nul(void **state)
{
	struct agent_writer w = writer();

	(void)state;
	/* in an argument */
	raw_exec_head(&w, 0);
	agent_put_u32(&w, 1);
	put_raw_string(&w, "ls\0-l", 5);
	agent_put_u32(&w, 0);
	assert_int_equal(decode_exec_raw(&w), -EPROTO);

	/* in cwd */
	w = writer();
	agent_put_u64(&w, 7);
	agent_put_u32(&w, 0);
	agent_put_u32(&w, 0);
	agent_put_u32(&w, 0);
	put_raw_string(&w, "/tmp\0", 5);
	agent_put_u32(&w, 1);
	put_raw_string(&w, "ls", 2);
	agent_put_u32(&w, 0);
	assert_int_equal(decode_exec_raw(&w), -EPROTO);

	/* a trailing NUL, as a C programmer might send it, in the environment */
	w = writer();
	raw_exec_head(&w, 0);
	agent_put_u32(&w, 1);
	put_raw_string(&w, "ls", 2);
	agent_put_u32(&w, 1);
	put_raw_string(&w, "A=b", 4);
	assert_int_equal(decode_exec_raw(&w), -EPROTO);
}

static void string_with_nul_elsewhere(void **state)
{
	struct agent_writer w = writer();
	struct agent_error e;
	struct agent_file_write f;

	(void)state;
	agent_put_u32(&w, EIO);
	put_raw_string(&w, "bad\0news", 8);
	assert_int_equal(agent_error_decode(w.buf, w.len, &e), -EPROTO);

	w = writer();
	agent_put_u32(&w, 0644);
	agent_put_u64(&w, 0);
	put_raw_string(&w, "\0", 1);
	assert_int_equal(agent_file_write_decode(w.buf, w.len, &f), -EPROTO);

	w = writer();
	agent_put_string(&w, "a\0b", 3);
	assert_int_equal(w.err, -EINVAL);
}

static void string_length_limit(void **state)
{
	char *big = malloc(AGENT_MAX_STRING + 1);
	struct agent_writer w = writer();
	struct agent_reader r;
	struct agent_str s;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', AGENT_MAX_STRING + 1);

	put_raw_string(&w, big, AGENT_MAX_STRING);
	agent_reader_init(&r, w.buf, w.len);
	agent_get_string(&r, &s);
	assert_int_equal(agent_reader_end(&r), 0);
	assert_int_equal(s.len, AGENT_MAX_STRING);

	w = writer();
	put_raw_string(&w, big, AGENT_MAX_STRING + 1);
	agent_reader_init(&r, w.buf, w.len);
	agent_get_string(&r, &s);
	assert_int_equal(r.err, -EPROTO);
	assert_int_equal(s.len, 0);

	/* a length far past the payload */
	w = writer();
	agent_put_u32(&w, UINT32_MAX);
	agent_put_bytes(&w, "abc", 3);
	agent_reader_init(&r, w.buf, w.len);
	agent_get_string(&r, &s);
	assert_int_equal(r.err, -EPROTO);

	w = writer();
	agent_put_string(&w, big, AGENT_MAX_STRING + 1);
	assert_int_equal(w.err, -E2BIG);
	assert_int_equal(w.len, 0);
	free(big);
}

static void exec_argc_zero(void **state)
{
	const struct agent_exec_args a = { .argc = 0 };
	struct agent_writer w = writer();

	(void)state;
	assert_int_equal(agent_exec_encode(&w, &a), -EINVAL);
	assert_int_equal(w.len, 0);

	/* long enough for the header check, so only the decoder can catch it */
	w = writer();
	raw_exec_head(&w, 0);
	agent_put_u32(&w, 0);
	agent_put_u32(&w, 1);
	put_raw_string(&w, "A=b", 3);
	assert_true(w.len >= 36);
	assert_int_equal(decode_exec_raw(&w), -EPROTO);
}

static void exec_counts_over_limit(void **state)
{
	static const char *argv[AGENT_MAX_ARGS + 1];
	struct agent_exec_args a = { .argv = argv, .argc = AGENT_MAX_ARGS + 1 };
	struct agent_writer w = writer();

	(void)state;
	for (size_t i = 0; i <= AGENT_MAX_ARGS; i++)
		argv[i] = "a";
	assert_int_equal(agent_exec_encode(&w, &a), -E2BIG);

	a.argc = 1;
	a.envp = argv; /* never looked at: the count is refused first */
	a.envc = AGENT_MAX_ENV + 1;
	w = writer();
	assert_int_equal(agent_exec_encode(&w, &a), -E2BIG);

	/* the decoder refuses the count itself, before looking for 4097 strings */
	w = writer();
	raw_exec_head(&w, 0);
	agent_put_u32(&w, AGENT_MAX_ARGS + 1);
	for (size_t i = 0; i <= AGENT_MAX_ARGS; i++)
		put_raw_string(&w, "a", 1);
	agent_put_u32(&w, 0);
	assert_int_equal(decode_exec_raw(&w), -EPROTO);

	w = writer();
	raw_exec_head(&w, 0);
	agent_put_u32(&w, 1);
	put_raw_string(&w, "a", 1);
	agent_put_u32(&w, AGENT_MAX_ENV + 1);
	for (size_t i = 0; i <= AGENT_MAX_ENV; i++)
		put_raw_string(&w, "K=v", 3);
	assert_int_equal(decode_exec_raw(&w), -EPROTO);

	/* a count that no payload could hold */
	w = writer();
	raw_exec_head(&w, 0);
	agent_put_u32(&w, UINT32_MAX);
	agent_put_u32(&w, 0);
	assert_int_equal(decode_exec_raw(&w), -EPROTO);
}

static void exec_env_without_equals(void **state)
{
	static const char *const argv[] = { "env" };
	static const char *const bad[] = { "PATH", "=x", "" };
	struct agent_exec_args a = { .argv = argv, .argc = 1, .envc = 1 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct agent_writer w = writer();

		a.envp = &bad[i];
		assert_int_equal(agent_exec_encode(&w, &a), -EINVAL);

		w = writer();
		raw_exec_head(&w, 0);
		agent_put_u32(&w, 1);
		put_raw_string(&w, "env", 3);
		agent_put_u32(&w, 1);
		put_raw_string(&w, bad[i], (uint32_t)strlen(bad[i]));
		assert_int_equal(decode_exec_raw(&w), -EPROTO);
	}
}

static void exec_unknown_flags(void **state)
{
	static const char *const argv[] = { "ls" };
	const struct agent_exec_args a = { .flags = 0x2, .argv = argv, .argc = 1 };
	struct agent_writer w = writer();

	(void)state;
	assert_int_equal(agent_exec_encode(&w, &a), -EINVAL);

	w = writer();
	raw_exec_head(&w, 0x80000000u);
	agent_put_u32(&w, 1);
	put_raw_string(&w, "ls", 2);
	agent_put_u32(&w, 0);
	assert_int_equal(decode_exec_raw(&w), -EPROTO);
}

static void exec_over_max_payload(void **state)
{
	enum { ARG_LEN = 60000, ARGS = 18 }; /* 18 x 60004 bytes: just over 1 MiB */
	static const char *argv[ARGS];
	const struct agent_exec_args a = { .argv = argv, .argc = ARGS };
	char *arg = malloc(ARG_LEN + 1);
	struct agent_writer w = writer();

	(void)state;
	assert_non_null(arg);
	memset(arg, 'x', ARG_LEN);
	arg[ARG_LEN] = '\0';
	for (size_t i = 0; i < ARGS; i++)
		argv[i] = arg;
	assert_int_equal(agent_exec_encode(&w, &a), -EMSGSIZE);
	free(arg);
}

/* ---- Field ranges, both ways ---- */

static void scalar_ranges(void **state)
{
	struct agent_writer w = writer();
	const struct agent_exited bad_exits[] = {
		{ .how = 2 },
		{ .how = AGENT_EXITED_CODE, .code = 256 },
		{ .how = AGENT_EXITED_SIGNAL, .code = 0 },
		{ .how = AGENT_EXITED_SIGNAL, .code = 65 },
	};
	uint32_t v;

	(void)state;
	assert_int_equal(agent_kill_encode(&w, 0), -EINVAL);
	w = writer();
	assert_int_equal(agent_kill_encode(&w, 65), -EINVAL);
	w = writer();
	assert_int_equal(agent_started_encode(&w, 0), -EINVAL);
	w = writer();
	assert_int_equal(agent_error_encode(&w, 0, "x"), -EINVAL);
	w = writer();
	assert_int_equal(agent_error_encode(&w, 4096, "x"), -EINVAL);
	w = writer();
	assert_int_equal(agent_file_write_encode(&w, 010000, 0, "/f"), -EINVAL);

	w = writer();
	agent_put_u32(&w, 0);
	assert_int_equal(agent_kill_decode(w.buf, w.len, &v), -EPROTO);
	assert_int_equal(agent_started_decode(w.buf, w.len, &v), -EPROTO);
	w = writer();
	agent_put_u32(&w, 65);
	assert_int_equal(agent_kill_decode(w.buf, w.len, &v), -EPROTO);

	for (size_t i = 0; i < sizeof(bad_exits) / sizeof(bad_exits[0]); i++) {
		struct agent_exited e;

		w = writer();
		assert_int_equal(agent_exited_encode(&w, &bad_exits[i]), -EINVAL);
		w = writer();
		agent_put_u32(&w, bad_exits[i].how);
		agent_put_u32(&w, bad_exits[i].code);
		for (int j = 0; j < 4; j++)
			agent_put_u64(&w, 0);
		assert_int_equal(agent_exited_decode(w.buf, w.len, &e), -EPROTO);
	}
}

static void error_and_mode_ranges_decoded(void **state)
{
	struct agent_writer w = writer();
	struct agent_error e;
	struct agent_file_write f;

	(void)state;
	agent_put_u32(&w, 0);
	put_raw_string(&w, "x", 1);
	assert_int_equal(agent_error_decode(w.buf, w.len, &e), -EPROTO);

	w = writer();
	agent_put_u32(&w, 4096);
	put_raw_string(&w, "x", 1);
	assert_int_equal(agent_error_decode(w.buf, w.len, &e), -EPROTO);

	w = writer();
	agent_put_u32(&w, 0100644); /* st_mode with its file type bits */
	agent_put_u64(&w, 0);
	put_raw_string(&w, "/f", 2);
	assert_int_equal(agent_file_write_decode(w.buf, w.len, &f), -EPROTO);
}

/* ---- Writer and reader mechanics ---- */

static void writer_overflow(void **state)
{
	uint8_t small[10];
	struct agent_writer w;
	const struct agent_exited e = { .how = AGENT_EXITED_CODE };

	(void)state;
	agent_writer_init(&w, small, sizeof(small));
	agent_put_u64(&w, 1);
	assert_int_equal(w.err, 0);
	agent_put_u32(&w, 2);
	assert_int_equal(w.err, -EMSGSIZE);
	assert_int_equal(w.len, 8);
	agent_put_bytes(&w, "x", 1); /* would fit, but the failure sticks */
	assert_int_equal(w.len, 8);
	agent_frame_begin(&w, AGENT_H2G_PING);
	assert_int_equal(agent_frame_end(&w), -EMSGSIZE);
	assert_int_equal(w.len, 8);

	/* EXITED needs exactly 48 bytes */
	uint8_t frame[AGENT_HEADER_SIZE + 40];
	agent_writer_init(&w, frame, sizeof(frame) - 1);
	assert_int_equal(agent_exited_encode(&w, &e), -EMSGSIZE);
	agent_writer_init(&w, frame, sizeof(frame));
	assert_int_equal(agent_exited_encode(&w, &e), 0);
	assert_int_equal(w.len, sizeof(frame));

	/* An encoder called after a failure returns that failure. */
	agent_writer_init(&w, frame, sizeof(frame));
	assert_int_equal(agent_kill_encode(&w, 0), -EINVAL);
	assert_int_equal(agent_started_encode(&w, 1), -EINVAL);
	assert_int_equal(w.len, 0);
}

static void writer_payload_over_max(void **state)
{
	uint8_t *zeros = calloc(1, AGENT_MAX_PAYLOAD + 1);
	struct agent_writer w = writer();

	(void)state;
	assert_non_null(zeros);
	agent_frame_begin(&w, AGENT_H2G_EXEC);
	agent_put_bytes(&w, zeros, AGENT_MAX_PAYLOAD + 1);
	assert_int_equal(w.err, 0); /* the buffer had room ... */
	assert_int_equal(agent_frame_end(&w), -EMSGSIZE); /* ... the protocol has not */
	free(zeros);
}

static void writer_misuse(void **state)
{
	struct agent_writer w = writer();

	(void)state;
	assert_int_equal(agent_frame_end(&w), -EINVAL);

	w = writer();
	agent_frame_begin(&w, AGENT_H2G_PING);
	agent_frame_begin(&w, AGENT_H2G_PING);
	assert_int_equal(agent_frame_end(&w), -EINVAL);

	/* a fixed-size type given the wrong payload */
	w = writer();
	agent_frame_begin(&w, AGENT_H2G_KILL);
	agent_put_u64(&w, 9);
	assert_int_equal(agent_frame_end(&w), -EINVAL);
}

static void reader_failure_sticks(void **state)
{
	static const uint8_t three[3] = { 1, 2, 3 };
	struct agent_reader r;
	struct agent_str s;

	(void)state;
	agent_reader_init(&r, three, sizeof(three));
	assert_int_equal(agent_get_u32(&r), 0);
	assert_int_equal(r.err, -EPROTO);
	assert_null(agent_get_bytes(&r, 1));
	agent_get_string(&r, &s);
	assert_int_equal(s.len, 0);
	assert_int_equal(r.left, 3);
	assert_int_equal(agent_reader_end(&r), -EPROTO);

	agent_reader_init(&r, three, sizeof(three));
	assert_non_null(agent_get_bytes(&r, 2));
	assert_int_equal(agent_reader_end(&r), -EPROTO); /* one byte left over */
	assert_non_null(agent_get_bytes(&r, 1));
	assert_int_equal(agent_reader_end(&r), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(host_hello_round_trip),
		cmocka_unit_test(guest_hello_round_trip),
		cmocka_unit_test(hello_version_zero_refused),
		cmocka_unit_test(empty_frames_round_trip),
		cmocka_unit_test(data_frames_round_trip),
		cmocka_unit_test(exec_round_trip),
		cmocka_unit_test(exec_defaults_round_trip),
		cmocka_unit_test(exec_at_the_limits),
		cmocka_unit_test(kill_round_trip),
		cmocka_unit_test(file_write_round_trip),
		cmocka_unit_test(file_read_round_trip),
		cmocka_unit_test(sync_round_trip),
		cmocka_unit_test(sync_wrong_sizes),
		cmocka_unit_test(started_round_trip),
		cmocka_unit_test(exited_round_trip),
		cmocka_unit_test(error_round_trip),
		cmocka_unit_test(file_info_round_trip),
		cmocka_unit_test(frames_back_to_back),
		cmocka_unit_test(header_bad_flags),
		cmocka_unit_test(header_unknown_type),
		cmocka_unit_test(header_oversized),
		cmocka_unit_test(header_wrong_size_for_type),
		cmocka_unit_test(header_not_written_on_failure),
		cmocka_unit_test(type_names),
		cmocka_unit_test(every_decoder_refuses_truncation),
		cmocka_unit_test(every_decoder_refuses_trailing_bytes),
		cmocka_unit_test(exec_truncated_everywhere),
		cmocka_unit_test(exec_string_with_nul),
		cmocka_unit_test(string_with_nul_elsewhere),
		cmocka_unit_test(string_length_limit),
		cmocka_unit_test(exec_argc_zero),
		cmocka_unit_test(exec_counts_over_limit),
		cmocka_unit_test(exec_env_without_equals),
		cmocka_unit_test(exec_unknown_flags),
		cmocka_unit_test(exec_over_max_payload),
		cmocka_unit_test(scalar_ranges),
		cmocka_unit_test(error_and_mode_ranges_decoded),
		cmocka_unit_test(writer_overflow),
		cmocka_unit_test(writer_payload_over_max),
		cmocka_unit_test(writer_misuse),
		cmocka_unit_test(reader_failure_sticks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
