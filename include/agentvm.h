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
	 * The guest reset the machine (i8042 reset line, or a triple fault). The VM
	 * is not restarted: on x86_64 this is how a guest shuts itself down
	 * (`reboot` in the guest; Linux's `poweroff` only halts the CPUs there).
	 */
	AGENTVM_EXIT_REBOOT = 2,
	/** agentvm_vm_kill() stopped it. */
	AGENTVM_EXIT_KILLED = 3,
	/** The VMM stopped it on an unrecoverable error (KVM internal error, failed entry); agentvm_last_error() tells which. */
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
 * Start the vCPU threads. Returns at once; the guest boots in the background.
 * A VM starts at most once.
 * @return 0; -EBUSY (already started); -EINVAL (the kick signal is ignored
 *   by the process); -EAGAIN/-ENOMEM (no thread could be created).
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

#ifdef __cplusplus
}
#endif

#endif /* AGENTVM_H */
