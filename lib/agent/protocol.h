/*
 * The host<->guest agent protocol, v1: frames, their payloads, and the
 * bounds a receiver checks before it trusts a byte. doc/protocol.md is the
 * specification (transport, sequencing, errors, versioning); this file is the
 * one encoder/decoder both ends compile, the library (lib/agent/) and the
 * static in-guest agent (guest/agent/). Hence libc only, no project headers,
 * and failures as negative errno values instead of the library's error
 * detail: the guest has no agentvm_last_error().
 *
 * Nothing here allocates, blocks or keeps global state; every function is
 * safe to call from any thread on objects that thread owns. Decoded strings
 * (and SYNC's seed) point into the caller's payload buffer; strings are NOT
 * NUL-terminated.
 *
 * Error codes, chosen so a caller can tell whose fault it is:
 *   -EPROTO    received bytes break the protocol (decoders, readers, header);
 *   -EMSGSIZE  a frame header announces more than AGENT_MAX_PAYLOAD, or a
 *              frame or put does not fit (writer);
 *   -EINVAL    the caller asked to encode something the protocol forbids;
 *   -E2BIG     ... or something over a count or string limit.
 */
#ifndef AGENTVM_AGENT_PROTOCOL_H
#define AGENTVM_AGENT_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_PROTOCOL_VERSION 1
#define AGENT_VSOCK_PORT 1024

#define AGENT_HEADER_SIZE 8
/* Bounds what a receiver allocates for one frame; an EXEC must fit in it. */
#define AGENT_MAX_PAYLOAD (1024 * 1024)
/* STDIN, STDOUT, STDERR and FILE_DATA carry 1..AGENT_DATA_CHUNK bytes. */
#define AGENT_DATA_CHUNK (64 * 1024)
#define AGENT_MAX_STRING (64 * 1024)
#define AGENT_MAX_ARGS 4096
#define AGENT_MAX_ENV 4096
/* SYNC's seed: as much as the kernel's CRNG keys itself with (256 bits). */
#define AGENT_SYNC_SEED_SIZE 32

/*
 * Frame types. The numbers are the wire format: never renumber or reuse one.
 * Host to guest is 1..63, guest to host 64..127, so a frame's direction is
 * in its number. HELLO and FILE_DATA exist in both directions, as two types.
 */
enum agent_type {
	AGENT_H2G_HELLO = 1,
	AGENT_H2G_PING = 2,
	AGENT_H2G_EXEC = 3,
	AGENT_H2G_STDIN = 4,
	AGENT_H2G_STDIN_EOF = 5,
	AGENT_H2G_KILL = 6,
	AGENT_H2G_FILE_WRITE = 7,
	AGENT_H2G_FILE_READ = 8,
	AGENT_H2G_FILE_DATA = 9,
	AGENT_H2G_SYNC = 10,

	AGENT_G2H_HELLO = 64,
	AGENT_G2H_PONG = 65,
	AGENT_G2H_STARTED = 66,
	AGENT_G2H_STDOUT = 67,
	AGENT_G2H_STDERR = 68,
	AGENT_G2H_EXITED = 69,
	AGENT_G2H_ERROR = 70,
	AGENT_G2H_OK = 71,
	AGENT_G2H_FILE_INFO = 72,
	AGENT_G2H_FILE_DATA = 73,
	AGENT_G2H_FILE_END = 74,
	AGENT_G2H_EXEC_FAILED = 75,
};

/* EXEC flags. */
#define AGENT_EXEC_STDIN 0x1u /* the host sends STDIN frames; else stdin is /dev/null */
/* EXEC uid/gid: run with the agent's own id. */
#define AGENT_ID_KEEP 0xffffffffu
/* EXITED how. */
#define AGENT_EXITED_CODE 0   /* code is the exit status, 0..255 */
#define AGENT_EXITED_SIGNAL 1 /* code is the signal that killed it, 1..64 */

/* A string inside a payload: len bytes, no NUL among them, none after. */
struct agent_str {
	const char *ptr;
	uint32_t len;
};

/* ---- Frame header ---- */

/* A validated header: flags were 0, the type is known, len fits the type. */
struct agent_frame_header {
	uint32_t len;
	uint16_t type;
};

/*
 * Check the 8 header bytes a receiver reads first, so it reads (and
 * allocates) at most out->len more. 0; -EMSGSIZE for a length over
 * AGENT_MAX_PAYLOAD; -EPROTO for nonzero flags, an unknown type, or a length
 * the type cannot have (a KILL that is not 4 bytes, a data frame of 0 or
 * over AGENT_DATA_CHUNK bytes, an EXEC too short to hold one argument).
 * *out is written only on success.
 */
int agent_frame_header_parse(const uint8_t hdr[AGENT_HEADER_SIZE],
			     struct agent_frame_header *out);

/* "EXEC", "STDOUT", ... for messages; "unknown" for a number with no type. */
const char *agent_type_name(uint16_t type);

/* ---- Writing frames ---- */

/*
 * Frames laid out in a caller's buffer, any number back to back. The first
 * failure sticks in err and turns every later call into a no-op, so a caller
 * checks once, at agent_frame_end() or an encoder's return. After a failure
 * the buffer holds no complete frame worth sending: start over with
 * agent_writer_init().
 */
struct agent_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;   /* bytes laid out so far */
	int err;      /* 0 or the first negative errno */
	size_t frame; /* where the open frame's header starts; SIZE_MAX if none */
};

void agent_writer_init(struct agent_writer *w, void *buf, size_t cap);

/* Open a frame of a known type (else -EINVAL); one at a time (else -EINVAL). */
void agent_frame_begin(struct agent_writer *w, uint16_t type);

/*
 * Close the open frame: patch its length and check it against the rules the
 * receiver's agent_frame_header_parse() applies (-EMSGSIZE over
 * AGENT_MAX_PAYLOAD, -EINVAL for a length the type cannot have), so a
 * writer never emits a frame the peer must reject for its size. Returns err.
 */
int agent_frame_end(struct agent_writer *w);

/* Payload pieces; -EMSGSIZE when the buffer is full. */
void agent_put_u32(struct agent_writer *w, uint32_t v);
void agent_put_u64(struct agent_writer *w, uint64_t v);
void agent_put_bytes(struct agent_writer *w, const void *p, size_t n);
/* le32 length then bytes; -EINVAL for a NUL among them, -E2BIG over AGENT_MAX_STRING. */
void agent_put_string(struct agent_writer *w, const char *s, size_t len);

/* ---- Reading payloads ---- */

/*
 * A cursor over one frame's payload. Reading past its end sets err to
 * -EPROTO, which sticks: later gets return 0/NULL/empty and do not move.
 */
struct agent_reader {
	const uint8_t *p;
	size_t left;
	int err;
};

void agent_reader_init(struct agent_reader *r, const void *payload, size_t len);
uint32_t agent_get_u32(struct agent_reader *r);
uint64_t agent_get_u64(struct agent_reader *r);
/* The next n bytes, in place; NULL on failure. */
const uint8_t *agent_get_bytes(struct agent_reader *r, size_t n);
/* A string, in place; -EPROTO over AGENT_MAX_STRING or with a NUL inside. */
void agent_get_string(struct agent_reader *r, struct agent_str *out);
/* err, or -EPROTO if bytes are left over: every payload is consumed exactly. */
int agent_reader_end(const struct agent_reader *r);

/* ---- Messages ----
 *
 * Each encoder appends one whole frame and returns the writer's err (so an
 * earlier failure is returned, not hidden). Each decoder takes the payload of
 * a frame whose header agent_frame_header_parse() accepted, checks every
 * field, requires that nothing is left over, and writes *out only on success
 * (-EPROTO otherwise). Frames with no payload (PING, PONG, STDIN_EOF, OK,
 * FILE_END) and data frames need no decoder: the header says it all.
 */

/* Any frame whose payload is opaque: a data frame, or an empty one (len 0). */
int agent_frame_encode(struct agent_writer *w, uint16_t type, const void *payload, size_t len);

/* HELLO, host to guest: the highest protocol version the host speaks (>= 1). */
int agent_host_hello_encode(struct agent_writer *w, uint32_t version);
int agent_host_hello_decode(const uint8_t *p, size_t len, uint32_t *version);

/* HELLO, guest to host: the version both will speak, and the agent's build. */
struct agent_guest_hello {
	uint32_t version;
	struct agent_str agent_version;
};
int agent_guest_hello_encode(struct agent_writer *w, uint32_t version, const char *agent_version);
int agent_guest_hello_decode(const uint8_t *p, size_t len, struct agent_guest_hello *out);

/* EXEC as the host fills it in: C strings, copied into the frame. */
struct agent_exec_args {
	uint64_t session;
	uint32_t flags;    /* AGENT_EXEC_* */
	uint32_t uid, gid; /* or AGENT_ID_KEEP */
	const char *cwd;   /* NULL or "" for "/" */
	const char *const *argv;
	uint32_t argc;     /* 1..AGENT_MAX_ARGS */
	const char *const *envp; /* each "NAME=value", NAME not empty */
	uint32_t envc;     /* 0..AGENT_MAX_ENV */
};

/*
 * -EINVAL for argc 0, unknown flags or an environment entry without a name
 * and '='; -E2BIG over a count or string limit; -EMSGSIZE when it all is
 * over AGENT_MAX_PAYLOAD or the buffer.
 */
int agent_exec_encode(struct agent_writer *w, const struct agent_exec_args *a);

/*
 * A run of validated strings inside a payload (argv, env), walked without
 * allocating: count is known up front, so a guest can size its char *[]
 * before copying each string out NUL-terminated.
 */
struct agent_strings {
	uint32_t count;
	uint32_t next;          /* index of the string agent_strings_next() returns */
	struct agent_reader r;  /* positioned at string `next` */
};

/* The next string into *out and true, or false after the last one. */
bool agent_strings_next(struct agent_strings *s, struct agent_str *out);

/* EXEC as the guest decodes it: strings point into the payload. */
struct agent_exec_msg {
	uint64_t session;
	uint32_t flags;
	uint32_t uid, gid;
	struct agent_str cwd; /* empty means "/" */
	struct agent_strings argv, env;
};
int agent_exec_decode(const uint8_t *p, size_t len, struct agent_exec_msg *out);

/* KILL: a signal number, 1..64. */
int agent_kill_encode(struct agent_writer *w, uint32_t signal);
int agent_kill_decode(const uint8_t *p, size_t len, uint32_t *signal);

/* FILE_WRITE: permission bits (no more than 07777), exact size, path. */
struct agent_file_write {
	uint32_t mode;
	uint64_t size;
	struct agent_str path;
};
int agent_file_write_encode(struct agent_writer *w, uint32_t mode, uint64_t size, const char *path);
int agent_file_write_decode(const uint8_t *p, size_t len, struct agent_file_write *out);

/* FILE_READ: the largest file the host accepts, path. */
struct agent_file_read {
	uint64_t max_size;
	struct agent_str path;
};
int agent_file_read_encode(struct agent_writer *w, uint64_t max_size, const char *path);
int agent_file_read_decode(const uint8_t *p, size_t len, struct agent_file_read *out);

/*
 * SYNC, sent after a restore: the host's CLOCK_REALTIME in nanoseconds since
 * the epoch, and fresh randomness for the guest's kernel. Every value of
 * both is valid on the wire.
 */
struct agent_sync {
	uint64_t realtime_ns;
	const uint8_t *seed; /* AGENT_SYNC_SEED_SIZE bytes */
};
int agent_sync_encode(struct agent_writer *w, uint64_t realtime_ns,
		      const uint8_t seed[AGENT_SYNC_SEED_SIZE]);
int agent_sync_decode(const uint8_t *p, size_t len, struct agent_sync *out);

/* STARTED: the command's pid in the guest, > 0. */
int agent_started_encode(struct agent_writer *w, uint32_t pid);
int agent_started_decode(const uint8_t *p, size_t len, uint32_t *pid);

/* EXITED: how the command ended and what it cost. */
struct agent_exited {
	uint32_t how;  /* AGENT_EXITED_CODE or AGENT_EXITED_SIGNAL */
	uint32_t code; /* exit status 0..255, or signal 1..64 */
	uint64_t wall_us, user_us, sys_us;
	uint64_t maxrss_kib;
};
int agent_exited_encode(struct agent_writer *w, const struct agent_exited *e);
int agent_exited_decode(const uint8_t *p, size_t len, struct agent_exited *out);

/*
 * ERROR: a Linux errno value (1..4095, positive on the wire) and one line
 * for a human. A guest should bound what it formats into the message
 * ("%.200s" for a path): over AGENT_MAX_STRING the encoder fails.
 */
struct agent_error {
	uint32_t err;
	struct agent_str message;
};
int agent_error_encode(struct agent_writer *w, uint32_t err, const char *message);
int agent_error_decode(const uint8_t *p, size_t len, struct agent_error *out);

/*
 * EXEC_FAILED: execve() itself refused the command (the errno says why:
 * ENOENT, EACCES, ENOEXEC, ...), as opposed to an ERROR in an earlier step
 * such as chdir. Same payload as ERROR, so agent_error_decode() reads it;
 * the distinct type is what lets a host map ENOENT to 127 without also
 * mapping a missing working directory to "command not found".
 */
int agent_exec_failed_encode(struct agent_writer *w, uint32_t err, const char *message);

/* FILE_INFO: the size of the file FILE_DATA frames will carry. */
int agent_file_info_encode(struct agent_writer *w, uint64_t size);
int agent_file_info_decode(const uint8_t *p, size_t len, uint64_t *size);

#endif
