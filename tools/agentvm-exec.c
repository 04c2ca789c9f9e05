/*
 * agentvm-exec: boot a sandbox microVM and run something in it.
 * v0 boots the guest with --console-only and copies its console to stdout.
 *
 * Exit status: 0 when the guest powers off or reboots; 124 when --timeout
 * expires; 125 on a runner error (bad option, missing kernel, no KVM, VMM
 * failure), with one line on stderr naming the cause; 130/143 when
 * interrupted by SIGINT/SIGTERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentvm.h"

#define EXIT_TIMEOUT 124
#define EXIT_RUNNER_ERROR 125
#define POLL_INTERVAL_MS 100

#ifndef AGENTVM_DEFAULT_KERNEL
#define AGENTVM_DEFAULT_KERNEL "/usr/local/share/agentvm/vmlinux"
#endif

struct options {
	bool console_only;
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	uint32_t memory_mib;
	uint32_t vcpus;
	unsigned int timeout_sec; /* 0: none */
	unsigned int ndisks;
	struct {
		char *path;
		uint32_t flags;
	} disks[8];
};

static volatile sig_atomic_t interrupted_by;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: agentvm-exec --console-only [OPTIONS]\n"
		"Boot a disposable KVM microVM and copy its serial console to stdout.\n"
		"\n"
		"  --console-only     boot the guest and show its console until it powers off\n"
		"  --kernel PATH      guest kernel (vmlinux ELF or bzImage); default $AGENTVM_KERNEL,\n"
		"                     else " AGENTVM_DEFAULT_KERNEL "\n"
		"  --initrd PATH      initial ramdisk (cpio, optionally compressed)\n"
		"  --memory MIB       guest memory in MiB (default 256)\n"
		"  --vcpus N          number of vCPUs (default 1)\n"
		"  --cmdline STRING   extra kernel command line (add loglevel=7 to see kernel messages)\n"
		"  --disk PATH[,ro]   attach a raw disk image (repeatable): /dev/vda, /dev/vdb, ...\n"
		"  --root-disk PATH[,ro]\n"
		"                     attach a disk and boot from it (root=/dev/vdX)\n"
		"  --timeout SEC      stop the VM after SEC seconds and exit 124\n"
		"  --help             show this help\n"
		"  --version          show the version\n"
		"\n"
		"Exit status: 0 guest powered off or rebooted, 124 timeout, 125 runner error.\n");
}

static int runner_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int runner_error(const char *fmt, ...)
{
	va_list ap;

	fputs("agentvm-exec: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_RUNNER_ERROR;
}

static int parse_uint(const char *option, const char *text, uint32_t min, uint32_t max,
		      uint32_t *out)
{
	char *end;
	unsigned long value;

	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || value < min || value > max)
		return runner_error("%s wants a number from %u to %u, not '%s'", option, min, max, text);
	*out = (uint32_t)value;
	return 0;
}

/* PATH or PATH,ro: the suffix is split off in place. */
static int parse_disk(const char *option, char *arg, uint32_t flags, struct options *o)
{
	char *comma = strrchr(arg, ',');

	if (o->ndisks == sizeof(o->disks) / sizeof(o->disks[0]))
		return runner_error("%s: at most %zu disks", option, sizeof(o->disks) / sizeof(o->disks[0]));
	if (comma && strcmp(comma, ",ro") == 0) {
		*comma = '\0';
		flags |= AGENTVM_DISK_READ_ONLY;
	} else if (comma && strcmp(comma, ",rw") == 0) {
		*comma = '\0';
	}
	if (!*arg)
		return runner_error("%s wants PATH or PATH,ro", option);
	o->disks[o->ndisks].path = arg;
	o->disks[o->ndisks++].flags = flags;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_CONSOLE_ONLY = 256, OPT_KERNEL, OPT_INITRD, OPT_CMDLINE, OPT_MEMORY, OPT_VCPUS,
	       OPT_TIMEOUT, OPT_DISK, OPT_ROOT_DISK, OPT_HELP, OPT_VERSION };
	static const struct option long_options[] = {
		{ "console-only", no_argument, NULL, OPT_CONSOLE_ONLY },
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "vcpus", required_argument, NULL, OPT_VCPUS },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "root-disk", required_argument, NULL, OPT_ROOT_DISK },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int opt, err = 0;

	opterr = 0;
	while (!err && (opt = getopt_long(argc, argv, "+", long_options, NULL)) != -1) {
		switch (opt) {
		case OPT_CONSOLE_ONLY:
			o->console_only = true;
			break;
		case OPT_KERNEL:
			o->kernel = optarg;
			break;
		case OPT_INITRD:
			o->initrd = optarg;
			break;
		case OPT_CMDLINE:
			o->cmdline = optarg;
			break;
		case OPT_MEMORY:
			err = parse_uint("--memory", optarg, 16, 65536, &o->memory_mib);
			break;
		case OPT_VCPUS:
			err = parse_uint("--vcpus", optarg, 1, 64, &o->vcpus);
			break;
		case OPT_TIMEOUT:
			err = parse_uint("--timeout", optarg, 1, INT_MAX / 1000, &o->timeout_sec);
			break;
		case OPT_DISK:
			err = parse_disk("--disk", optarg, 0, o);
			break;
		case OPT_ROOT_DISK:
			err = parse_disk("--root-disk", optarg, AGENTVM_DISK_ROOT, o);
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("agentvm-exec %s\n", agentvm_version());
			exit(0);
		default:
			return runner_error("unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (err)
		return err;
	if (optind < argc)
		return runner_error("running a command needs the guest agent, which this version lacks; use --console-only (got '%s')",
				    argv[optind]);
	if (!o->console_only)
		return runner_error("nothing to do: pass --console-only (see --help)");
	if (!o->kernel)
		o->kernel = getenv("AGENTVM_KERNEL");
	if (!o->kernel || !*o->kernel)
		o->kernel = AGENTVM_DEFAULT_KERNEL;
	if (access(o->kernel, R_OK) != 0)
		return runner_error("guest kernel '%s' is not readable (%s); pass --kernel, set AGENTVM_KERNEL, or install one with guest/kernel/install.sh",
				    o->kernel, strerror(errno));
	return 0;
}

static int configure(const struct options *o, agentvm_config *cfg)
{
	int err = agentvm_config_set_kernel(cfg, o->kernel);

	if (!err && o->initrd)
		err = agentvm_config_set_initrd(cfg, o->initrd);
	if (!err && o->cmdline)
		err = agentvm_config_set_cmdline(cfg, o->cmdline);
	if (!err && o->memory_mib)
		err = agentvm_config_set_memory_mib(cfg, o->memory_mib);
	if (!err && o->vcpus)
		err = agentvm_config_set_vcpus(cfg, o->vcpus);
	for (unsigned int i = 0; !err && i < o->ndisks; i++)
		err = agentvm_config_add_disk(cfg, o->disks[i].path, o->disks[i].flags);
	if (!err)
		err = agentvm_config_set_console_fd(cfg, STDOUT_FILENO);
	return err;
}

static void on_signal(int sig)
{
	interrupted_by = sig;
}

/* Wait for the VM in short slices so SIGINT/SIGTERM and the timeout can stop it. */
static int supervise(agentvm_vm *vm, unsigned int timeout_sec)
{
	long long waited_ms = 0, limit_ms = (long long)timeout_sec * 1000;
	agentvm_exit_reason reason;
	int err;

	for (;;) {
		err = agentvm_vm_wait(vm, POLL_INTERVAL_MS, &reason);
		if (err == 0)
			break;
		if (err != -ETIMEDOUT)
			return runner_error("%s", agentvm_last_error());
		waited_ms += POLL_INTERVAL_MS;
		if (interrupted_by) {
			agentvm_vm_kill(vm);
			agentvm_vm_wait(vm, -1, NULL);
			return 128 + interrupted_by;
		}
		if (limit_ms && waited_ms >= limit_ms) {
			agentvm_vm_kill(vm);
			agentvm_vm_wait(vm, -1, NULL);
			fprintf(stderr, "agentvm-exec: timed out after %u s; the VM was stopped\n", timeout_sec);
			return EXIT_TIMEOUT;
		}
	}
	if (reason == AGENTVM_EXIT_CRASH)
		return runner_error("the VM stopped on an error: %s", agentvm_last_error());
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	agentvm_config *cfg = NULL;
	agentvm_vm *vm = NULL;
	struct sigaction act = { .sa_handler = on_signal };
	int status;

	status = parse_options(argc, argv, &o);
	if (status)
		return status;
	sigemptyset(&act.sa_mask);
	sigaction(SIGINT, &act, NULL);
	sigaction(SIGTERM, &act, NULL);

	if (agentvm_config_new(&cfg) || configure(&o, cfg) || agentvm_vm_new(cfg, &vm) ||
	    agentvm_vm_start(vm)) {
		status = runner_error("%s", agentvm_last_error());
		goto out;
	}
	status = supervise(vm, o.timeout_sec);
out:
	agentvm_vm_free(vm);
	agentvm_config_free(cfg);
	return status;
}
