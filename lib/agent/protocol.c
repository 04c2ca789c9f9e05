#include "agent/protocol.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/le.h"

#define NO_FRAME SIZE_MAX
/* Linux's MAX_ERRNO: larger values are not errors, and -err must fit an int. */
#define MAX_ERRNO 4095
#define MAX_SIGNAL 64
#define MAX_EXIT_CODE 255
#define MODE_BITS 07777u
#define EXEC_FLAGS AGENT_EXEC_STDIN

/*
 * What each type is called and how long its payload may be: the one table
 * behind both the receiver's header check and the writer's frame_end check,
 * so the two cannot disagree.
 */
struct type_info {
	const char *name; /* NULL: no such type */
	uint32_t min, max;
};

#define FIXED(n) n, n
#define AT_LEAST(n) n, AGENT_MAX_PAYLOAD
#define DATA 1, AGENT_DATA_CHUNK
#define U32 4
#define U64 8
#define STR 4 /* an empty string is its length alone */

static const struct type_info types[] = {
	[AGENT_H2G_HELLO] = { "HELLO", FIXED(U32) },
	[AGENT_H2G_PING] = { "PING", FIXED(0) },
	/* session, flags, uid, gid, cwd, argc, one argument, envc */
	[AGENT_H2G_EXEC] = { "EXEC", AT_LEAST(U64 + 3 * U32 + STR + U32 + STR + U32) },
	[AGENT_H2G_STDIN] = { "STDIN", DATA },
	[AGENT_H2G_STDIN_EOF] = { "STDIN_EOF", FIXED(0) },
	[AGENT_H2G_KILL] = { "KILL", FIXED(U32) },
	[AGENT_H2G_FILE_WRITE] = { "FILE_WRITE", AT_LEAST(U32 + U64 + STR) },
	[AGENT_H2G_FILE_READ] = { "FILE_READ", AT_LEAST(U64 + STR) },
	[AGENT_H2G_FILE_DATA] = { "FILE_DATA", DATA },
	[AGENT_H2G_SYNC] = { "SYNC", FIXED(U64 + AGENT_SYNC_SEED_SIZE) },

	[AGENT_G2H_HELLO] = { "HELLO", AT_LEAST(U32 + STR) },
	[AGENT_G2H_PONG] = { "PONG", FIXED(0) },
	[AGENT_G2H_STARTED] = { "STARTED", FIXED(U32) },
	[AGENT_G2H_STDOUT] = { "STDOUT", DATA },
	[AGENT_G2H_STDERR] = { "STDERR", DATA },
	[AGENT_G2H_EXITED] = { "EXITED", FIXED(2 * U32 + 4 * U64) },
	[AGENT_G2H_ERROR] = { "ERROR", AT_LEAST(U32 + STR) },
	[AGENT_G2H_OK] = { "OK", FIXED(0) },
	[AGENT_G2H_FILE_INFO] = { "FILE_INFO", FIXED(U64) },
	[AGENT_G2H_FILE_DATA] = { "FILE_DATA", DATA },
	[AGENT_G2H_FILE_END] = { "FILE_END", FIXED(0) },
	[AGENT_G2H_EXEC_FAILED] = { "EXEC_FAILED", AT_LEAST(U32 + STR) },
};

static const struct type_info *type_info(uint16_t type)
{
	if (type >= sizeof(types) / sizeof(types[0]) || !types[type].name)
		return NULL;
	return &types[type];
}

int agent_frame_header_parse(const uint8_t hdr[AGENT_HEADER_SIZE],
			     struct agent_frame_header *out)
{
	uint32_t len = (uint32_t)le_load(hdr, 4);
	uint16_t type = (uint16_t)le_load(hdr + 4, 2);
	uint16_t flags = (uint16_t)le_load(hdr + 6, 2);
	const struct type_info *info = type_info(type);

	if (flags || !info)
		return -EPROTO;
	if (len > AGENT_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (len < info->min || len > info->max)
		return -EPROTO;
	*out = (struct agent_frame_header){ .len = len, .type = type };
	return 0;
}

const char *agent_type_name(uint16_t type)
{
	const struct type_info *info = type_info(type);

	return info ? info->name : "unknown";
}

/* ---- Writer ---- */

static void fail(struct agent_writer *w, int err)
{
	if (!w->err)
		w->err = err;
}

void agent_writer_init(struct agent_writer *w, void *buf, size_t cap)
{
	*w = (struct agent_writer){ .buf = buf, .cap = cap, .frame = NO_FRAME };
}

/* n bytes at the end of the buffer, or NULL with err set. */
static uint8_t *reserve(struct agent_writer *w, size_t n)
{
	uint8_t *p;

	if (w->err)
		return NULL;
	if (n > w->cap - w->len) {
		fail(w, -EMSGSIZE);
		return NULL;
	}
	p = w->buf + w->len;
	w->len += n;
	return p;
}

static void put_le(struct agent_writer *w, uint64_t v, unsigned int n)
{
	uint8_t *p = reserve(w, n);

	if (p)
		le_store(p, v, n);
}

void agent_put_u32(struct agent_writer *w, uint32_t v)
{
	put_le(w, v, 4);
}

void agent_put_u64(struct agent_writer *w, uint64_t v)
{
	put_le(w, v, 8);
}

void agent_put_bytes(struct agent_writer *w, const void *p, size_t n)
{
	uint8_t *dst = reserve(w, n);

	/* memcpy from NULL is undefined even for 0 bytes, and empty frames pass NULL. */
	if (dst && n)
		memcpy(dst, p, n);
}

void agent_put_string(struct agent_writer *w, const char *s, size_t len)
{
	if (len > AGENT_MAX_STRING)
		fail(w, -E2BIG);
	else if (len && memchr(s, '\0', len))
		fail(w, -EINVAL);
	agent_put_u32(w, (uint32_t)len);
	agent_put_bytes(w, s, len);
}

static void put_cstring(struct agent_writer *w, const char *s)
{
	agent_put_string(w, s, strlen(s));
}

void agent_frame_begin(struct agent_writer *w, uint16_t type)
{
	uint8_t *hdr;

	if (w->frame != NO_FRAME || !type_info(type))
		fail(w, -EINVAL);
	hdr = reserve(w, AGENT_HEADER_SIZE);
	if (!hdr)
		return;
	/* The length is patched by agent_frame_end(); flags are 0 in v1. */
	le_store(hdr, 0, 4);
	le_store(hdr + 4, type, 2);
	le_store(hdr + 6, 0, 2);
	w->frame = (size_t)(hdr - w->buf);
}

int agent_frame_end(struct agent_writer *w)
{
	uint8_t *hdr;
	const struct type_info *info;
	size_t len;

	if (w->err)
		return w->err;
	if (w->frame == NO_FRAME) {
		fail(w, -EINVAL);
		return w->err;
	}
	hdr = w->buf + w->frame;
	info = type_info((uint16_t)le_load(hdr + 4, 2));
	len = w->len - w->frame - AGENT_HEADER_SIZE;
	if (len > AGENT_MAX_PAYLOAD)
		fail(w, -EMSGSIZE);
	else if (len < info->min || len > info->max)
		fail(w, -EINVAL);
	else
		le_store(hdr, len, 4);
	w->frame = NO_FRAME;
	return w->err;
}

/* ---- Reader ---- */

void agent_reader_init(struct agent_reader *r, const void *payload, size_t len)
{
	*r = (struct agent_reader){ .p = payload, .left = len };
}

const uint8_t *agent_get_bytes(struct agent_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->err)
		return NULL;
	if (n > r->left) {
		r->err = -EPROTO;
		return NULL;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

uint32_t agent_get_u32(struct agent_reader *r)
{
	const uint8_t *p = agent_get_bytes(r, 4);

	return p ? (uint32_t)le_load(p, 4) : 0;
}

uint64_t agent_get_u64(struct agent_reader *r)
{
	const uint8_t *p = agent_get_bytes(r, 8);

	return p ? le_load(p, 8) : 0;
}

void agent_get_string(struct agent_reader *r, struct agent_str *out)
{
	uint32_t len = agent_get_u32(r);
	const uint8_t *p;

	*out = (struct agent_str){ .ptr = "", .len = 0 };
	/* Checked before taking the bytes, so a huge length fails as a bound, not a skip. */
	if (!r->err && len > AGENT_MAX_STRING)
		r->err = -EPROTO;
	p = agent_get_bytes(r, len);
	if (!p)
		return;
	if (memchr(p, '\0', len)) {
		r->err = -EPROTO;
		return;
	}
	*out = (struct agent_str){ .ptr = (const char *)p, .len = len };
}

int agent_reader_end(const struct agent_reader *r)
{
	if (r->err)
		return r->err;
	return r->left ? -EPROTO : 0;
}

/* ---- Messages ---- */

/*
 * The range rules each message's fields obey, shared by its encoder (a
 * violation is the caller's -EINVAL) and its decoder (the peer's -EPROTO).
 */
static bool in_range(uint64_t v, uint64_t min, uint64_t max)
{
	return v >= min && v <= max;
}

static bool env_entry_ok(const char *s, size_t len)
{
	return len > 0 && s[0] != '=' && memchr(s, '=', len);
}

static bool exited_ok(const struct agent_exited *e)
{
	if (e->how == AGENT_EXITED_CODE)
		return e->code <= MAX_EXIT_CODE;
	return e->how == AGENT_EXITED_SIGNAL && in_range(e->code, 1, MAX_SIGNAL);
}

/* Encode a frame holding one u32 or u64 in [min, max]. */
static int scalar_encode(struct agent_writer *w, uint16_t type, uint64_t v, unsigned int size,
			 uint64_t min, uint64_t max)
{
	if (!in_range(v, min, max))
		fail(w, -EINVAL);
	agent_frame_begin(w, type);
	put_le(w, v, size);
	return agent_frame_end(w);
}

static int scalar_decode(const uint8_t *p, size_t len, unsigned int size, uint64_t min,
			 uint64_t max, uint64_t *out)
{
	struct agent_reader r;
	const uint8_t *bytes;
	uint64_t v;
	int err;

	agent_reader_init(&r, p, len);
	bytes = agent_get_bytes(&r, size);
	err = agent_reader_end(&r);
	if (err)
		return err;
	v = le_load(bytes, size);
	if (!in_range(v, min, max))
		return -EPROTO;
	*out = v;
	return 0;
}

/* A u32 message through scalar_decode(), for the callers' uint32_t outputs. */
static int u32_decode(const uint8_t *p, size_t len, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;
	int err = scalar_decode(p, len, 4, min, max, &v);

	if (!err)
		*out = (uint32_t)v;
	return err;
}

int agent_frame_encode(struct agent_writer *w, uint16_t type, const void *payload, size_t len)
{
	agent_frame_begin(w, type);
	agent_put_bytes(w, payload, len);
	return agent_frame_end(w);
}

int agent_host_hello_encode(struct agent_writer *w, uint32_t version)
{
	return scalar_encode(w, AGENT_H2G_HELLO, version, 4, 1, UINT32_MAX);
}

int agent_host_hello_decode(const uint8_t *p, size_t len, uint32_t *version)
{
	return u32_decode(p, len, 1, UINT32_MAX, version);
}

int agent_guest_hello_encode(struct agent_writer *w, uint32_t version, const char *agent_version)
{
	if (version == 0)
		fail(w, -EINVAL);
	agent_frame_begin(w, AGENT_G2H_HELLO);
	agent_put_u32(w, version);
	put_cstring(w, agent_version);
	return agent_frame_end(w);
}

int agent_guest_hello_decode(const uint8_t *p, size_t len, struct agent_guest_hello *out)
{
	struct agent_reader r;
	struct agent_guest_hello h;
	int err;

	agent_reader_init(&r, p, len);
	h.version = agent_get_u32(&r);
	agent_get_string(&r, &h.agent_version);
	err = agent_reader_end(&r);
	if (err)
		return err;
	if (h.version == 0)
		return -EPROTO;
	*out = h;
	return 0;
}

int agent_exec_encode(struct agent_writer *w, const struct agent_exec_args *a)
{
	if (a->argc == 0 || (a->flags & ~EXEC_FLAGS))
		fail(w, -EINVAL);
	if (a->argc > AGENT_MAX_ARGS || a->envc > AGENT_MAX_ENV)
		fail(w, -E2BIG);
	for (uint32_t i = 0; !w->err && i < a->envc; i++)
		if (!env_entry_ok(a->envp[i], strlen(a->envp[i])))
			fail(w, -EINVAL);
	if (w->err)
		return w->err;

	agent_frame_begin(w, AGENT_H2G_EXEC);
	agent_put_u64(w, a->session);
	agent_put_u32(w, a->flags);
	agent_put_u32(w, a->uid);
	agent_put_u32(w, a->gid);
	put_cstring(w, a->cwd ? a->cwd : "");
	agent_put_u32(w, a->argc);
	for (uint32_t i = 0; i < a->argc; i++)
		put_cstring(w, a->argv[i]);
	agent_put_u32(w, a->envc);
	for (uint32_t i = 0; i < a->envc; i++)
		put_cstring(w, a->envp[i]);
	return agent_frame_end(w);
}

/*
 * Read a count in [min, max] and that many strings, remembering where they
 * start so agent_strings_next() can walk them again without checks failing.
 */
static void get_strings(struct agent_reader *r, uint32_t min, uint32_t max, bool env,
			struct agent_strings *out)
{
	uint32_t count = agent_get_u32(r);
	struct agent_str s;

	if (r->err)
		return;
	if (!in_range(count, min, max)) {
		r->err = -EPROTO;
		return;
	}
	*out = (struct agent_strings){ .count = count, .r = *r };
	for (uint32_t i = 0; i < count && !r->err; i++) {
		agent_get_string(r, &s);
		if (!r->err && env && !env_entry_ok(s.ptr, s.len))
			r->err = -EPROTO;
	}
}

int agent_exec_decode(const uint8_t *p, size_t len, struct agent_exec_msg *out)
{
	struct agent_reader r;
	struct agent_exec_msg m = { 0 };
	int err;

	agent_reader_init(&r, p, len);
	m.session = agent_get_u64(&r);
	m.flags = agent_get_u32(&r);
	m.uid = agent_get_u32(&r);
	m.gid = agent_get_u32(&r);
	if (m.flags & ~EXEC_FLAGS)
		r.err = -EPROTO;
	agent_get_string(&r, &m.cwd);
	get_strings(&r, 1, AGENT_MAX_ARGS, false, &m.argv);
	get_strings(&r, 0, AGENT_MAX_ENV, true, &m.env);
	err = agent_reader_end(&r);
	if (err)
		return err;
	*out = m;
	return 0;
}

bool agent_strings_next(struct agent_strings *s, struct agent_str *out)
{
	if (s->next >= s->count)
		return false;
	/* Decoding validated these bytes; the reader still bounds a misused iterator. */
	agent_get_string(&s->r, out);
	if (s->r.err) {
		s->next = s->count;
		return false;
	}
	s->next++;
	return true;
}

int agent_kill_encode(struct agent_writer *w, uint32_t signal)
{
	return scalar_encode(w, AGENT_H2G_KILL, signal, 4, 1, MAX_SIGNAL);
}

int agent_kill_decode(const uint8_t *p, size_t len, uint32_t *signal)
{
	return u32_decode(p, len, 1, MAX_SIGNAL, signal);
}

int agent_file_write_encode(struct agent_writer *w, uint32_t mode, uint64_t size, const char *path)
{
	if (mode & ~MODE_BITS)
		fail(w, -EINVAL);
	agent_frame_begin(w, AGENT_H2G_FILE_WRITE);
	agent_put_u32(w, mode);
	agent_put_u64(w, size);
	put_cstring(w, path);
	return agent_frame_end(w);
}

int agent_file_write_decode(const uint8_t *p, size_t len, struct agent_file_write *out)
{
	struct agent_reader r;
	struct agent_file_write f;
	int err;

	agent_reader_init(&r, p, len);
	f.mode = agent_get_u32(&r);
	f.size = agent_get_u64(&r);
	agent_get_string(&r, &f.path);
	err = agent_reader_end(&r);
	if (err)
		return err;
	if (f.mode & ~MODE_BITS)
		return -EPROTO;
	*out = f;
	return 0;
}

int agent_file_read_encode(struct agent_writer *w, uint64_t max_size, const char *path)
{
	agent_frame_begin(w, AGENT_H2G_FILE_READ);
	agent_put_u64(w, max_size);
	put_cstring(w, path);
	return agent_frame_end(w);
}

int agent_file_read_decode(const uint8_t *p, size_t len, struct agent_file_read *out)
{
	struct agent_reader r;
	struct agent_file_read f;
	int err;

	agent_reader_init(&r, p, len);
	f.max_size = agent_get_u64(&r);
	agent_get_string(&r, &f.path);
	err = agent_reader_end(&r);
	if (err)
		return err;
	*out = f;
	return 0;
}

int agent_sync_encode(struct agent_writer *w, uint64_t realtime_ns,
		      const uint8_t seed[AGENT_SYNC_SEED_SIZE])
{
	agent_frame_begin(w, AGENT_H2G_SYNC);
	agent_put_u64(w, realtime_ns);
	agent_put_bytes(w, seed, AGENT_SYNC_SEED_SIZE);
	return agent_frame_end(w);
}

int agent_sync_decode(const uint8_t *p, size_t len, struct agent_sync *out)
{
	struct agent_reader r;
	struct agent_sync s;
	int err;

	agent_reader_init(&r, p, len);
	s.realtime_ns = agent_get_u64(&r);
	s.seed = agent_get_bytes(&r, AGENT_SYNC_SEED_SIZE);
	err = agent_reader_end(&r);
	if (err)
		return err;
	*out = s;
	return 0;
}

int agent_started_encode(struct agent_writer *w, uint32_t pid)
{
	return scalar_encode(w, AGENT_G2H_STARTED, pid, 4, 1, UINT32_MAX);
}

int agent_started_decode(const uint8_t *p, size_t len, uint32_t *pid)
{
	return u32_decode(p, len, 1, UINT32_MAX, pid);
}

int agent_exited_encode(struct agent_writer *w, const struct agent_exited *e)
{
	if (!exited_ok(e))
		fail(w, -EINVAL);
	agent_frame_begin(w, AGENT_G2H_EXITED);
	agent_put_u32(w, e->how);
	agent_put_u32(w, e->code);
	agent_put_u64(w, e->wall_us);
	agent_put_u64(w, e->user_us);
	agent_put_u64(w, e->sys_us);
	agent_put_u64(w, e->maxrss_kib);
	return agent_frame_end(w);
}

int agent_exited_decode(const uint8_t *p, size_t len, struct agent_exited *out)
{
	struct agent_reader r;
	struct agent_exited e;
	int err;

	agent_reader_init(&r, p, len);
	e.how = agent_get_u32(&r);
	e.code = agent_get_u32(&r);
	e.wall_us = agent_get_u64(&r);
	e.user_us = agent_get_u64(&r);
	e.sys_us = agent_get_u64(&r);
	e.maxrss_kib = agent_get_u64(&r);
	err = agent_reader_end(&r);
	if (err)
		return err;
	if (!exited_ok(&e))
		return -EPROTO;
	*out = e;
	return 0;
}

static int errno_message_encode(struct agent_writer *w, uint16_t type, uint32_t err,
				const char *message)
{
	if (!in_range(err, 1, MAX_ERRNO))
		fail(w, -EINVAL);
	agent_frame_begin(w, type);
	agent_put_u32(w, err);
	put_cstring(w, message);
	return agent_frame_end(w);
}

int agent_error_encode(struct agent_writer *w, uint32_t err, const char *message)
{
	return errno_message_encode(w, AGENT_G2H_ERROR, err, message);
}

int agent_exec_failed_encode(struct agent_writer *w, uint32_t err, const char *message)
{
	return errno_message_encode(w, AGENT_G2H_EXEC_FAILED, err, message);
}

int agent_error_decode(const uint8_t *p, size_t len, struct agent_error *out)
{
	struct agent_reader r;
	struct agent_error e;
	int err;

	agent_reader_init(&r, p, len);
	e.err = agent_get_u32(&r);
	agent_get_string(&r, &e.message);
	err = agent_reader_end(&r);
	if (err)
		return err;
	if (!in_range(e.err, 1, MAX_ERRNO))
		return -EPROTO;
	*out = e;
	return 0;
}

int agent_file_info_encode(struct agent_writer *w, uint64_t size)
{
	return scalar_encode(w, AGENT_G2H_FILE_INFO, size, 8, 0, UINT64_MAX);
}

int agent_file_info_decode(const uint8_t *p, size_t len, uint64_t *size)
{
	return scalar_decode(p, len, 8, 0, UINT64_MAX, size);
}
