#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "root.h"
#include "spawn.h"

struct mount_spec {
	const char *source, *target, *type;
	unsigned long flags;
	const char *data;
};

static const struct mount_spec dev_mount = {
	"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"
};

/*
 * After /dev, which holds the first two: ptys, and POSIX shared memory
 * (Python's multiprocessing needs it).
 */
static const struct mount_spec other_mounts[] = {
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666" },
	{ "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
};

static void mount_fs(const struct mount_spec *m)
{
	/* An existing directory is the usual case; mount() reports any real problem. */
	mkdir(m->target, 0755);
	if (mount(m->source, m->target, m->type, m->flags, m->data) < 0)
		agent_log("mount %s on %s: %s", m->type, m->target, strerror(errno));
}

/*
 * The kernel starts an initramfs's /init on its own /dev/console when it
 * finds one, a root disk's init on the disk's; take devtmpfs's, which always
 * exists, so the agent's lines reach the console either way.
 */
static void console_reopen(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);

	if (fd < 0)
		return;
	for (int i = 0; i <= STDERR_FILENO; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > STDERR_FILENO)
		close(fd);
}

int pid1_setup(void)
{
	mount_fs(&dev_mount);
	console_reopen();
	for (size_t i = 0; i < sizeof(other_mounts) / sizeof(other_mounts[0]); i++)
		mount_fs(&other_mounts[i]);
	/* For the agent itself; commands get exactly the environment the host sends. */
	setenv("PATH", SPAWN_DEFAULT_PATH, 1);
	return root_switch();
}

void stdio_ensure(void)
{
	int fd;

	do
		fd = open("/dev/null", O_RDWR);
	while (fd >= 0 && fd <= STDERR_FILENO);
	if (fd >= 0)
		close(fd);
}

void pid1_halt(void)
{
	agent_log("cannot serve: stopping the VM");
	sync();
	/*
	 * A reboot, not a power-off: agentvm's machine has no ACPI, so
	 * RB_POWER_OFF would only halt the CPUs and leave the host waiting for
	 * its timeout, while a reboot (reboot=p, the reset control register) ends the VM at
	 * once and the host sees why on the console.
	 */
	reboot(RB_AUTOBOOT);
	for (;;)
		if (wait(NULL) < 0)
			sleep(1);
}
