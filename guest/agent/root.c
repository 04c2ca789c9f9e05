#include "root.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "log.h"

#define NEW_ROOT "/newroot"
#define LOWER "/lower"       /* agentvm.overlay=1: the disk, read-only */
#define WRITABLE "/writable" /* ... and the tmpfs holding the overlay's changes */

/* Mounts that PID 1 made in the initramfs and the new root needs too. */
static const char *const moved[] = { "/dev", "/proc", "/sys", "/tmp" };

/*
 * The value of the last KEY=value word on the command line into buf
 * (`agentvm.*` values need no quoting, so none is parsed); false if absent
 * or longer than buf.
 */
static bool cmdline_get(const char *cmdline, const char *key, char *buf, size_t size)
{
	static const char space[] = " \t\n";
	size_t key_len = strlen(key);
	bool found = false;

	for (const char *w = cmdline + strspn(cmdline, space); *w; w += strspn(w, space)) {
		size_t len = strcspn(w, space);

		if (len > key_len && strncmp(w, key, key_len) == 0 && w[key_len] == '=' &&
		    len - key_len - 1 < size) {
			memcpy(buf, w + key_len + 1, len - key_len - 1);
			buf[len - key_len - 1] = '\0';
			found = true;
		}
		w += len;
	}
	return found;
}

static int read_cmdline(char *buf, size_t size)
{
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		n = -errno;
	} else {
		n = fd_read_full(fd, buf, size - 1);
		close(fd);
	}
	if (n < 0) {
		agent_log("read /proc/cmdline: %s", strerror((int)-n));
		return (int)n;
	}
	buf[n] = '\0';
	return 0;
}

static int fail(const char *step, const char *what)
{
	int err = -errno;

	agent_log("agentvm.root: %s %s: %s", step, what, strerror(errno));
	return err;
}

/*
 * The disk read-only under a tmpfs the guest writes to: many VMs share one
 * image without changing it, and the writes live in guest memory, so a
 * snapshot keeps them and each clone of it writes its own.
 */
static int mount_overlay(const char *dev, const char *type)
{
	if (mkdir(LOWER, 0755) < 0 && errno != EEXIST)
		return fail("mkdir", LOWER);
	if (mount(dev, LOWER, type, MS_RDONLY, NULL) < 0)
		return fail("mount", dev);
	if ((mkdir(WRITABLE, 0755) < 0 && errno != EEXIST) ||
	    mount("overlay-upper", WRITABLE, "tmpfs", 0, "mode=0755") < 0 ||
	    mkdir(WRITABLE "/upper", 0755) < 0 || mkdir(WRITABLE "/work", 0755) < 0)
		return fail("make", WRITABLE);
	if (mount("overlay", NEW_ROOT, "overlay", 0,
		  "lowerdir=" LOWER ",upperdir=" WRITABLE "/upper,workdir=" WRITABLE "/work") < 0)
		return fail("mount the overlay on", dev);
	return 0;
}

int root_switch(void)
{
	char cmdline[4096], dev[256], type[64] = "ext4", flag[8];
	char target[64];
	int err = read_cmdline(cmdline, sizeof(cmdline));

	if (err || !cmdline_get(cmdline, "agentvm.root", dev, sizeof(dev)))
		return err;
	cmdline_get(cmdline, "agentvm.rootfstype", type, sizeof(type));
	mkdir(NEW_ROOT, 0755);
	if (cmdline_get(cmdline, "agentvm.overlay", flag, sizeof(flag)) && strcmp(flag, "1") == 0)
		err = mount_overlay(dev, type);
	/* A read-only disk refuses to mount read-write: fall back as the kernel does for root=. */
	else if (mount(dev, NEW_ROOT, type, 0, NULL) < 0 &&
		 ((errno != EROFS && errno != EACCES) ||
		  mount(dev, NEW_ROOT, type, MS_RDONLY, NULL) < 0))
		err = fail("mount", dev);
	if (err)
		return err;
	for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
		snprintf(target, sizeof(target), NEW_ROOT "%s", moved[i]);
		mkdir(target, 0755);
		if (mount(moved[i], target, NULL, MS_MOVE, NULL) < 0)
			return fail("move", moved[i]);
	}
	/*
	 * switch_root without its cleanup: the initramfs's files stay in memory
	 * under the new root, unreachable. They are a few MiB (busybox and the
	 * agent), not worth walking the tree to delete.
	 */
	if (chdir(NEW_ROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
	    chdir("/") < 0)
		return fail("switch to", dev);
	return 0;
}
