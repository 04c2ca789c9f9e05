/*
 * Boot tests against a real KVM and the real guest kernel: a guest reaches
 * init on 1 and 2 vCPUs, its reboot ends the VM with that reason, kill stops
 * a running guest, the library's threads are named and keep their stacks out
 * of huge pages (a console callback still has a full-sized one), two VMs run
 * at once in one process, and malformed kernels are refused with a clear error.
 *
 * Needs AGENTVM_TEST_KERNEL and AGENTVM_TEST_INITRD (meson sets both).
 * Where /dev/kvm cannot run guests, meson runs this through tests/vmhost.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>

#include "agentvm.h"
#include "test-env.h"

#define BOOT_TIMEOUT_MS 60000
#define MARKER "AGENTVM-INIT-MARKER"

struct console_capture {
	pthread_mutex_t lock;
	char text[16384];
	size_t len;
};

static void capture_console(const char *data, size_t len, void *payload)
{
	struct console_capture *c = payload;

	pthread_mutex_lock(&c->lock);
	if (len > sizeof(c->text) - 1 - c->len)
		len = sizeof(c->text) - 1 - c->len;
	memcpy(c->text + c->len, data, len);
	c->len += len;
	c->text[c->len] = '\0';
	pthread_mutex_unlock(&c->lock);
}

static bool capture_contains(struct console_capture *c, const char *needle)
{
	bool found;

	pthread_mutex_lock(&c->lock);
	found = strstr(c->text, needle) != NULL;
	pthread_mutex_unlock(&c->lock);
	return found;
}

static agentvm_config *test_config(struct console_capture *capture, uint32_t vcpus, const char *action)
{
	agentvm_config *cfg;
	char cmdline[64];

	snprintf(cmdline, sizeof(cmdline), "agentvm.test=%s", action);
	assert_int_equal(agentvm_config_new(&cfg), 0);
	assert_int_equal(agentvm_config_set_kernel(cfg, env_path("AGENTVM_TEST_KERNEL")), 0);
	assert_int_equal(agentvm_config_set_initrd(cfg, env_path("AGENTVM_TEST_INITRD")), 0);
	assert_int_equal(agentvm_config_set_cmdline(cfg, cmdline), 0);
	assert_int_equal(agentvm_config_set_vcpus(cfg, vcpus), 0);
	assert_int_equal(agentvm_config_set_memory_mib(cfg, 128), 0);
	assert_int_equal(agentvm_config_set_console_callback(cfg, capture_console, capture), 0);
	/* The test initramfs runs a script, not the agent: start must not wait for one. */
	assert_int_equal(agentvm_config_set_agent_timeout_ms(cfg, 0), 0);
	return cfg;
}

static agentvm_exit_reason boot_and_wait(uint32_t vcpus, const char *action,
					 struct console_capture *capture)
{
	agentvm_config *cfg = test_config(capture, vcpus, action);
	agentvm_exit_reason reason = 0;
	agentvm_vm *vm = NULL;
	int err;

	err = agentvm_vm_new(cfg, &vm);
	if (err)
		fail_msg("agentvm_vm_new: %d %s", err, agentvm_last_error());
	agentvm_config_free(cfg);
	assert_int_equal(agentvm_vm_start(vm), 0);
	assert_int_equal(agentvm_vm_start(vm), -EBUSY);
	err = agentvm_vm_wait(vm, BOOT_TIMEOUT_MS, &reason);
	if (err)
		fail_msg("guest did not end within %d ms; console so far:\n%s", BOOT_TIMEOUT_MS,
			 capture->text);
	if (reason == AGENTVM_EXIT_CRASH)
		fail_msg("VM crashed: %s\nconsole:\n%s", agentvm_last_error(), capture->text);
	agentvm_vm_free(vm);
	return reason;
}

/* Boot with `vcpus` and agentvm.test=`action`: the VM must end with `want`, the init's line on the console. */
static void expect_boot(unsigned int vcpus, const char *action, agentvm_exit_reason want,
			const char *marker)
{
	struct console_capture capture = { .lock = PTHREAD_MUTEX_INITIALIZER };

	assert_int_equal(boot_and_wait(vcpus, action, &capture), want);
	if (!capture_contains(&capture, marker))
		fail_msg("no '%s' on the console:\n%s", marker, capture.text);
}

static void one_vcpu_reaches_init_and_reboots(void **state)
{
	(void)state;
	expect_boot(1, "reboot", AGENTVM_EXIT_REBOOT, MARKER " cpus=1 action=reboot");
}

#if defined(__aarch64__)
/* PSCI SYSTEM_OFF is a power-off the VMM hears of (an x86_64 guest without ACPI just halts). */
static void poweroff_ends_the_vm_as_a_poweroff(void **state)
{
	(void)state;
	expect_boot(1, "poweroff", AGENTVM_EXIT_POWEROFF, MARKER " cpus=1 action=poweroff");
}
#endif

static void two_vcpus_are_both_online(void **state)
{
	(void)state;
	expect_boot(2, "reboot", AGENTVM_EXIT_REBOOT, MARKER " cpus=2 ");
}

/* A console callback that needs 1 MiB of stack, as one in an interpreted language may. */
static void capture_console_deep(const char *data, size_t len, void *payload)
{
	volatile char frame[1 << 20];

	frame[0] = len ? data[0] : 0;
	frame[sizeof(frame) - 1] = frame[0];
	capture_console(data, len, payload);
}

/* Start a VM whose init sleeps (agentvm.test=hang) and wait for its marker. */
static agentvm_vm *start_sleeping_guest(struct console_capture *capture, uint32_t vcpus,
					agentvm_console_fn console)
{
	agentvm_config *cfg = test_config(capture, vcpus, "hang");
	agentvm_exit_reason reason = 0;
	agentvm_vm *vm;

	assert_int_equal(agentvm_config_set_console_callback(cfg, console, capture), 0);
	assert_int_equal(agentvm_vm_new(cfg, &vm), 0);
	agentvm_config_free(cfg);
	assert_int_equal(agentvm_vm_wait(vm, 0, &reason), -EINVAL); /* not started */
	assert_int_equal(agentvm_vm_start(vm), 0);
	for (int waited = 0; !capture_contains(capture, MARKER); waited += 50) {
		if (waited > BOOT_TIMEOUT_MS)
			fail_msg("no marker; console:\n%s", capture->text);
		assert_int_equal(agentvm_vm_wait(vm, 50, &reason), -ETIMEDOUT);
	}
	/* Let both vCPUs reach their halt in init's sleep. */
	usleep(200000);
	return vm;
}

static void kill_stops_a_running_guest(void **state)
{
	struct console_capture capture = { .lock = PTHREAD_MUTEX_INITIALIZER };
	agentvm_exit_reason reason = 0;
	agentvm_vm *vm;

	(void)state;
	assert_int_equal(agentvm_vm_wait(NULL, 0, NULL), -EINVAL);
	/* The guest sleeps in init with both vCPUs halted in the kernel: the hard case for a kick. */
	vm = start_sleeping_guest(&capture, 2, capture_console);
	assert_int_equal(agentvm_vm_wait(vm, 0, &reason), -ETIMEDOUT);
	assert_int_equal(agentvm_vm_kill(vm), 0);
	assert_int_equal(agentvm_vm_kill(vm), 0);
	assert_int_equal(agentvm_vm_wait(vm, 10000, &reason), 0);
	assert_int_equal(reason, AGENTVM_EXIT_KILLED);
	assert_int_equal(agentvm_vm_wait(vm, -1, &reason), 0); /* ended stays ended */
	assert_int_equal(reason, AGENTVM_EXIT_KILLED);
	agentvm_vm_free(vm);
}

/* Whether tid is among the n thread ids in ids. */
static bool tid_listed(const pid_t *ids, int n, pid_t tid)
{
	for (int i = 0; i < n; i++)
		if (ids[i] == tid)
			return true;
	return false;
}

/* This process's thread ids; returns how many (at most max). */
static int list_threads(pid_t *ids, int max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) && n < max)
		if (e->d_name[0] != '.')
			ids[n++] = atoi(e->d_name);
	closedir(d);
	return n;
}

/*
 * Thread tid's stack pointer, from /proc/self/task/TID/syscall while the thread sleeps in a
 * system call; 0 while it runs.
 */
static unsigned long long stack_pointer(pid_t tid)
{
	char path[64], line[512], *field, *save, *prev = NULL, *last = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	if (strncmp(line, "running", 7) == 0)
		return 0;
	/* "NR ARGS... SP PC": the stack pointer is the second field from the end. */
	for (field = strtok_r(line, " \n", &save); field; field = strtok_r(NULL, " \n", &save)) {
		prev = last;
		last = field;
	}
	assert_non_null(prev);
	return strtoull(prev, NULL, 16);
}

struct stack_mapping {
	unsigned long long size;
	unsigned long long huge_kib; /* smaps' AnonHugePages: in transparent huge pages now */
	bool no_huge_pages;          /* VM_NOHUGEPAGE: "nh" among smaps' VmFlags */
};

/* The mapping in /proc/self/smaps that holds address sp. */
static struct stack_mapping stack_mapping_of(unsigned long long sp)
{
	struct stack_mapping found = { 0 };
	unsigned long long start, end;
	bool inside = false;
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		/* A mapping's first line starts "START-END perms": a field line has no '-' there. */
		if (sscanf(line, "%llx-%llx ", &start, &end) == 2 && strchr(line, '-') &&
		    strchr(line, '-') < strchr(line, ' ')) {
			inside = start <= sp && sp < end;
			if (inside)
				found.size = end - start;
		} else if (inside && strncmp(line, "AnonHugePages:", 14) == 0) {
			found.huge_kib = strtoull(line + 14, NULL, 10);
		} else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			found.no_huge_pages = strstr(line, " nh") != NULL;
		}
	}
	fclose(f);
	assert_true(found.size > 0);
	return found;
}

/* Thread tid's name (comm) into name, without its newline. */
static void thread_name(pid_t tid, char *name, size_t size)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)tid);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(name, (int)size, f));
	fclose(f);
	name[strcspn(name, "\n")] = '\0';
}

/* Thread tid's blocked signals, /proc's SigBlk: bit N-1 for signal N. */
static unsigned long long blocked_signals(pid_t tid)
{
	unsigned long long mask = 0;
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SigBlk: %llx", &mask) == 1)
			break;
	fclose(f);
	return mask;
}

/*
 * The library's threads (here two vCPUs, asleep in KVM_RUN) are named for what they do, and
 * their stacks hold no transparent huge page: with THP set to `always`, an 8 MiB stack whose
 * top is 2 MiB-aligned costs 2 MiB of resident memory for the few KiB it uses. Marking the
 * stack once the thread runs is too late (pthread_create() has written its top by then), so
 * the check is on the pages as well as the mark. A vCPU thread runs the console callback,
 * which gets a default-sized stack: this one uses 1 MiB of it. No library thread takes the
 * program's signals: each blocks every one it can (not SIGKILL, SIGSTOP or the C library's own), a vCPU
 * thread all but its kick signal while KVM runs the guest; the spare-VM thread, which this
 * thread starts rather than a vCPU thread, is among them.
 */
static void library_threads_are_named_and_keep_stacks_small(void **state)
{
	struct console_capture capture = { .lock = PTHREAD_MUTEX_INITIALIZER };
	pid_t before[64], after[64];
	int nbefore = list_threads(before, 64), nafter, checked = 0, vcpus = 0;
	unsigned long long all_blockable = ~0ULL & ~(1ULL << (SIGKILL - 1)) & ~(1ULL << (SIGSTOP - 1));
	unsigned long long kick = 1ULL << (AGENTVM_KICK_SIGNAL() - 1);

	/* Nor does the C library block its own signals, the ones below SIGRTMIN (32 and 33 in glibc). */
	for (int sig = 32; sig < SIGRTMIN; sig++)
		all_blockable &= ~(1ULL << (sig - 1));
	agentvm_exit_reason reason;
	agentvm_vm *vm;

	(void)state;
	assert_int_equal(agentvm_set_spare_vms(1), 0);
	vm = start_sleeping_guest(&capture, 2, capture_console_deep);
	nafter = list_threads(after, 64);
	for (int i = 0; i < nafter; i++) {
		struct stack_mapping stack;
		unsigned long long sp = 0;
		char name[32];

		if (tid_listed(before, nbefore, after[i]))
			continue;
		thread_name(after[i], name, sizeof(name));
		if (strncmp(name, "agentvm-", 8) != 0)
			fail_msg("thread %d is named '%s'", (int)after[i], name);
		vcpus += strcmp(name, "agentvm-vcpu0") == 0 || strcmp(name, "agentvm-vcpu1") == 0;
		for (int tries = 0; !sp && tries < 100; tries++) {
			sp = stack_pointer(after[i]);
			if (!sp)
				usleep(10000);
		}
		if (!sp)
			fail_msg("thread %d never slept in a system call", (int)after[i]);
		stack = stack_mapping_of(sp);
		if (stack.size >= 2u << 20 && !stack.no_huge_pages)
			fail_msg("thread %d's stack is a %llu KiB mapping open to huge pages",
				 (int)after[i], stack.size >> 10);
		if (stack.huge_kib)
			fail_msg("thread %d's stack holds %llu KiB of huge pages", (int)after[i],
				 stack.huge_kib);
		if (strncmp(name, "agentvm-vcpu", 12) == 0 && stack.size < 4u << 20)
			fail_msg("vCPU thread %d's stack is only %llu KiB", (int)after[i], stack.size >> 10);
		if ((blocked_signals(after[i]) | (strncmp(name, "agentvm-vcpu", 12) ? 0 : kick)) !=
		    all_blockable)
			fail_msg("thread %d (%s) blocks signals %llx only", (int)after[i], name,
				 blocked_signals(after[i]));
		checked++;
	}
	assert_true(checked >= 2);
	assert_int_equal(vcpus, 2);
	assert_int_equal(agentvm_set_spare_vms(0), 0);
	assert_int_equal(agentvm_vm_kill(vm), 0);
	assert_int_equal(agentvm_vm_wait(vm, 10000, &reason), 0);
	agentvm_vm_free(vm);
}

static void *boot_thread(void *arg)
{
	struct console_capture *capture = arg;

	return (void *)(intptr_t)boot_and_wait(1, "reboot", capture);
}

static void two_vms_at_once_in_one_process(void **state)
{
	struct console_capture a = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct console_capture b = { .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t ta, tb;
	void *ra, *rb;

	(void)state;
	assert_int_equal(pthread_create(&ta, NULL, boot_thread, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, boot_thread, &b), 0);
	pthread_join(ta, &ra);
	pthread_join(tb, &rb);
	assert_int_equal((intptr_t)ra, AGENTVM_EXIT_REBOOT);
	assert_int_equal((intptr_t)rb, AGENTVM_EXIT_REBOOT);
	assert_true(capture_contains(&a, MARKER));
	assert_true(capture_contains(&b, MARKER));
}

static void write_prefix(const char *src, const char *dst, size_t bytes)
{
	FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
	char buf[65536];
	size_t n;

	assert_non_null(in);
	assert_non_null(out);
	while (bytes > 0 && (n = fread(buf, 1, bytes < sizeof(buf) ? bytes : sizeof(buf), in)) > 0) {
		fwrite(buf, 1, n, out);
		bytes -= n;
	}
	fclose(in);
	fclose(out);
}

static void expect_kernel_refused(const char *path, int expected_err, const char *message_part)
{
	struct console_capture capture = { .lock = PTHREAD_MUTEX_INITIALIZER };
	agentvm_config *cfg = test_config(&capture, 1, "reboot");
	agentvm_vm *vm = NULL;
	int err;

	assert_int_equal(agentvm_config_set_kernel(cfg, path), 0);
	err = agentvm_vm_new(cfg, &vm);
	if (err != expected_err || !strstr(agentvm_last_error(), message_part))
		fail_msg("kernel %s: got %d '%s', expected %d and a message with '%s'", path, err,
			 agentvm_last_error(), expected_err, message_part);
	assert_null(vm);
	agentvm_config_free(cfg);
}

static void malformed_kernels_are_refused(void **state)
{
	char dir[] = "/tmp/agentvm-bad-kernel-XXXXXX";
	char truncated[64], header_only[64], empty[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(truncated, sizeof(truncated), "%s/truncated", dir);
	snprintf(header_only, sizeof(header_only), "%s/header-only", dir);
	snprintf(empty, sizeof(empty), "%s/empty", dir);
	write_prefix(env_path("AGENTVM_TEST_KERNEL"), truncated, 1 << 20);
	write_prefix(env_path("AGENTVM_TEST_KERNEL"), header_only, 40);
	write_prefix(env_path("AGENTVM_TEST_KERNEL"), empty, 0);

#if defined(__aarch64__)
	/* An Image's header counts its BSS, so a truncated Image cannot be told from a whole one. */
	expect_kernel_refused(header_only, -EINVAL, "not an arm64 Image");
	expect_kernel_refused(env_path("AGENTVM_TEST_INITRD"), -EINVAL, "not an arm64 Image");
#else
	expect_kernel_refused(truncated, -EINVAL, "truncated");
	expect_kernel_refused(header_only, -EINVAL, "truncated");
	expect_kernel_refused(env_path("AGENTVM_TEST_INITRD"), -EINVAL, "neither an ELF vmlinux nor a bzImage");
#endif
	expect_kernel_refused(empty, -EINVAL, "is empty");
	unlink(truncated);
	unlink(header_only);
	unlink(empty);
	rmdir(dir);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Every descriptor the library holds is close-on-exec, and freeing a VM gives back every fd and thread. */
static void nothing_leaks_and_every_fd_is_cloexec(void **state)
{
	struct console_capture capture = { .lock = PTHREAD_MUTEX_INITIALIZER };
	int fds_before = count_entries("/proc/self/fd");
	int threads_before = count_entries("/proc/self/task");
	agentvm_config *cfg = test_config(&capture, 2, "hang");
	agentvm_exit_reason reason;
	agentvm_vm *vm;
	int checked = 0;

	(void)state;
	assert_int_equal(agentvm_config_set_console_fd(cfg, STDERR_FILENO), 0);
	assert_int_equal(agentvm_vm_new(cfg, &vm), 0);
	agentvm_config_free(cfg);
	assert_int_equal(agentvm_vm_start(vm), 0);
	assert_int_equal(count_entries("/proc/self/task"), threads_before + 2);
	for (int fd = 3; fd < 1024; fd++) {
		int flags = fcntl(fd, F_GETFD);

		if (flags < 0)
			continue;
		if (!(flags & FD_CLOEXEC))
			fail_msg("fd %d is not close-on-exec", fd);
		checked++;
	}
	/* /dev/kvm, the VM, guest memory, two vCPUs and the console duplicate at least. */
	assert_true(checked >= 6);
	assert_int_equal(agentvm_vm_kill(vm), 0);
	assert_int_equal(agentvm_vm_wait(vm, 10000, &reason), 0);
	agentvm_vm_free(vm);
	assert_int_equal(count_entries("/proc/self/fd"), fds_before);
	assert_int_equal(count_entries("/proc/self/task"), threads_before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(malformed_kernels_are_refused),
		cmocka_unit_test(one_vcpu_reaches_init_and_reboots),
#if defined(__aarch64__)
		cmocka_unit_test(poweroff_ends_the_vm_as_a_poweroff),
#endif
		cmocka_unit_test(two_vcpus_are_both_online),
		cmocka_unit_test(library_threads_are_named_and_keep_stacks_small),
		cmocka_unit_test(kill_stops_a_running_guest),
		cmocka_unit_test(two_vms_at_once_in_one_process),
		cmocka_unit_test(nothing_leaks_and_every_fd_is_cloexec),
	};

	/* Runs in well under a minute, also in the nested test host. */
	test_deadline(300);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
