/*
 * agentvm-exec: boot a sandbox microVM, run a command in it, exit with the
 * command's status (see usage() in options.c and doc/agentvm-exec.1).
 * Nothing outlives the process: the VM lives in it, and no file, socket or
 * helper process is created.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"

int interrupt_fd = -1;

int interrupt_pending(void)
{
	struct signalfd_siginfo si;

	if (read(interrupt_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	return (int)si.ssi_signo;
}

int runner_error(const char *fmt, ...)
{
	va_list ap;

	fputs("agentvm-exec: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_RUNNER_ERROR;
}

static int configure(const struct options *o, agentvm_config *cfg)
{
	int err = o->kernel ? agentvm_config_set_kernel(cfg, o->kernel) : 0;

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
	/* The console is the output with --console-only; else stdout belongs to the command. */
	if (!err && o->console_only)
		err = agentvm_config_set_console_fd(cfg, STDOUT_FILENO);
	else if (!err && o->show_console)
		err = agentvm_config_set_console_fd(cfg, STDERR_FILENO);
	if (!err && o->console_only)
		err = agentvm_config_set_agent_timeout_ms(cfg, 0);
	else if (!err && o->boot_timeout_sec)
		err = agentvm_config_set_agent_timeout_ms(cfg, (int32_t)o->boot_timeout_sec * 1000);
	return err;
}

/*
 * A closed 0, 1 or 2 would be reused by the first descriptor the library
 * opens, and the command's stdin would then read, or its output be written
 * to, /dev/kvm or an eventfd. Hold them with /dev/null instead.
 */
static int standard_fds_open(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			return runner_error("cannot open /dev/null for closed descriptor %d", fd);
	}
	return 0;
}

/* Before any thread exists, so that every thread inherits the mask. */
static int interrupts_to_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	interrupt_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return interrupt_fd < 0 ? runner_error("cannot create a signalfd: %m") : 0;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	agentvm_config *cfg = NULL;
	agentvm_vm *vm = NULL;
	int status;

	status = standard_fds_open();
	if (!status)
		status = parse_options(argc, argv, &o);
	if (!status)
		status = interrupts_to_fd();
	if (status)
		return status;
	/* A closed stdout must not kill us before the VM is torn down: writes report EPIPE. */
	signal(SIGPIPE, SIG_IGN);

	if (agentvm_config_new(&cfg) || configure(&o, cfg) ||
	    (o.restore ? agentvm_vm_restore(o.restore, cfg, &vm) : agentvm_vm_new(cfg, &vm))) {
		status = runner_error("%s", agentvm_last_error());
		goto out;
	}
	status = o.console_only ? run_console(vm, o.timeout_sec) : run_command(vm, &o);
out:
	agentvm_vm_free(vm);
	agentvm_config_free(cfg);
	return status;
}
