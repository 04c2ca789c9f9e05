/* agentvm-exec's command line. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#ifndef AGENTVM_DEFAULT_KERNEL
#define AGENTVM_DEFAULT_KERNEL "/usr/local/share/agentvm/vmlinux"
#endif
#ifndef AGENTVM_DEFAULT_INITRD
#define AGENTVM_DEFAULT_INITRD "/usr/local/share/agentvm/initrd.cpio.gz"
#endif

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: agentvm-exec [OPTIONS] -- COMMAND [ARG...]\n"
		"       agentvm-exec --console-only [OPTIONS]\n"
		"Boot a disposable KVM microVM, run COMMAND in it with its stdout, stderr and\n"
		"stdin connected to ours, and exit with COMMAND's status.\n"
		"\n"
		"  --kernel PATH      guest kernel (x86_64: vmlinux ELF or bzImage; arm64: Image);\n"
		"                     default $AGENTVM_KERNEL,\n"
		"                     else " AGENTVM_DEFAULT_KERNEL "\n"
		"  --initrd PATH      initial ramdisk; default $AGENTVM_INITRD, else\n"
		"                     " AGENTVM_DEFAULT_INITRD " (the guest agent's)\n"
		"  --memory MIB       guest memory in MiB (default 256)\n"
		"  --vcpus N          number of vCPUs (default 1)\n"
		"  --cmdline STRING   extra kernel command line (add loglevel=7 to see kernel messages)\n"
		"  --disk PATH[,ro]   attach a raw disk image (repeatable): /dev/vda, /dev/vdb, ...\n"
		"  --root-disk PATH[,ro]\n"
		"                     attach a disk and boot from it (root=/dev/vdX)\n"
		"  --env NAME=VALUE   set a variable for COMMAND (repeatable); PATH and HOME have defaults\n"
		"  --cwd DIR          COMMAND's working directory in the guest (default /)\n"
		"  --copy-in HOST:GUEST\n"
		"                     copy a host file into the guest before COMMAND (repeatable)\n"
		"  --copy-out GUEST:HOST\n"
		"                     copy a guest file out after COMMAND, whatever its status (repeatable)\n"
		"  --timeout SEC      kill COMMAND after SEC seconds and exit 124 (with --console-only:\n"
		"                     stop the VM)\n"
		"  --boot-timeout SEC wait at most SEC seconds for the guest agent (default 60)\n"
		"  --snapshot-out PATH\n"
		"                     after COMMAND (and --copy-out), save the VM to a snapshot at PATH\n"
		"  --snapshot-compress\n"
		"                     compress that snapshot (smaller, slower to restore)\n"
		"  --restore PATH     start from the snapshot at PATH instead of booting (no --kernel,\n"
		"                     --initrd, --cmdline, --memory, --vcpus: they come from it)\n"
		"  --console          also copy the guest's console to stderr\n"
		"  --console-only     run no command: show the guest's console until it shuts down\n"
		"  --help             show this help\n"
		"  --version          show the version\n"
		"\n"
		"Exit status: COMMAND's, or 128+N if signal N killed it; 124 timeout; 125 runner\n"
		"error; 126 COMMAND not executable; 127 COMMAND not found. With --console-only:\n"
		"0 when the guest shuts down.\n");
}

static int parse_uint(const char *option, const char *text, uint32_t min, uint32_t max,
		      uint32_t *out)
{
	char *end;
	unsigned long value;

	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || value < min || value > max)
		return runner_error("%s wants a number from %u to %u, not '%s'", option, min, max,
				    text);
	*out = (uint32_t)value;
	return 0;
}

/* PATH or PATH,ro: the suffix is split off in place. */
static int parse_disk(const char *option, char *arg, uint32_t flags, struct options *o)
{
	char *comma = strrchr(arg, ',');

	if (o->ndisks == MAX_DISKS)
		return runner_error("%s: at most %d disks", option, MAX_DISKS);
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

/* A:B split at the first colon, both sides non-empty; side names the halves for the message. */
static int parse_copy(const char *option, char *arg, bool guest_first, struct copy *list,
		      unsigned int *n)
{
	char *colon = strchr(arg, ':');

	if (*n == MAX_COPIES)
		return runner_error("%s: at most %d", option, MAX_COPIES);
	if (!colon || colon == arg || !colon[1])
		return runner_error("%s wants %s, not '%s'", option,
				    guest_first ? "GUEST:HOST" : "HOST:GUEST", arg);
	*colon = '\0';
	list[*n] = guest_first ? (struct copy){ .guest = arg, .host = colon + 1 }
			       : (struct copy){ .host = arg, .guest = colon + 1 };
	if (list[*n].guest[0] != '/')
		return runner_error("%s: the guest path '%s' is not absolute", option,
				    list[*n].guest);
	(*n)++;
	return 0;
}

static int parse_env(const char *arg, struct options *o)
{
	if (!strchr(arg, '=') || arg[0] == '=')
		return runner_error("--env wants NAME=VALUE, not '%s'", arg);
	if (o->nenv == MAX_ENV)
		return runner_error("--env: at most %d variables", MAX_ENV);
	o->env[o->nenv++] = arg;
	return 0;
}

static const char *path_or_default(const char *given, const char *env_name, const char *fallback)
{
	if (!given)
		given = getenv(env_name);
	return given && *given ? given : fallback;
}

static int check_readable(const char *what, const char *path, const char *hint)
{
	if (access(path, R_OK) == 0)
		return 0;
	return runner_error("%s '%s' is not readable (%s); %s", what, path, strerror(errno),
			    hint);
}

static int check_mode(int argc, char **argv, struct options *o)
{
	if (o->console_only && optind < argc)
		return runner_error("--console-only runs no command, but got '%s'", argv[optind]);
	if (!o->console_only && optind == argc)
		return runner_error("no command given: agentvm-exec [OPTIONS] -- COMMAND [ARG...] "
				    "(or --console-only)");
	if (o->console_only && (o->nenv || o->cwd || o->ncopy_in || o->ncopy_out ||
				o->boot_timeout_sec))
		return runner_error("--env, --cwd, --copy-in, --copy-out and --boot-timeout need "
				    "a command, not --console-only");
	if (o->console_only && o->snapshot_out)
		return runner_error("--snapshot-out needs a command, not --console-only");
	if (o->snapshot_compress && !o->snapshot_out)
		return runner_error("--snapshot-compress goes with --snapshot-out PATH");
	o->command = o->console_only ? NULL : argv + optind;
	if (o->restore) {
		if (o->kernel || o->initrd || o->cmdline || o->memory_mib || o->vcpus)
			return runner_error("--kernel, --initrd, --cmdline, --memory and --vcpus "
					    "come from the snapshot with --restore");
		return check_readable("snapshot", o->restore, "pass the path of an "
							     "agentvm-exec --snapshot-out file");
	}
	o->kernel = path_or_default(o->kernel, "AGENTVM_KERNEL", AGENTVM_DEFAULT_KERNEL);
	if (check_readable("guest kernel", o->kernel, "pass --kernel, set AGENTVM_KERNEL, or install "
						"one with guest/kernel/install.sh"))
		return EXIT_RUNNER_ERROR;
	if (!o->console_only) {
		o->initrd = path_or_default(o->initrd, "AGENTVM_INITRD", AGENTVM_DEFAULT_INITRD);
		if (check_readable("guest initrd", o->initrd, "pass --initrd or set AGENTVM_INITRD (the "
							"build makes guest/agentvm-initrd.cpio.gz)"))
			return EXIT_RUNNER_ERROR;
	}
	return 0;
}

int parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_CONSOLE_ONLY = 256, OPT_CONSOLE, OPT_KERNEL, OPT_INITRD, OPT_CMDLINE,
	       OPT_MEMORY, OPT_VCPUS, OPT_TIMEOUT, OPT_DISK, OPT_ROOT_DISK, OPT_ENV, OPT_CWD,
	       OPT_COPY_IN, OPT_COPY_OUT, OPT_BOOT_TIMEOUT, OPT_RESTORE, OPT_SNAPSHOT_OUT,
	       OPT_SNAPSHOT_COMPRESS, OPT_HELP, OPT_VERSION };
	static const struct option long_options[] = {
		{ "console-only", no_argument, NULL, OPT_CONSOLE_ONLY },
		{ "console", no_argument, NULL, OPT_CONSOLE },
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "vcpus", required_argument, NULL, OPT_VCPUS },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "root-disk", required_argument, NULL, OPT_ROOT_DISK },
		{ "env", required_argument, NULL, OPT_ENV },
		{ "cwd", required_argument, NULL, OPT_CWD },
		{ "copy-in", required_argument, NULL, OPT_COPY_IN },
		{ "copy-out", required_argument, NULL, OPT_COPY_OUT },
		{ "boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT },
		{ "restore", required_argument, NULL, OPT_RESTORE },
		{ "snapshot-out", required_argument, NULL, OPT_SNAPSHOT_OUT },
		{ "snapshot-compress", no_argument, NULL, OPT_SNAPSHOT_COMPRESS },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int opt, err = 0;

	opterr = 0;
	/* "+": stop at the first non-option, so COMMAND's own options are left alone. */
	while (!err && (opt = getopt_long(argc, argv, "+", long_options, NULL)) != -1) {
		switch (opt) {
		case OPT_CONSOLE_ONLY:
			o->console_only = true;
			break;
		case OPT_CONSOLE:
			o->show_console = true;
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
		case OPT_ENV:
			err = parse_env(optarg, o);
			break;
		case OPT_CWD:
			o->cwd = optarg;
			break;
		case OPT_COPY_IN:
			err = parse_copy("--copy-in", optarg, false, o->copy_in, &o->ncopy_in);
			break;
		case OPT_COPY_OUT:
			err = parse_copy("--copy-out", optarg, true, o->copy_out, &o->ncopy_out);
			break;
		case OPT_BOOT_TIMEOUT:
			err = parse_uint("--boot-timeout", optarg, 1, INT32_MAX / 1000,
					 &o->boot_timeout_sec);
			break;
		case OPT_RESTORE:
			o->restore = optarg;
			break;
		case OPT_SNAPSHOT_OUT:
			o->snapshot_out = optarg;
			break;
		case OPT_SNAPSHOT_COMPRESS:
			o->snapshot_compress = true;
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("agentvm-exec %s\n", agentvm_version());
			exit(0);
		default:
			return runner_error("unknown or incomplete option '%s' (see --help)",
					    argv[optind - 1]);
		}
	}
	return err ? err : check_mode(argc, argv, o);
}
