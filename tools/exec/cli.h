/*
 * agentvm-exec: boot a sandbox microVM and run a command in it (or, with
 * --console-only, just show its console). The pieces of the tool share this.
 */
#ifndef AGENTVM_TOOLS_EXEC_CLI_H
#define AGENTVM_TOOLS_EXEC_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "agentvm.h"

/* The exit statuses of timeout(1) and env(1), which scripts already know. */
#define EXIT_TIMEOUT 124
#define EXIT_RUNNER_ERROR 125

#define MAX_DISKS 8
#define MAX_COPIES 64
#define MAX_ENV 4096

struct copy {
	char *host, *guest; /* split in place from HOST:GUEST or GUEST:HOST */
};

struct options {
	bool console_only;
	bool show_console; /* guest console to stderr while running a command */
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	uint32_t memory_mib;
	uint32_t vcpus;
	unsigned int timeout_sec; /* 0: none */
	uint32_t boot_timeout_sec; /* 0: the library's default */
	unsigned int ndisks;
	struct {
		char *path;
		uint32_t flags;
	} disks[MAX_DISKS];
	const char *cwd;
	unsigned int nenv;
	const char *env[MAX_ENV + 1]; /* NULL-terminated */
	unsigned int ncopy_in, ncopy_out;
	struct copy copy_in[MAX_COPIES], copy_out[MAX_COPIES];
	const char *restore;      /* --restore: start from this snapshot instead of booting */
	const char *snapshot_out; /* --snapshot-out: save the VM here once the command ended */
	bool snapshot_compress;
	char **command; /* NULL-terminated; NULL with --console-only */
};

/*
 * SIGINT and SIGTERM are blocked in every thread and read from this
 * signalfd (non-blocking), so whichever thread the VM has, the tool decides
 * when to stop it.
 */
extern int interrupt_fd;

/* The signal that interrupted us, read from interrupt_fd, or 0. */
int interrupt_pending(void);

/* Print "agentvm-exec: <message>" on stderr and return EXIT_RUNNER_ERROR. */
int runner_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fill o from the command line: 0, or an exit status (after printing why). */
int parse_options(int argc, char **argv, struct options *o);

/* --console-only: start the VM and wait for the guest to end; the tool's exit status. */
int run_console(agentvm_vm *vm, unsigned int timeout_sec);

/* Start the VM, run o->command with the copies around it; the tool's exit status. */
int run_command(agentvm_vm *vm, const struct options *o);

/* --copy-in and --copy-out: 0 or EXIT_RUNNER_ERROR after printing why. */
int copy_in(agentvm_vm *vm, const struct copy *c);
int copy_out(agentvm_vm *vm, const struct copy *c);

#endif
