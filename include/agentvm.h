/*
 * agentvm.h - libagentvm public API: disposable KVM microVMs for untrusted workloads.
 *
 * This header is the contract. Every function returns 0 (or a documented
 * non-negative value) on success and a negative <errno.h> value on failure;
 * after a failure, agentvm_last_error() returns one sentence naming the cause
 * for the calling thread. Outputs (`**out`, `*out`) are written only on
 * success. Objects returned through `**out` belong to the caller and are
 * released with their matching `_free`, which accepts NULL.
 *
 * The library keeps no global state a host program can trip over: no init
 * call, no output to stdout/stderr, no atexit handler, every file descriptor
 * it opens is close-on-exec. Many VMs may live in one process at once and are
 * fully independent of each other.
 *
 * Signals: vCPU threads are kicked out of the guest with the real-time signal
 * AGENTVM_KICK_SIGNAL(). The library installs a no-op handler for it only if
 * its disposition is SIG_DFL when the first VM starts; a handler the host set
 * itself is kept (any handler works). A host that ignores that signal
 * (SIG_IGN) gets -EINVAL from agentvm_vm_start(). vCPU threads block every
 * other signal, so host signal handlers never run on them.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef AGENTVM_H
#define AGENTVM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AGENTVM_VERSION_MAJOR 0
#define AGENTVM_VERSION_MINOR 1
#define AGENTVM_VERSION_PATCH 0
/** The version this header describes, as one number: major*10000 + minor*100 + patch. */
#define AGENTVM_VERSION_NUMBER \
	(AGENTVM_VERSION_MAJOR * 10000 + AGENTVM_VERSION_MINOR * 100 + AGENTVM_VERSION_PATCH)

/* Marks the exported functions; everything else in the library is hidden. */
#if defined(__GNUC__)
#define AGENTVM_API __attribute__((visibility("default")))
#else
#define AGENTVM_API
#endif

/** Offset of the vCPU kick signal from SIGRTMIN; see AGENTVM_KICK_SIGNAL(). */
#define AGENTVM_KICK_SIGNAL_OFFSET 6
/** The real-time signal that interrupts vCPU threads (SIGRTMIN + 6). */
#define AGENTVM_KICK_SIGNAL() (SIGRTMIN + AGENTVM_KICK_SIGNAL_OFFSET)

/* ------------------------------------------------------------------------ */
/* Library                                                                  */

/**
 * The library's version string, "MAJOR.MINOR.PATCH". Static storage; never NULL.
 * Compare agentvm_version_number() with AGENTVM_VERSION_NUMBER to detect a
 * header/library mismatch. Thread-safe.
 */
AGENTVM_API const char *agentvm_version(void);

/** The library's version as AGENTVM_VERSION_NUMBER computes it. Thread-safe. */
AGENTVM_API uint32_t agentvm_version_number(void);

/**
 * The detail message of the last failed call on this thread: one sentence
 * naming the cause (the path, the value, the limit). Never NULL; "" if no call
 * failed on this thread yet. Valid until the next libagentvm call on the same
 * thread. Thread-safe (thread-local storage).
 */
AGENTVM_API const char *agentvm_last_error(void);

/** The most VMs agentvm_set_spare_vms() keeps created ahead of need. */
#define AGENTVM_MAX_SPARE_VMS 8

/**
 * Keep `count` KVM VMs created ahead of need in this process: agentvm_vm_new()
 * and agentvm_vm_restore() take one instead of creating their own, and a
 * library thread (`agentvm-spare`) creates the next in the background. On
 * Linux 6.1-6.12 creating a VM waits for an RCU grace period (15-35 ms in the
 * test host, doc/performance.md), the longest single step of a restore; for a
 * process that makes sandboxes one after another, that wait leaves the
 * critical path. While it runs, the same thread also closes the last
 * descriptor of each VM agentvm_vm_free() ends, whose teardown in KVM waits
 * for grace periods as well (24-60 ms there): agentvm_vm_free() then returns
 * with the VM stopped and its memory, threads and other descriptors released,
 * and that descriptor and /dev/kvm's are closed moments later. Each spare
 * holds two descriptors and a KVM VM (kernel memory and, on x86_64, a kernel
 * thread). 0, the default, closes the spares and whatever is left to close
 * and stops the thread. A child of fork() starts with none. KVM names a VM's
 * debugfs directory after the thread that created it, so a VM taken from the
 * spares is listed under that thread's id rather than the process's.
 * Thread-safe.
 * @return 0; -EINVAL if count is over AGENTVM_MAX_SPARE_VMS; -errno if the
 *         thread cannot start. A spare that cannot be created (no /dev/kvm)
 *         is no error here: agentvm_vm_new() then reports why.
 */
AGENTVM_API int agentvm_set_spare_vms(uint32_t count);

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */

/** A VM configuration: an opaque set of options, copied by agentvm_vm_new(). */
typedef struct agentvm_config agentvm_config;

/**
 * Receives guest console output. Called on a vCPU thread, in guest order, as
 * the guest writes it; it must return quickly (the vCPU waits for it) and
 * must not call agentvm_vm_free() or agentvm_vm_wait() on the same VM.
 * @param data bytes written by the guest; valid only during the call.
 * @param len  number of bytes, at least 1.
 * @param payload the pointer given to agentvm_config_set_console_callback().
 */
typedef void (*agentvm_console_fn)(const char *data, size_t len, void *payload);

/**
 * Create a configuration with the defaults: 1 vCPU, 256 MiB of memory, no
 * initrd, no extra command line, console output discarded. A kernel must be
 * set before agentvm_vm_new().
 * @return 0, or -ENOMEM.
 */
AGENTVM_API int agentvm_config_new(agentvm_config **out);

/** Release a configuration. NULL is a no-op. VMs created from it are not affected. */
AGENTVM_API void agentvm_config_free(agentvm_config *cfg);

/**
 * Set the guest kernel: an uncompressed x86_64 ELF `vmlinux` or a bzImage.
 * The path is copied; the file is read by agentvm_vm_new(), not here.
 * @return 0, -EINVAL (NULL or empty path), -ENOMEM.
 */
AGENTVM_API int agentvm_config_set_kernel(agentvm_config *cfg, const char *path);

/**
 * Set the initial ramdisk (a cpio archive, compressed as the kernel accepts),
 * or clear it with NULL. The path is copied; the file is read by agentvm_vm_new().
 * @return 0, -EINVAL (empty path), -ENOMEM.
 */
AGENTVM_API int agentvm_config_set_initrd(agentvm_config *cfg, const char *path);

/**
 * Set extra kernel command line text, appended after the library's own
 * (console, reboot and device options), or clear it with NULL. Copied.
 * @return 0, -EINVAL (longer than 2048 bytes), -ENOMEM.
 */
AGENTVM_API int agentvm_config_set_cmdline(agentvm_config *cfg, const char *extra);

/**
 * Set the number of vCPUs, 1 to 64. Each runs on its own host thread.
 * @return 0, -EINVAL (out of range).
 */
AGENTVM_API int agentvm_config_set_vcpus(agentvm_config *cfg, uint32_t count);

/**
 * Set guest memory in MiB, 16 to 65536. Memory is reserved, not touched: the
 * host commits a page only when the guest first writes it.
 * @return 0, -EINVAL (out of range).
 */
AGENTVM_API int agentvm_config_set_memory_mib(agentvm_config *cfg, uint32_t mib);

/**
 * Send guest console output to a file descriptor, or discard it with -1.
 * agentvm_vm_new() duplicates the descriptor (close-on-exec), so the caller may
 * close its own right after. Writes are blocking: a full pipe stalls the
 * vCPU that writes the console. Replaces a console callback.
 * @return 0, -EINVAL (fd below -1).
 */
AGENTVM_API int agentvm_config_set_console_fd(agentvm_config *cfg, int fd);

/**
 * Send guest console output to a callback (see agentvm_console_fn), or discard
 * it with fn = NULL. Replaces a console fd.
 * @return 0.
 */
AGENTVM_API int agentvm_config_set_console_callback(agentvm_config *cfg, agentvm_console_fn fn,
					 void *payload);

/** agentvm_config_add_disk() flag: the guest may read the disk, never write it. */
#define AGENTVM_DISK_READ_ONLY (1u << 0)
/** agentvm_config_add_disk() flag: boot from this disk (adds root=/dev/vdX ro|rw to the command line). */
#define AGENTVM_DISK_ROOT (1u << 1)

/**
 * Attach a raw disk image as a virtio-blk device. Disks appear in the guest
 * in the order added: /dev/vda, /dev/vdb, ... (at most 8). The path is
 * copied; agentvm_vm_new() opens the file and locks it (exclusively when
 * writable, shared when read-only), so two VMs never write one image.
 * A guest FLUSH is an fdatasync() of the image. With AGENTVM_DISK_ROOT and
 * an initrd, the initrd's init decides what to mount; without an initrd the
 * kernel mounts the disk and runs its /sbin/init.
 * @param flags AGENTVM_DISK_READ_ONLY, AGENTVM_DISK_ROOT, or 0.
 * @return 0; -EINVAL (NULL or empty path, unknown flag, a second root disk);
 *   -ENOSPC (more than 8 disks); -ENOMEM.
 */
AGENTVM_API int agentvm_config_add_disk(agentvm_config *cfg, const char *path, uint32_t flags);

/**
 * Set the guest's vsock address (its CID), 3 to 4294967294; the default is 3.
 * Each VM has its own vsock device served by the library, so VMs never
 * compete for a CID: this is only the number the guest sees.
 * @return 0, -EINVAL (out of range).
 */
AGENTVM_API int agentvm_config_set_vsock_cid(agentvm_config *cfg, uint32_t cid);

/** The default for agentvm_config_set_agent_timeout_ms(): one minute. */
#define AGENTVM_AGENT_TIMEOUT_DEFAULT_MS 60000

/**
 * How long agentvm_vm_start() waits for the guest agent (guest/agent, the
 * init of the default initramfs) to answer, in milliseconds; 0 for a guest
 * without the agent: agentvm_vm_start() then returns at once and
 * agentvm_vm_exec() and the file calls are not available.
 * @return 0, -EINVAL (negative).
 */
AGENTVM_API int agentvm_config_set_agent_timeout_ms(agentvm_config *cfg, int32_t timeout_ms);

/* ------------------------------------------------------------------------ */
/* Virtual machines                                                         */

/** A virtual machine: its KVM VM, guest memory, vCPU threads and devices. */
typedef struct agentvm_vm agentvm_vm;

/** Why a VM ended, as agentvm_vm_wait() reports it. */
typedef enum agentvm_exit_reason {
	/**
	 * The guest powered off through a platform poweroff event (KVM_SYSTEM_EVENT_SHUTDOWN).
	 * An x86_64 guest has no such device: see AGENTVM_EXIT_REBOOT.
	 */
	AGENTVM_EXIT_POWEROFF = 1,
	/**
	 * The guest reset the machine (reset control register or i8042 reset
	 * line; a triple fault is a crash). The VM is not restarted: on x86_64
	 * this is how a guest shuts itself down (`reboot` in the guest, or a
	 * panic; Linux's `poweroff` only halts the CPUs there).
	 */
	AGENTVM_EXIT_REBOOT = 2,
	/** agentvm_vm_kill() stopped it. */
	AGENTVM_EXIT_KILLED = 3,
	/** The guest crashed (triple fault) or the VMM stopped it on an unrecoverable error (KVM internal error, failed entry); agentvm_last_error() tells which. */
	AGENTVM_EXIT_CRASH = 4,
} agentvm_exit_reason;

/**
 * Create a VM from a configuration: open KVM, create the VM and its vCPUs,
 * map guest memory, load the kernel and initrd and build the boot tables.
 * Nothing runs in the guest until agentvm_vm_start(). The configuration is
 * copied; it may be changed or freed afterwards.
 * @return 0; -EINVAL (no kernel set, kernel or initrd malformed, does not fit
 *   in memory, disk image not a regular file or under 512 bytes);
 *   -ENOENT/-EACCES (kernel, initrd or disk path); -EBUSY (a disk image is
 *   in use by another VM); -ENODEV (no
 *   /dev/kvm); -ENOTSUP (KVM lacks a capability the VM needs); -ENOMEM;
 *   another -errno from a failed KVM ioctl.
 */
AGENTVM_API int agentvm_vm_new(const agentvm_config *cfg, agentvm_vm **out);

/**
 * Start the vCPU threads and wait until the guest agent answers, so that
 * agentvm_vm_exec() works as soon as this returns. With an agent timeout of
 * 0 (agentvm_config_set_agent_timeout_ms()) it returns at once and the guest
 * boots in the background. A VM starts at most once. After a failure past
 * the thread start (the agent did not answer), the VM has been killed.
 * @return 0; -EBUSY (already started); -EINVAL (the kick signal is ignored
 *   by the process); -EAGAIN/-ENOMEM (no thread could be created);
 *   -ETIMEDOUT (the agent did not answer in time); -EHOSTDOWN (the guest
 *   stopped before its agent answered; the message says how it ended);
 *   -EPROTO/-EPROTONOSUPPORT (what answered does not speak the agent
 *   protocol, or not a version we do).
 */
AGENTVM_API int agentvm_vm_start(agentvm_vm *vm);

/**
 * Wait until the VM ends (guest poweroff or reboot, agentvm_vm_kill(), or a
 * VMM error), for at most timeout_ms milliseconds (-1 waits forever, 0 polls).
 * Once ended, every vCPU thread has stopped; the VM stays ended and further
 * waits return the same reason at once. Several threads may wait at once.
 * @param reason_out receives why the VM ended; may be NULL.
 * @return 0 (ended); -ETIMEDOUT (still running); -EINVAL (never started).
 *   When the reason is AGENTVM_EXIT_CRASH, agentvm_last_error() holds the cause.
 */
AGENTVM_API int agentvm_vm_wait(agentvm_vm *vm, int timeout_ms, agentvm_exit_reason *reason_out);

/**
 * Stop a running VM: every vCPU leaves the guest and its thread ends. Returns
 * without waiting; agentvm_vm_wait() then reports AGENTVM_EXIT_KILLED (unless
 * the VM had already ended for another reason). Idempotent; safe from any
 * thread, including a console callback.
 * @return 0.
 */
AGENTVM_API int agentvm_vm_kill(agentvm_vm *vm);

/**
 * Release a VM: kill it if it runs, join its threads, close every descriptor
 * and unmap its memory. NULL is a no-op. Must not race with other calls on
 * the same VM.
 */
AGENTVM_API void agentvm_vm_free(agentvm_vm *vm);

/* ------------------------------------------------------------------------ */
/* Running commands                                                         */

/** The PATH of agentvm_exec_options' default environment (and of agentvm-exec's). */
#define AGENTVM_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/** Stream numbers given to an agentvm_output_fn. */
#define AGENTVM_STDOUT 1
#define AGENTVM_STDERR 2

/**
 * Receives a command's output as it arrives, on the thread that called
 * agentvm_vm_exec(), in the order the guest read its pipes.
 * @param stream AGENTVM_STDOUT or AGENTVM_STDERR.
 * @param data   the bytes, valid only during the call; len is at least 1.
 * @param payload agentvm_exec_options.output_payload.
 */
typedef void (*agentvm_output_fn)(int stream, const void *data, size_t len, void *payload);

/**
 * The layout of agentvm_exec_options this header describes: 2 added
 * cancel_fd. The library also accepts layout 1 (programs built before).
 */
#define AGENTVM_EXEC_OPTIONS_VERSION 2
/** The default of agentvm_exec_options.capture_limit: 64 MiB per stream. */
#define AGENTVM_CAPTURE_DEFAULT (64u * 1024 * 1024)

/**
 * What to run and how. Fill it with agentvm_exec_options_init() first, then
 * set the fields you need: fields are only ever appended, and the version
 * tells the library which ones your program knows.
 */
typedef struct agentvm_exec_options {
	uint32_t version;        /**< AGENTVM_EXEC_OPTIONS_VERSION, set by _init() */
	const char *const *argv; /**< the command, NULL-terminated; argv[0] is looked up in PATH */
	/**
	 * The whole environment, NULL-terminated "NAME=value" strings; NULL gives
	 * PATH=AGENTVM_DEFAULT_PATH and HOME=/root.
	 */
	const char *const *envp;
	const char *cwd;         /**< working directory in the guest; NULL for "/" */
	const void *stdin_data;  /**< bytes for the command's stdin, then EOF; NULL: none */
	size_t stdin_len;
	/**
	 * Or a descriptor to read the command's stdin from until EOF (a pipe, a
	 * file, a terminal); -1 (the default) for none. Not both this and stdin_data.
	 * Without either, the command's stdin is /dev/null.
	 */
	int stdin_fd;
	/**
	 * Milliseconds the command may run; 0 (the default) for no limit. On
	 * expiry its process group is killed with SIGKILL and the result has
	 * AGENTVM_EXEC_TIMED_OUT.
	 */
	uint32_t timeout_ms;
	/** Bytes of each stream kept in the result; more sets a _TRUNCATED flag. 0 keeps none. */
	size_t capture_limit;
	agentvm_output_fn output_fn; /**< optional: every chunk as it arrives */
	void *output_payload;
	/**
	 * (Version 2.) A descriptor that cancels the command once it becomes
	 * readable (a byte written to a pipe, an eventfd signalled), from any
	 * thread; -1 (the default) for none. The library drops its connection
	 * to the agent, which SIGKILLs the command's process group, and
	 * agentvm_vm_exec() returns -ECANCELED. The library only polls it, never
	 * reads or closes it: one descriptor can cancel many execs at once.
	 */
	int cancel_fd;
} agentvm_exec_options;

/**
 * Fill opts with the defaults: version AGENTVM_EXEC_OPTIONS_VERSION, no
 * argv, the default environment, cwd "/", no stdin (stdin_fd -1), no
 * timeout, capture_limit AGENTVM_CAPTURE_DEFAULT, no output callback, no
 * cancel_fd (-1).
 * @return 0, -EINVAL (NULL).
 */
AGENTVM_API int agentvm_exec_options_init(agentvm_exec_options *opts);

/** agentvm_exec_result.flags: the timeout expired and the command was killed. */
#define AGENTVM_EXEC_TIMED_OUT (1u << 0)
/** agentvm_exec_result.flags: stdout went over capture_limit; the rest was not kept. */
#define AGENTVM_EXEC_STDOUT_TRUNCATED (1u << 1)
/** agentvm_exec_result.flags: the same for stderr. */
#define AGENTVM_EXEC_STDERR_TRUNCATED (1u << 2)
/**
 * agentvm_exec_result.flags: the program could not be executed (error holds
 * execve's errno); exit_code is 127 for ENOENT and 126 otherwise, as a shell reports.
 */
#define AGENTVM_EXEC_NOT_STARTED (1u << 3)

/**
 * How a command ended, what it printed and what it cost. Allocated by
 * agentvm_vm_exec(); fields are only ever appended, and version says which
 * ones this library filled in.
 */
typedef struct agentvm_exec_result {
	uint32_t version;   /**< the layout filled in; 1 for this header */
	uint32_t flags;     /**< AGENTVM_EXEC_* bits */
	int32_t exit_code;  /**< 0..255; -1 when a signal ended it or it timed out unreaped */
	int32_t signal;     /**< the signal that ended it, else 0 */
	int32_t error;      /**< with AGENTVM_EXEC_NOT_STARTED: execve's errno, else 0 */
	uint32_t guest_pid; /**< the command's pid in the guest; 0 if it never started */
	uint8_t *stdout_data; /**< captured stdout, NUL-terminated (not counted in stdout_len) */
	size_t stdout_len;
	uint8_t *stderr_data; /**< captured stderr, likewise */
	size_t stderr_len;
	uint64_t wall_us;    /**< guest clock: command start to end */
	uint64_t user_us;    /**< guest user CPU time of the command and its waited-for children */
	uint64_t sys_us;     /**< guest system CPU time, likewise */
	uint64_t maxrss_kib; /**< peak resident set size in the guest */
	uint64_t host_us;    /**< host clock: agentvm_vm_exec() call to return */
} agentvm_exec_result;

/**
 * Run a command in the guest and wait for it to end: its output reaches
 * output_fn as it comes and the result when it is done. Several threads may
 * exec on one VM at once (each command gets its own connection to the agent).
 * Blocks the calling thread; output_fn runs on it.
 * @return 0 (*out holds the result, whatever the command's exit status, also
 *   for a command that could not be executed or timed out); -EINVAL (bad
 *   options: no argv, both stdin_data and stdin_fd, an unknown version,
 *   an argument or environment too large for one request, a NUL-less
 *   environment entry); -ENOTCONN (the VM has no agent or was not started);
 *   -ECANCELED (cancel_fd became readable; the command was killed);
 *   -EHOSTDOWN (the VM stopped during the call; the message says how it
 *   ended: killed, rebooted, a crash's cause); -EPROTO (the guest broke
 *   the agent protocol); -EIO (reading stdin_fd failed); -ENOMEM; or the
 *   guest's errno for a failed step before the program ran (such as
 *   -ENOENT or -ENOTDIR for a missing cwd), with the agent's message.
 */
AGENTVM_API int agentvm_vm_exec(agentvm_vm *vm, const agentvm_exec_options *opts,
				agentvm_exec_result **out);

/** Release a result and its buffers. NULL is a no-op. */
AGENTVM_API void agentvm_exec_result_free(agentvm_exec_result *result);

/* ------------------------------------------------------------------------ */
/* Files                                                                    */

/**
 * Create or replace a file in the guest with the given bytes and permission
 * bits (mode, at most 07777, set exactly: the guest's umask does not apply).
 * Parent directories must exist. Thread-safe like agentvm_vm_exec().
 * @return 0; -EINVAL (NULL or empty path, mode over 07777); -ENOTCONN (no
 *   agent); -EHOSTDOWN; -EPROTO; or the guest's errno (-ENOENT, -EACCES,
 *   -ENOSPC, -EISDIR, ...) with the agent's message.
 */
AGENTVM_API int agentvm_vm_write_file(agentvm_vm *vm, const char *guest_path, const void *data,
				      size_t len, uint32_t mode);

/**
 * Read a regular file from the guest, at most max_size bytes. *data_out is
 * NUL-terminated (not counted in *len_out) and released with agentvm_buffer_free().
 * @return 0; -EINVAL (NULL argument or empty path); -EFBIG (larger than
 *   max_size); -EISDIR; -ENOTCONN; -EHOSTDOWN; -EPROTO; -ENOMEM; or the
 *   guest's errno (-ENOENT, -EACCES, ...).
 */
AGENTVM_API int agentvm_vm_read_file(agentvm_vm *vm, const char *guest_path, size_t max_size,
				     void **data_out, size_t *len_out);

/** Release a buffer the library returned (agentvm_vm_read_file()). NULL is a no-op. */
AGENTVM_API void agentvm_buffer_free(void *buffer);

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                */

/** agentvm_vm_snapshot() flag: stop the VM once saved (agentvm_vm_wait() then says AGENTVM_EXIT_KILLED); without it the VM goes on. */
#define AGENTVM_SNAPSHOT_STOP 0x1u
/**
 * agentvm_vm_snapshot() flag: zlib-compress the guest memory. For shipping
 * snapshots: smaller, but a restore must read and inflate the memory instead
 * of mapping it, so it is slower and its clones share no pages.
 */
#define AGENTVM_SNAPSHOT_COMPRESS 0x2u

/**
 * Save a running VM's complete state (vCPUs, interrupt controllers, clocks,
 * devices, guest memory) to a file at path (doc/snapshot-format.md). The
 * guest stands still while it is written; execs in flight wait and then go
 * on. The file appears complete or not at all (it is written beside path
 * and renamed). Memory pages the guest never used take no space (raw
 * snapshots are sparse files). Disks must be read-only: their later writes
 * could not be kept apart from the saved memory. Not at the same time as
 * another snapshot of the same VM (serialized).
 * @param flags AGENTVM_SNAPSHOT_* or 0.
 * @return 0; -EINVAL (NULL, unknown flags); -ESHUTDOWN (the VM is not
 *   running: never started, or ended); -EBUSY (a disk is writable); -errno
 *   of a failed write (-ENOSPC ...) or KVM call.
 */
AGENTVM_API int agentvm_vm_snapshot(agentvm_vm *vm, const char *path, uint32_t flags);

/**
 * Create a VM that resumes exactly where the snapshot at path was taken, in
 * this process or any other, as many times as wanted: clones of one raw
 * snapshot share its unchanged memory pages (copy-on-write) and are otherwise
 * independent. Like agentvm_vm_new() it returns a VM that has not started:
 * agentvm_vm_start() resumes it and, when the VM has an agent, waits for the
 * agent, then sets the guest's wall clock to the host's and reseeds the
 * guest's random number generator, so that clones share neither. The
 * library's idle agent connection travels with the snapshot (its worker in
 * the guest serves the clone's first requests); other connections to the
 * guest that were open at the snapshot are reset. The first restore of a raw
 * snapshot at path writes path.pages beside it (when it can), the pages its
 * guest wrote by the end of its first exec, which later restores copy ahead
 * (doc/snapshot-format.md, "Learned pages").
 * @param cfg only its console, agent timeout, vsock CID and disks are used
 *   (disks: none to reuse the snapshot's paths, else as many as the snapshot
 *   had, with the same flags and sizes); everything else comes from the
 *   snapshot. NULL: the defaults of agentvm_config_new().
 * @return 0; -EINVAL (NULL, not a snapshot, disks that do not match);
 *   -EBADMSG (truncated or corrupt: checksum, sizes); -EPROTONOSUPPORT
 *   (another format version); -ENOEXEC (another architecture); -ENOTSUP
 *   (this host cannot give the guest a CPU feature it uses); and the errors
 *   of agentvm_vm_new(). Every check is made before any guest code runs.
 */
AGENTVM_API int agentvm_vm_restore(const char *path, const agentvm_config *cfg, agentvm_vm **out);

#ifdef __cplusplus
}
#endif

#endif /* AGENTVM_H */
