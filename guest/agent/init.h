/* What the agent does as PID 1 besides serving: the system it runs in, and never exiting. */
#ifndef AGENTVM_GUEST_INIT_H
#define AGENTVM_GUEST_INIT_H

/*
 * Mount devtmpfs, devpts, /dev/shm, proc, sysfs and /tmp; make the console
 * fds 0-2; set PATH; then switch to agentvm.root= if the command line has
 * it (root.h). A mount that fails is logged and skipped: commands may still
 * run without it. 0, or -errno (logged) when the requested root cannot be used.
 */
int pid1_setup(void);

/* Make sure 0, 1 and 2 are open (on /dev/null if need be), so a pipe never lands there. */
void stdio_ensure(void);

/*
 * PID 1 cannot serve: end the VM. PID 1 must never exit (the kernel would
 * panic), so should the reboot fail this reaps children forever.
 */
void pid1_halt(void) __attribute__((noreturn));

#endif
