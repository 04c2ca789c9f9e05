#define _GNU_SOURCE
#include "vmm/kick.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "agentvm.h"
#include "util/error.h"

static void kick_handler(int sig)
{
	(void)sig;
}

static int kick_signal(void)
{
	return AGENTVM_KICK_SIGNAL();
}

int kick_signal_prepare(void)
{
	struct sigaction old, act;

	if (sigaction(kick_signal(), NULL, &old) < 0)
		return error_set_errno(-errno, "cannot query signal %d", kick_signal());
	if (old.sa_handler == SIG_IGN)
		return error_set(-EINVAL, "signal SIGRTMIN+%d is ignored by this process; vCPUs need it to stop (see AGENTVM_KICK_SIGNAL)",
				 AGENTVM_KICK_SIGNAL_OFFSET);
	if (old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO))
		return 0; /* the host's own handler interrupts KVM_RUN just as well */
	memset(&act, 0, sizeof(act));
	act.sa_handler = kick_handler;
	sigemptyset(&act.sa_mask);
	if (sigaction(kick_signal(), &act, NULL) < 0)
		return error_set_errno(-errno, "cannot install a handler for signal %d", kick_signal());
	return 0;
}

int kick_vcpu_thread_setup(int vcpu_fd)
{
	struct kvm_signal_mask *kmask;
	sigset_t all, in_guest;
	int err = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	in_guest = all;
	sigdelset(&in_guest, kick_signal());

	/* The kernel's sigset is 8 bytes on every Linux architecture we run on, not glibc's 128. */
	kmask = malloc(sizeof(*kmask) + 8);
	if (!kmask)
		return error_set(-ENOMEM, "out of memory for the vCPU signal mask");
	kmask->len = 8;
	memcpy(kmask->sigset, &in_guest, 8);
	if (ioctl(vcpu_fd, KVM_SET_SIGNAL_MASK, kmask) < 0)
		err = error_set_errno(-errno, "KVM_SET_SIGNAL_MASK");
	free(kmask);
	return err;
}

void kick_consume(void)
{
	struct timespec zero = { 0, 0 };
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, kick_signal());
	while (sigtimedwait(&kick, NULL, &zero) > 0)
		;
}

void kick_thread(pthread_t thread)
{
	pthread_kill(thread, kick_signal());
}
