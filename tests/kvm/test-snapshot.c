/*
 * Snapshot and restore against the real guest and its agent: a template VM
 * is booted once and snapshotted (raw and compressed); clones restored from
 * it keep its files and processes, are independent of each other (memory,
 * clock, randomness), find the template's idle agent worker waiting for
 * them, every kind of damaged snapshot is refused before a guest runs, and
 * restores take VMs the library created ahead of need (agentvm_set_spare_vms()). Restoring in another process is covered by test-exec-cli.sh
 * (agentvm-exec --snapshot-out, then --restore).
 *
 * Needs AGENTVM_TEST_KERNEL and AGENTVM_TEST_AGENT_INITRD (meson sets both).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "agentvm.h"
#include "snapshot/format.h"
#include "test-env.h"

#define CLONES 4
#define MEMORY_MIB 128

static agentvm_vm *template_vm;
static char dir[] = "/tmp/agentvm-snapshot-XXXXXX";
static char raw_path[256], compressed_path[256];
static struct timespec saved_at;

static agentvm_config *config(void)
{
	agentvm_config *cfg;

	assert_int_equal(agentvm_config_new(&cfg), 0);
	assert_int_equal(agentvm_config_set_kernel(cfg, env_path("AGENTVM_TEST_KERNEL")), 0);
	assert_int_equal(agentvm_config_set_initrd(cfg, env_path("AGENTVM_TEST_AGENT_INITRD")), 0);
	assert_int_equal(agentvm_config_set_vcpus(cfg, 2), 0);
	assert_int_equal(agentvm_config_set_memory_mib(cfg, MEMORY_MIB), 0);
	assert_int_equal(agentvm_config_set_console_fd(cfg, STDERR_FILENO), 0);
	return cfg;
}

/* stdout of `sh -c script` in v, which must exit 0; the caller frees it. */
static char *sh(agentvm_vm *v, const char *script)
{
	const char *argv[] = { "sh", "-c", script, NULL };
	agentvm_exec_options o;
	agentvm_exec_result *r = NULL;
	char *out;

	agentvm_exec_options_init(&o);
	o.argv = argv;
	if (agentvm_vm_exec(v, &o, &r))
		fail_msg("exec '%s': %s", script, agentvm_last_error());
	if (r->exit_code != 0)
		fail_msg("'%s' exited %d: %s", script, r->exit_code, (const char *)r->stderr_data);
	out = strdup((const char *)r->stdout_data);
	agentvm_exec_result_free(r);
	return out;
}

static void expect_sh(agentvm_vm *v, const char *script, const char *want)
{
	char *out = sh(v, script);

	assert_string_equal(out, want);
	free(out);
}

static agentvm_vm *restore(const char *path)
{
	agentvm_vm *v = NULL;

	if (agentvm_vm_restore(path, NULL, &v))
		fail_msg("restore %s: %s", path, agentvm_last_error());
	if (agentvm_vm_start(v))
		fail_msg("start of the restored VM: %s", agentvm_last_error());
	return v;
}

/*
 * The template: a file in /tmp and a process that outlives the exec that
 * started it (its own session, so the agent's group kill cannot reach it).
 */
static int group_setup(void **state)
{
	agentvm_config *cfg = config();

	(void)state;
	if (!mkdtemp(dir))
		fail_msg("mkdtemp: %s", strerror(errno));
	snprintf(raw_path, sizeof(raw_path), "%s/raw.snap", dir);
	snprintf(compressed_path, sizeof(compressed_path), "%s/compressed.snap", dir);
	assert_int_equal(agentvm_vm_new(cfg, &template_vm), 0);
	agentvm_config_free(cfg);
	if (agentvm_vm_start(template_vm))
		fail_msg("start: %s", agentvm_last_error());
	expect_sh(template_vm,
		  "echo template >/tmp/state; "
		  "setsid sh -c 'echo $$ >/tmp/bg.pid; exec sleep 100000' </dev/null >/dev/null 2>&1 & "
		  "while [ ! -s /tmp/bg.pid ]; do sleep 0.1; done",
		  "");
	if (agentvm_vm_snapshot(template_vm, raw_path, 0))
		fail_msg("snapshot: %s", agentvm_last_error());
	if (agentvm_vm_snapshot(template_vm, compressed_path, AGENTVM_SNAPSHOT_COMPRESS))
		fail_msg("compressed snapshot: %s", agentvm_last_error());
	clock_gettime(CLOCK_REALTIME, &saved_at);
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[300];

	(void)state;
	agentvm_vm_free(template_vm);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void restored_vm_keeps_files_and_processes(void **state)
{
	agentvm_vm *v;

	(void)state;
	v = restore(raw_path);
	expect_sh(v, "cat /tmp/state; kill -0 $(cat /tmp/bg.pid) && echo alive", "template\nalive\n");
	agentvm_vm_free(v);
}

static off_t allocated(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_blocks * 512;
}

static void compressed_snapshot_restores_and_is_smaller(void **state)
{
	agentvm_vm *v;

	(void)state;
	assert_true(allocated(compressed_path) < allocated(raw_path));
	/* Sparse: the guest never touched most of its memory. */
	assert_true(allocated(raw_path) < (off_t)MEMORY_MIB << 20);
	v = restore(compressed_path);
	expect_sh(v, "cat /tmp/state; kill -0 $(cat /tmp/bg.pid) && echo alive", "template\nalive\n");
	agentvm_vm_free(v);
}

static void copy(const char *from, const char *to);
static void read_header(const char *path, uint8_t *page, struct snapshot_header *h);

/*
 * Guest memory KVM maps 2 MiB at a time in this process's VMs: the sum of
 * debugfs's pages_2m over our VMs' directories (<pid>-<vm fd>), or -1 where
 * debugfs cannot be read or has no such counter (x86's KVM has it, arm64's
 * has not).
 */
static long long kvm_pages_2m(void)
{
	char prefix[32], path[600];
	long long total = 0, n;
	struct dirent *e;
	DIR *d = opendir("/sys/kernel/debug/kvm");
	FILE *f;

	if (!d)
		return -1;
	snprintf(prefix, sizeof(prefix), "%d-", (int)getpid());
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/debug/kvm/%s/pages_2m", e->d_name);
		f = fopen(path, "re");
		if (!f) {
			total = -1;
			break;
		}
		assert_int_equal(fscanf(f, "%lld", &n), 1);
		fclose(f);
		total += n;
	}
	closedir(d);
	return total;
}

/*
 * A raw snapshot's memory starts 2 MiB-aligned in its file, so that where
 * the file's page cache holds huge pages (a tmpfs mounted huge=always), KVM
 * maps a restored guest's memory 2 MiB at a time rather than faulting it in
 * 4 KiB at a time. Needs root, for the mounts, and KVM's pages_2m counter
 * in debugfs: skipped without either, after the alignment check.
 */
static void raw_snapshot_on_huge_tmpfs_maps_huge_pages(void **state)
{
	uint8_t page[SNAPSHOT_HEADER_SIZE];
	struct snapshot_header h;
	char mnt[300], path[320];
	long long before, after;
	agentvm_vm *v;

	(void)state;
	read_header(raw_path, page, &h);
	assert_int_equal(h.memory_offset % SNAPSHOT_MEMORY_ALIGN, 0);
	if (kvm_pages_2m() < 0)
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (kvm_pages_2m() < 0)
		skip();
	snprintf(mnt, sizeof(mnt), "%s/huge", dir);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("agentvm-test", mnt, "tmpfs", 0, "huge=always") != 0) {
		assert_int_equal(errno, EPERM);
		rmdir(mnt);
		skip();
	}
	snprintf(path, sizeof(path), "%s/template.snap", mnt);
	copy(raw_path, path);
	before = kvm_pages_2m();
	v = restore(path);
	expect_sh(v, "cat /tmp/state", "template\n");
	after = kvm_pages_2m();
	agentvm_vm_free(v);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
	rmdir(mnt);
	assert_true(after > before);
}

static void template_goes_on_after_snapshots(void **state)
{
	(void)state;
	expect_sh(template_vm, "cat /tmp/state; echo more >>/tmp/state; cat /tmp/state",
		  "template\ntemplate\nmore\n");
}

struct clone {
	pthread_t thread;
	unsigned int n;
	agentvm_vm *vm;
	char *seen;   /* what it read back after writing its own data */
	char *uuid;   /* a kernel random UUID */
	long long skew; /* guest wall clock minus host's, in seconds */
};

static void *run_clone(void *arg)
{
	struct clone *c = arg;
	char script[128];
	char *now;

	c->vm = restore(raw_path);
	snprintf(script, sizeof(script), "echo clone %u >/tmp/state; sleep 0.2; cat /tmp/state", c->n);
	c->seen = sh(c->vm, script);
	c->uuid = sh(c->vm, "cat /proc/sys/kernel/random/uuid");
	now = sh(c->vm, "date +%s");
	c->skew = atoll(now) - (long long)time(NULL);
	free(now);
	return NULL;
}

/*
 * Restored at once from one snapshot, clones write different data and each
 * sees only its own; each reads different kernel randomness; each has the
 * host's wall clock, not the snapshot's (taken seconds earlier).
 */
static void clones_are_independent(void **state)
{
	struct clone c[CLONES];
	struct timespec now;

	(void)state;
	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec - saved_at.tv_sec < 3)
		sleep((unsigned int)(3 - (now.tv_sec - saved_at.tv_sec)));
	for (unsigned int i = 0; i < CLONES; i++) {
		c[i] = (struct clone){ .n = i };
		assert_int_equal(pthread_create(&c[i].thread, NULL, run_clone, &c[i]), 0);
	}
	for (unsigned int i = 0; i < CLONES; i++)
		pthread_join(c[i].thread, NULL);
	for (unsigned int i = 0; i < CLONES; i++) {
		char want[32];

		snprintf(want, sizeof(want), "clone %u\n", i);
		assert_string_equal(c[i].seen, want);
		assert_true(c[i].skew >= -2 && c[i].skew <= 2);
		for (unsigned int j = 0; j < i; j++)
			assert_string_not_equal(c[i].uuid, c[j].uuid);
	}
	for (unsigned int i = 0; i < CLONES; i++) {
		agentvm_vm_free(c[i].vm);
		free(c[i].seen);
		free(c[i].uuid);
	}
}

/* A clone is a VM like any other: it can be snapshotted, and that snapshot restored. */
static void clone_of_a_clone(void **state)
{
	char path[300];
	agentvm_vm *v, *w;

	(void)state;
	snprintf(path, sizeof(path), "%s/second.snap", dir);
	v = restore(raw_path);
	expect_sh(v, "echo second generation >/tmp/state", "");
	if (agentvm_vm_snapshot(v, path, AGENTVM_SNAPSHOT_STOP))
		fail_msg("snapshot of a clone: %s", agentvm_last_error());
	assert_int_equal(agentvm_vm_wait(v, 10000, NULL), 0);
	agentvm_vm_free(v);
	w = restore(path);
	expect_sh(w, "cat /tmp/state; kill -0 $(cat /tmp/bg.pid) && echo alive",
		  "second generation\nalive\n");
	agentvm_vm_free(w);
	unlink(path);
}

/*
 * The template's standby agent connection, once established, travels with
 * its snapshot: a clone's SYNC and first command go to the worker the
 * template's agent forked for it before the save, the same one the template's own next command gets
 * (both print its PID; a worker forked after the restore would have a later
 * one); the clone then goes on with standbys of its own.
 */
static void clone_finds_the_templates_worker_waiting(void **state)
{
	char path[300], *template_worker, *clone_worker;
	agentvm_vm *v;

	(void)state;
	snprintf(path, sizeof(path), "%s/standby.snap", dir);
	expect_sh(template_vm, "true", "");
	/*
	 * That exec opened the next standby, which travels once the guest has
	 * accepted it; a nested arm64 guest can take longer than the exec did.
	 */
	usleep(500 * 1000);
	if (agentvm_vm_snapshot(template_vm, path, 0))
		fail_msg("snapshot: %s", agentvm_last_error());
	template_worker = sh(template_vm, "echo $PPID");
	v = restore(path);
	clone_worker = sh(v, "echo $PPID");
	assert_string_equal(clone_worker, template_worker);
	for (int i = 0; i < 3; i++)
		expect_sh(v, "echo again", "again\n");
	agentvm_vm_free(v);
	free(template_worker);
	free(clone_worker);
	unlink(path);
}

/* kB of this process's mappings of `path` that are private copies (smaps "Anonymous"). */
static long long private_kb_of(const char *path)
{
	char real[PATH_MAX], line[PATH_MAX + 128];
	unsigned long long lo, hi;
	long long total = 0, kb;
	bool ours = false;
	FILE *f;

	assert_non_null(realpath(path, real));
	f = fopen("/proc/self/smaps", "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2) {
			size_t n = strlen(line), m = strlen(real);

			ours = n >= m && strcmp(line + n - m, real) == 0;
		} else if (ours && sscanf(line, "Anonymous: %lld kB", &kb) == 1) {
			total += kb;
		}
	}
	fclose(f);
	return total;
}

/* The page count of the learned-pages record at path (doc/snapshot-format.md), -1 without one. */
static long long record_pages(const char *path)
{
	uint8_t h[16];
	uint32_t count;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok = fd >= 0 && read(fd, h, sizeof(h)) == (ssize_t)sizeof(h) &&
		  memcmp(h, "AGVMPAGE", 8) == 0;

	if (fd >= 0)
		close(fd);
	if (!ok)
		return -1;
	memcpy(&count, h + 12, sizeof(count));
	return count;
}

static agentvm_vm *restore_unstarted(const char *path)
{
	agentvm_vm *v = NULL;

	if (agentvm_vm_restore(path, NULL, &v))
		fail_msg("restore %s: %s", path, agentvm_last_error());
	return v;
}

static void start_and_run(agentvm_vm *v)
{
	if (agentvm_vm_start(v))
		fail_msg("start of the restored VM: %s", agentvm_last_error());
	expect_sh(v, "cat /tmp/state", "template\n");
	agentvm_vm_free(v);
}

/*
 * The first restore of a snapshot notes, after its first command, which
 * pages its guest wrote (PATH.pages); later restores copy those out of the
 * snapshot before the guest runs. A snapshot changed since, or a record that
 * is not one, is ignored and written anew.
 */
static void clones_learn_which_pages_to_copy_ahead(void **state)
{
	char path[300], record[320];
	long long learned, before;
	struct timespec later[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = 1 } };
	agentvm_vm *v;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/learn.snap", dir);
	snprintf(record, sizeof(record), "%s.pages", path);
	copy(raw_path, path);
	v = restore_unstarted(path);
	before = private_kb_of(path);
	start_and_run(v);
	learned = record_pages(record);
	assert_true(learned > 0);

	v = restore_unstarted(path);
	/* The restore itself writes a few pages (`before`), which the record lists too. */
	if (private_kb_of(path) < learned * 4 || learned * 4 <= before)
		fail_msg("%lld kB copied ahead for %lld learned pages (%lld kB before learning)",
			 private_kb_of(path), learned, before);
	start_and_run(v);

	/* The snapshot's modification time moved: the record is stale. */
	assert_int_equal(utimensat(AT_FDCWD, path, later, 0), 0);
	v = restore_unstarted(path);
	assert_true(private_kb_of(path) < learned * 4);
	start_and_run(v);
	v = restore_unstarted(path); /* ... and was written anew */
	assert_true(private_kb_of(path) >= learned * 4 / 2);
	agentvm_vm_free(v);

	fd = open(record, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0 && write(fd, "AGVMPAGE garbage", 16) == 16);
	close(fd);
	v = restore_unstarted(path);
	assert_true(private_kb_of(path) < learned * 4);
	start_and_run(v);
	assert_true(record_pages(record) > 0);
	unlink(record);
	unlink(path);
}

struct slow_exec {
	pthread_t thread;
	char *out;
};

/* How many of this process's descriptors are KVM VMs. */
static int kvm_vm_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	char path[300], target[64];
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = '\0';
			n += strcmp(target, "anon_inode:kvm-vm") == 0;
		}
	}
	closedir(d);
	return n;
}

/* Wait up to 20 s for the spare thread to bring the count to `want`; the count then. */
static int kvm_vm_fds_reach(int want)
{
	int n = kvm_vm_fds();

	for (int i = 0; i < 2000 && n != want; i++) {
		usleep(10000);
		n = kvm_vm_fds();
	}
	return n;
}

/* The id of this process's thread named `name`, or -1. */
static int thread_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	char path[300], comm[32];
	struct dirent *e;
	int tid = -1;

	assert_non_null(d);
	while (tid < 0 && (e = readdir(d))) {
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && strncmp(comm, name, strlen(name)) == 0 &&
		    comm[strlen(name)] == '\n')
			tid = atoi(e->d_name);
		fclose(f);
	}
	closedir(d);
	return tid;
}

/* KVM's debugfs directories (<creating thread's id>-<fd>) of VMs the thread `tid` created; -1 without debugfs. */
static int vms_created_by(int tid)
{
	DIR *d = opendir("/sys/kernel/debug/kvm");
	char prefix[32];
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	snprintf(prefix, sizeof(prefix), "%d-", tid);
	while ((e = readdir(d)))
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

/*
 * agentvm_set_spare_vms(): the library's thread creates VMs ahead, a restore
 * takes one (KVM's debugfs names the thread that created a VM) and the thread
 * makes another in its place; a fork()ed child holds none of them; a freed
 * VM's descriptor is closed by the thread; 0 closes the spares and stops the
 * thread at once. Needs debugfs (mounted here if it is not).
 */
static void spare_vms_are_made_taken_and_released(void **state)
{
	int before = kvm_vm_fds(), spare_tid, status;
	agentvm_vm *clone;
	pid_t child;

	(void)state;
	assert_int_equal(agentvm_set_spare_vms(AGENTVM_MAX_SPARE_VMS + 1), -EINVAL);
	assert_non_null(strstr(agentvm_last_error(), "at most"));
	if (vms_created_by(getpid()) < 0)
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (vms_created_by(getpid()) < 0)
		skip();
	assert_int_equal(agentvm_set_spare_vms(2), 0);
	assert_int_equal(kvm_vm_fds_reach(before + 2), before + 2);
	spare_tid = thread_named("agentvm-spare");
	assert_true(spare_tid > 0);
	assert_int_equal(vms_created_by(spare_tid), 2);

	clone = restore(raw_path);
	expect_sh(clone, "cat /tmp/state", "template\n");
	/* The clone's VM is one of the two: none more was made on this thread. */
	assert_int_equal(kvm_vm_fds_reach(before + 3), before + 3);
	assert_int_equal(vms_created_by(spare_tid), 3);

	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(kvm_vm_fds() == before + 1 ? 0 : 1); /* the template's and the clone's */
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* Freed, its VM's last descriptor goes to the thread, which closes it. */
	agentvm_vm_free(clone);
	assert_int_equal(kvm_vm_fds_reach(before + 2), before + 2);
	assert_int_equal(agentvm_set_spare_vms(0), 0);
	assert_int_equal(kvm_vm_fds(), before);
	assert_int_equal(thread_named("agentvm-spare"), -1);
}

static void *exec_slowly(void *arg)
{
	struct slow_exec *s = arg;

	s->out = sh(template_vm, "echo before; sleep 1; echo after");
	return NULL;
}

/* The guest stands still while it is saved; an exec in flight then finishes as if nothing happened. */
static void exec_in_flight_survives_a_snapshot(void **state)
{
	char path[300];
	struct slow_exec s = { 0 };

	(void)state;
	snprintf(path, sizeof(path), "%s/busy.snap", dir);
	assert_int_equal(pthread_create(&s.thread, NULL, exec_slowly, &s), 0);
	usleep(300 * 1000);
	if (agentvm_vm_snapshot(template_vm, path, 0))
		fail_msg("snapshot during an exec: %s", agentvm_last_error());
	pthread_join(s.thread, NULL);
	assert_string_equal(s.out, "before\nafter\n");
	free(s.out);
	unlink(path);
}

/* ---- Damaged snapshots ---- */

static void copy(const char *from, const char *to)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "cp --sparse=always %s %s", from, to);
	assert_int_equal(system(cmd), 0);
}

static void read_header(const char *path, uint8_t *page, struct snapshot_header *h)
{
	int fd = open(path, O_RDONLY);
	struct stat st;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(pread(fd, page, SNAPSHOT_HEADER_SIZE, 0), SNAPSHOT_HEADER_SIZE);
	close(fd);
	assert_int_equal(snapshot_header_decode(page, (uint64_t)st.st_size, h), 0);
}

static void write_at(const char *path, const void *data, size_t len, off_t offset)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, len, offset), (ssize_t)len);
	close(fd);
}

/* A copy of the raw snapshot with its header changed by `edit` (and a valid header checksum). */
static void reheader(const char *path, void (*edit)(struct snapshot_header *))
{
	uint8_t page[SNAPSHOT_HEADER_SIZE];
	struct snapshot_header h;

	copy(raw_path, path);
	read_header(path, page, &h);
	edit(&h);
	snapshot_header_encode(&h, page);
	write_at(path, page, sizeof(page), 0);
}

static void expect_refused(const char *path, int want, const char *says)
{
	agentvm_vm *v = NULL;
	int err = agentvm_vm_restore(path, NULL, &v);

	if (err != want)
		fail_msg("restoring %s: got %d (%s), want %d", path, err, agentvm_last_error(), want);
	assert_null(v);
	if (!strstr(agentvm_last_error(), says))
		fail_msg("message '%s' does not say '%s'", agentvm_last_error(), says);
}

static void next_version(struct snapshot_header *h)
{
	h->version = SNAPSHOT_FORMAT_VERSION + 1;
}

/* The architecture this host is not, and its name as the refusal says it. */
#if defined(__aarch64__)
#define OTHER_ARCH SNAPSHOT_ARCH_X86_64
#define OTHER_ARCH_NAME "x86_64"
#else
#define OTHER_ARCH SNAPSHOT_ARCH_AARCH64
#define OTHER_ARCH_NAME "aarch64"
#endif

static void other_arch(struct snapshot_header *h)
{
	h->arch = OTHER_ARCH;
}

/*
 * Every bit of the third feature word: x86_64's CPUID 7.0 EBX, arm64's
 * ID_AA64PFR1_EL1 (low half). No CPU has them all, so some must differ here.
 */
static void every_feature(struct snapshot_header *h)
{
	h->cpu_features[2] = 0xffffffffu;
}

static void damaged_snapshots_are_refused(void **state)
{
	char path[300];
	uint8_t page[SNAPSHOT_HEADER_SIZE];
	struct snapshot_header h;
	uint8_t byte;

	(void)state;
	snprintf(path, sizeof(path), "%s/damaged.snap", dir);
	expect_refused("/nonexistent/x.snap", -ENOENT, "/nonexistent/x.snap");

	copy(raw_path, path);
	assert_int_equal(truncate(path, 2000), 0);
	expect_refused(path, -EBADMSG, "truncated");

	copy(raw_path, path);
	read_header(path, page, &h);
	assert_int_equal(truncate(path, (off_t)(h.memory_offset + h.memory_size - 4096)), 0);
	expect_refused(path, -EBADMSG, "truncated");

	copy(raw_path, path);
	write_at(path, "NOTASNAP", 8, 0);
	expect_refused(path, -EINVAL, "not an agentvm snapshot");

	copy(raw_path, path);
	read_header(path, page, &h);
	byte = page[20] ^ 0x01; /* inside the header, after the magic */
	write_at(path, &byte, 1, 20);
	expect_refused(path, -EBADMSG, "");

	copy(raw_path, path);
	read_header(path, page, &h);
	byte = 0x5a;
	write_at(path, &byte, 1, (off_t)(h.state_offset + h.state_size / 2));
	expect_refused(path, -EBADMSG, "");

	reheader(path, next_version);
	expect_refused(path, -EPROTONOSUPPORT, "version");
	reheader(path, other_arch);
	expect_refused(path, -ENOEXEC, OTHER_ARCH_NAME);
	reheader(path, every_feature);
	expect_refused(path, -ENOTSUP, "CPU feature");
	unlink(path);
}

static void bad_calls(void **state)
{
	agentvm_config *cfg = config();
	agentvm_vm *v = NULL;

	(void)state;
	assert_int_equal(agentvm_vm_snapshot(NULL, raw_path, 0), -EINVAL);
	assert_int_equal(agentvm_vm_snapshot(template_vm, NULL, 0), -EINVAL);
	assert_int_equal(agentvm_vm_snapshot(template_vm, "/tmp/x.snap", 0x80), -EINVAL);
	assert_int_equal(agentvm_vm_restore(NULL, NULL, &v), -EINVAL);
	assert_int_equal(agentvm_vm_restore(raw_path, NULL, NULL), -EINVAL);
	/* A VM that never started has nothing to save. */
	assert_int_equal(agentvm_vm_new(cfg, &v), 0);
	assert_int_equal(agentvm_vm_snapshot(v, "/tmp/never.snap", 0), -ESHUTDOWN);
	assert_int_equal(access("/tmp/never.snap", F_OK), -1);
	agentvm_vm_free(v);
	agentvm_config_free(cfg);
}

/* A writable disk would go on changing under every clone: refused, and no file is left. */
static void writable_disk_refuses_snapshot(void **state)
{
	agentvm_config *cfg = config();
	char image[300], snap[300];
	agentvm_vm *v = NULL;
	int fd;

	(void)state;
	snprintf(image, sizeof(image), "%s/disk.img", dir);
	snprintf(snap, sizeof(snap), "%s/disk.snap", dir);
	fd = open(image, O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	assert_int_equal(agentvm_config_add_disk(cfg, image, 0), 0);
	assert_int_equal(agentvm_vm_new(cfg, &v), 0);
	agentvm_config_free(cfg);
	if (agentvm_vm_start(v))
		fail_msg("start: %s", agentvm_last_error());
	assert_int_equal(agentvm_vm_snapshot(v, snap, 0), -EBUSY);
	assert_non_null(strstr(agentvm_last_error(), "writable"));
	assert_int_equal(access(snap, F_OK), -1);
	expect_sh(v, "echo still running", "still running\n");
	agentvm_vm_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(restored_vm_keeps_files_and_processes),
		cmocka_unit_test(compressed_snapshot_restores_and_is_smaller),
		cmocka_unit_test(raw_snapshot_on_huge_tmpfs_maps_huge_pages),
		cmocka_unit_test(clones_are_independent),
		cmocka_unit_test(template_goes_on_after_snapshots),
		cmocka_unit_test(clone_finds_the_templates_worker_waiting),
		cmocka_unit_test(clones_learn_which_pages_to_copy_ahead),
		cmocka_unit_test(exec_in_flight_survives_a_snapshot),
		cmocka_unit_test(clone_of_a_clone),
		cmocka_unit_test(spare_vms_are_made_taken_and_released),
		cmocka_unit_test(damaged_snapshots_are_refused),
		cmocka_unit_test(bad_calls),
		cmocka_unit_test(writable_disk_refuses_snapshot),
	};

	/* Runs in well under a minute, also in the nested test host. */
	test_deadline(300);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
