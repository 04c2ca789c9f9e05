/*
 * Exec and file transfer through the real guest agent, on one VM booted
 * from the agent's initramfs: exit statuses, separate stdout and stderr,
 * stdin from bytes and from a descriptor, env and cwd, commands that cannot
 * run, timeouts, signals, resource receipts, 8 execs at once, 300 in a row, files in and
 * out, and a VM that stops under a running exec.
 *
 * Needs AGENTVM_TEST_KERNEL and AGENTVM_TEST_AGENT_INITRD (meson sets both).
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

#include "agentvm.h"
#include "test-env.h"

#define CONCURRENT 8

static agentvm_vm *vm;

static agentvm_vm *boot(void)
{
	agentvm_config *cfg;
	agentvm_vm *v = NULL;

	assert_int_equal(agentvm_config_new(&cfg), 0);
	assert_int_equal(agentvm_config_set_kernel(cfg, env_path("AGENTVM_TEST_KERNEL")), 0);
	assert_int_equal(agentvm_config_set_initrd(cfg, env_path("AGENTVM_TEST_AGENT_INITRD")), 0);
	assert_int_equal(agentvm_config_set_vcpus(cfg, 2), 0);
	assert_int_equal(agentvm_config_set_memory_mib(cfg, 256), 0);
	assert_int_equal(agentvm_config_set_console_fd(cfg, STDERR_FILENO), 0);
	assert_int_equal(agentvm_vm_new(cfg, &v), 0);
	agentvm_config_free(cfg);
	if (agentvm_vm_start(v))
		fail_msg("start: %s", agentvm_last_error());
	return v;
}

static int group_setup(void **state)
{
	(void)state;
	vm = boot();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	agentvm_vm_free(vm);
	return 0;
}

/* Run with options o; the result, or a failed test (saying why the VM ended, if it did). */
static agentvm_exec_result *run_opts(agentvm_exec_options *o)
{
	agentvm_exec_result *r = NULL;

	if (agentvm_vm_exec(vm, o, &r))
		fail_msg("exec %s: %s", o->argv[0], agentvm_last_error());
	return r;
}

static agentvm_exec_result *sh(const char *script)
{
	const char *argv[] = { "sh", "-c", script, NULL };
	agentvm_exec_options o;

	agentvm_exec_options_init(&o);
	o.argv = argv;
	return run_opts(&o);
}

static void expect_output(agentvm_exec_result *r, const char *out, const char *err)
{
	assert_int_equal(r->stdout_len, strlen(out));
	assert_string_equal((const char *)r->stdout_data, out);
	assert_int_equal(r->stderr_len, strlen(err));
	assert_string_equal((const char *)r->stderr_data, err);
}

static void exit_codes(void **state)
{
	static const int codes[] = { 0, 1, 42, 255 };

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		char script[32];
		agentvm_exec_result *r;

		snprintf(script, sizeof(script), "exit %d", codes[i]);
		r = sh(script);
		assert_int_equal(r->version, 1);
		assert_int_equal(r->exit_code, codes[i]);
		assert_int_equal(r->signal, 0);
		assert_int_equal(r->flags, 0);
		assert_true(r->guest_pid > 1);
		agentvm_exec_result_free(r);
	}
}

static void stdout_and_stderr_apart(void **state)
{
	agentvm_exec_result *r;

	(void)state;
	r = sh("echo out1; echo err1 >&2; echo out2; printf err2 >&2");
	expect_output(r, "out1\nout2\n", "err1\nerr2");
	agentvm_exec_result_free(r);
}

/* A byte pattern no stage can produce by accident: position-dependent, all 256 values. */
static uint8_t *pattern(size_t len)
{
	uint8_t *p = malloc(len);

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + (i >> 12));
	return p;
}

static void stdin_bytes_round_trip(void **state)
{
	size_t len = 3 * 1024 * 1024 + 17;
	uint8_t *data = pattern(len);
	const char *argv[] = { "cat", NULL };
	agentvm_exec_options o;
	agentvm_exec_result *r;

	(void)state;
	agentvm_exec_options_init(&o);
	o.argv = argv;
	o.stdin_data = data;
	o.stdin_len = len;
	r = run_opts(&o);
	assert_int_equal(r->exit_code, 0);
	assert_int_equal(r->stdout_len, len);
	assert_memory_equal(r->stdout_data, data, len);
	agentvm_exec_result_free(r);
	free(data);
}

struct feeder {
	int fd;
	const uint8_t *data;
	size_t len;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	size_t done = 0;

	while (done < f->len) {
		ssize_t n = write(f->fd, f->data + done, f->len - done);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(f->fd);
	return NULL;
}

static void stdin_fd_round_trip(void **state)
{
	size_t len = 1024 * 1024 + 3;
	uint8_t *data = pattern(len);
	const char *argv[] = { "sh", "-c", "wc -c; echo done >&2", NULL };
	struct feeder f = { .data = data, .len = len };
	agentvm_exec_options o;
	agentvm_exec_result *r;
	pthread_t t;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	f.fd = p[1];
	pthread_create(&t, NULL, feed, &f);
	agentvm_exec_options_init(&o);
	o.argv = argv;
	o.stdin_fd = p[0];
	r = run_opts(&o);
	close(p[0]); /* a feeder still writing gets EPIPE instead of blocking the join */
	pthread_join(t, NULL);
	expect_output(r, "1048579\n", "done\n");
	agentvm_exec_result_free(r);
	free(data);
}

static void without_stdin_reads_eof(void **state)
{
	agentvm_exec_result *r;

	(void)state;
	r = sh("wc -c");
	expect_output(r, "0\n", "");
	agentvm_exec_result_free(r);
}

static void env_and_cwd(void **state)
{
	const char *argv[] = { "sh", "-c", "echo \"$GREETING $(pwd) $HOME\"", NULL };
	const char *envp[] = { "GREETING=hello world", "PATH=/bin", NULL };
	agentvm_exec_options o;
	agentvm_exec_result *r;

	(void)state;
	agentvm_exec_options_init(&o);
	o.argv = argv;
	o.envp = envp;
	o.cwd = "/tmp";
	r = run_opts(&o);
	/* The environment is exactly envp: no HOME inherited from anywhere. */
	expect_output(r, "hello world /tmp \n", "");
	agentvm_exec_result_free(r);

	r = sh("echo $HOME; echo $PATH");
	expect_output(r, "/root\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
		      "");
	agentvm_exec_result_free(r);
}

static void not_found_and_not_executable(void **state)
{
	const char *missing[] = { "no-such-command", NULL };
	const char *not_exec[] = { "/etc/passwd", NULL };
	agentvm_exec_options o;
	agentvm_exec_result *r;

	(void)state;
	agentvm_exec_options_init(&o);
	o.argv = missing;
	r = run_opts(&o);
	assert_int_equal(r->flags, AGENTVM_EXEC_NOT_STARTED);
	assert_int_equal(r->error, ENOENT);
	assert_int_equal(r->exit_code, 127);
	agentvm_exec_result_free(r);

	o.argv = not_exec;
	r = run_opts(&o);
	assert_int_equal(r->flags, AGENTVM_EXEC_NOT_STARTED);
	assert_int_equal(r->error, EACCES);
	assert_int_equal(r->exit_code, 126);
	agentvm_exec_result_free(r);
}

static void missing_cwd_is_an_error_not_127(void **state)
{
	const char *argv[] = { "true", NULL };
	agentvm_exec_options o;
	agentvm_exec_result *r = NULL;

	(void)state;
	agentvm_exec_options_init(&o);
	o.argv = argv;
	o.cwd = "/no/such/dir";
	assert_int_equal(agentvm_vm_exec(vm, &o, &r), -ENOENT);
	assert_null(r);
	assert_non_null(strstr(agentvm_last_error(), "/no/such/dir"));
}

static void bad_options_refused(void **state)
{
	const char *argv[] = { "true", NULL };
	const char *empty[] = { NULL };
	const char *bad_env[] = { "NOEQUALS", NULL };
	agentvm_exec_options o;
	agentvm_exec_result *r = NULL;

	(void)state;
	agentvm_exec_options_init(&o);
	o.argv = empty;
	assert_int_equal(agentvm_vm_exec(vm, &o, &r), -EINVAL);
	o.argv = argv;
	o.envp = bad_env;
	assert_int_equal(agentvm_vm_exec(vm, &o, &r), -EINVAL);
	assert_non_null(strstr(agentvm_last_error(), "NOEQUALS"));
	o.envp = NULL;
	o.stdin_data = "x";
	o.stdin_len = 1;
	o.stdin_fd = 0;
	assert_int_equal(agentvm_vm_exec(vm, &o, &r), -EINVAL);
	o.stdin_fd = -1;
	o.cancel_fd = -2;
	assert_int_equal(agentvm_vm_exec(vm, &o, &r), -EINVAL);
	assert_non_null(strstr(agentvm_last_error(), "cancel_fd"));
	o.cancel_fd = -1;
	o.version = 99;
	assert_int_equal(agentvm_vm_exec(vm, &o, &r), -EINVAL);
	assert_null(r);
}

/* Layout 1 (before cancel_fd) still runs, and the library never reads the field it lacks. */
static void options_layout_1_still_works(void **state)
{
	const char *argv[] = { "echo", "v1", NULL };
	int p[2];
	agentvm_exec_options o;
	agentvm_exec_result *r;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	agentvm_exec_options_init(&o);
	o.version = 1;
	o.argv = argv;
	o.cancel_fd = p[0]; /* readable: would cancel if a layout-1 caller's garbage were read */
	r = run_opts(&o);
	expect_output(r, "v1\n", "");
	agentvm_exec_result_free(r);
	close(p[0]);
	close(p[1]);
}

struct canceller {
	pthread_t thread;
	int fd;
};

static void *cancel_later(void *arg)
{
	struct canceller *c = arg;

	usleep(500 * 1000);
	assert_int_equal(write(c->fd, "x", 1), 1);
	return NULL;
}

/* True once no process of the guest runs `sleep <tag>`; the agent kills asynchronously. */
static bool sleep_gone(const char *tag)
{
	char script[160];
	agentvm_exec_result *r;
	bool gone;

	snprintf(script, sizeof(script),
		 "for i in $(seq 100); do ps | grep -q '[s]leep %s' || exit 0; sleep 0.1; done; "
		 "exit 1", tag);
	r = sh(script);
	gone = r->exit_code == 0;
	agentvm_exec_result_free(r);
	return gone;
}

static void cancel_fd_kills_the_command(void **state)
{
	const char *argv[] = { "sh", "-c", "echo started; sleep 1001", NULL };
	struct canceller c;
	agentvm_exec_options o;
	agentvm_exec_result *r = NULL;
	time_t t0;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	c.fd = p[1];
	agentvm_exec_options_init(&o);
	o.argv = argv;
	o.cancel_fd = p[0];
	t0 = time(NULL);
	assert_int_equal(pthread_create(&c.thread, NULL, cancel_later, &c), 0);
	assert_int_equal(agentvm_vm_exec(vm, &o, &r), -ECANCELED);
	pthread_join(c.thread, NULL);
	assert_null(r);
	assert_non_null(strstr(agentvm_last_error(), "cancel"));
	assert_true(time(NULL) - t0 < 30);
	assert_true(sleep_gone("1001"));

	/* Still readable: the library never drains it, so the next exec with it is cancelled too. */
	argv[2] = "sleep 1002";
	assert_int_equal(agentvm_vm_exec(vm, &o, &r), -ECANCELED);
	assert_true(sleep_gone("1002"));
	close(p[0]);
	close(p[1]);
}

static void killed_by_signal(void **state)
{
	agentvm_exec_result *r;

	(void)state;
	r = sh("echo before; kill -TERM $$; echo after");
	assert_int_equal(r->signal, SIGTERM);
	assert_int_equal(r->exit_code, -1);
	expect_output(r, "before\n", "");
	agentvm_exec_result_free(r);
}

static void timeout_kills_the_command(void **state)
{
	const char *argv[] = { "sh", "-c", "echo started; sleep 1000", NULL };
	agentvm_exec_options o;
	agentvm_exec_result *r;

	(void)state;
	agentvm_exec_options_init(&o);
	o.argv = argv;
	o.timeout_ms = 1000;
	r = run_opts(&o);
	assert_true(r->flags & AGENTVM_EXEC_TIMED_OUT);
	assert_int_equal(r->signal, SIGKILL);
	expect_output(r, "started\n", "");
	agentvm_exec_result_free(r);
	/* The sleep went with it: the process group was killed, not just sh. */
	r = sh("ps | grep -c '[s]leep 1000'");
	expect_output(r, "0\n", "");
	agentvm_exec_result_free(r);
}

static void capture_limit_and_callback(void **state)
{
	const char *argv[] = { "sh", "-c", "yes 0123456789 | head -c 300000; echo e >&2", NULL };
	struct { size_t out, err; } seen = { 0, 0 };
	agentvm_exec_options o;
	agentvm_exec_result *r;

	(void)state;
	agentvm_exec_options_init(&o);
	o.argv = argv;
	o.capture_limit = 1000;
	o.output_payload = &seen;
	o.output_fn = NULL;
	r = run_opts(&o);
	assert_int_equal(r->stdout_len, 1000);
	assert_int_equal(r->flags, AGENTVM_EXEC_STDOUT_TRUNCATED);
	assert_memory_equal(r->stdout_data, "0123456789\n0123456789\n", 22);
	assert_string_equal((const char *)r->stderr_data, "e\n");
	agentvm_exec_result_free(r);
}

static void count_output(int stream, const void *data, size_t len, void *payload)
{
	size_t *seen = payload;

	(void)data;
	seen[stream == AGENTVM_STDOUT ? 0 : 1] += len;
}

static void callback_sees_everything(void **state)
{
	const char *argv[] = { "sh", "-c", "yes 0123456789 | head -c 5000000; echo e >&2", NULL };
	size_t seen[2] = { 0, 0 };
	agentvm_exec_options o;
	agentvm_exec_result *r;

	(void)state;
	agentvm_exec_options_init(&o);
	o.argv = argv;
	o.capture_limit = 0;
	o.output_fn = count_output;
	o.output_payload = seen;
	r = run_opts(&o);
	assert_int_equal(seen[0], 5000000);
	assert_int_equal(seen[1], 2);
	assert_int_equal(r->stdout_len, 0);
	assert_int_equal(r->flags, AGENTVM_EXEC_STDOUT_TRUNCATED | AGENTVM_EXEC_STDERR_TRUNCATED);
	agentvm_exec_result_free(r);
}

static void receipts_measure_the_command(void **state)
{
	agentvm_exec_result *r;

	(void)state;
	r = sh("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done");
	assert_int_equal(r->exit_code, 0);
	assert_true(r->wall_us > 0);
	assert_true(r->user_us + r->sys_us > 0);
	assert_true(r->maxrss_kib > 0);
	assert_true(r->host_us > 0);
	agentvm_exec_result_free(r);
}

struct concurrent {
	pthread_t thread;
	int index;
	agentvm_exec_result *r;
	int err;
	char why[512]; /* agentvm_last_error() of a failed exec: it is per thread */
};

static void *run_one(void *arg)
{
	struct concurrent *c = arg;
	char script[128];
	const char *argv[] = { "sh", "-c", script, NULL };
	agentvm_exec_options o;

	/* Each writes, sleeps so that all overlap, then reads back its own file. */
	snprintf(script, sizeof(script),
		 "echo %d > /tmp/c%d; sleep 1; cat /tmp/c%d; echo %d >&2", c->index, c->index,
		 c->index, c->index);
	agentvm_exec_options_init(&o);
	o.argv = argv;
	c->err = agentvm_vm_exec(vm, &o, &c->r);
	snprintf(c->why, sizeof(c->why), "%s", agentvm_last_error());
	return NULL;
}

static void eight_at_once(void **state)
{
	struct concurrent c[CONCURRENT];

	(void)state;
	for (int i = 0; i < CONCURRENT; i++) {
		c[i] = (struct concurrent){ .index = i };
		assert_int_equal(pthread_create(&c[i].thread, NULL, run_one, &c[i]), 0);
	}
	for (int i = 0; i < CONCURRENT; i++) {
		char want[16];

		pthread_join(c[i].thread, NULL);
		if (c[i].err)
			fail_msg("exec %d: %s", i, c[i].why);
		snprintf(want, sizeof(want), "%d\n", i);
		expect_output(c[i].r, want, want);
		assert_int_equal(c[i].r->exit_code, 0);
		agentvm_exec_result_free(c[i].r);
	}
}

/* More execs than the vsock device has connection slots: each one's slot comes free. */
static void many_in_a_row(void **state)
{
	const char *argv[] = { "true", NULL };
	agentvm_exec_options o;

	(void)state;
	agentvm_exec_options_init(&o);
	o.argv = argv;
	for (int i = 0; i < 300; i++) {
		agentvm_exec_result *r = run_opts(&o);

		assert_int_equal(r->exit_code, 0);
		agentvm_exec_result_free(r);
	}
}

/*
 * The library keeps one connection to the agent open ahead of need, served
 * in the guest by an idle worker of the agent. A command that kills every
 * other process (as `kill -9 -1` in a workload would) ends that connection:
 * the next exec must still run, whether it comes at once (it may find the
 * connection not yet ended, and its request lost) or after the end is known.
 */
static void exec_after_the_standby_worker_was_killed(void **state)
{
	/* Every child of the agent (PID 1) but the worker serving this exec, our shell's parent. */
	static const char killer[] =
		"n=0; for s in /proc/[0-9]*/status; do "
		"p=${s#/proc/}; p=${p%/status}; pp=; "
		"while read -r k v; do [ \"$k\" = PPid: ] && pp=$v; done <$s; "
		"if [ \"$pp\" = 1 ] && [ \"$p\" != \"$PPID\" ]; then kill -9 $p && n=$((n+1)); fi; "
		"done; [ $n -ge 1 ] && echo killed";
	const struct timespec pause = { .tv_nsec = 300 * 1000000L };
	agentvm_exec_result *r;

	(void)state;
	for (int i = 0; i < 3; i++) {
		r = sh(killer);
		expect_output(r, "killed\n", "");
		agentvm_exec_result_free(r);
		if (i == 2)
			nanosleep(&pause, NULL);
		r = sh("echo after");
		expect_output(r, "after\n", "");
		agentvm_exec_result_free(r);
	}
}

static void files_in_and_out(void **state)
{
	size_t len = 2 * 1024 * 1024 + 5;
	uint8_t *data = pattern(len);
	agentvm_exec_result *r;
	void *back;
	size_t back_len;

	(void)state;
	assert_int_equal(agentvm_vm_write_file(vm, "/tmp/blob", data, len, 0640), 0);
	assert_int_equal(agentvm_vm_read_file(vm, "/tmp/blob", len, &back, &back_len), 0);
	assert_int_equal(back_len, len);
	assert_memory_equal(back, data, len);
	agentvm_buffer_free(back);
	r = sh("stat -c %a:%s /tmp/blob");
	expect_output(r, "640:2097157\n", "");
	agentvm_exec_result_free(r);

	/* Empty files, and a file replaced by a shorter one. */
	assert_int_equal(agentvm_vm_write_file(vm, "/tmp/blob", "", 0, 0600), 0);
	assert_int_equal(agentvm_vm_read_file(vm, "/tmp/blob", 10, &back, &back_len), 0);
	assert_int_equal(back_len, 0);
	assert_string_equal(back, "");
	agentvm_buffer_free(back);
	free(data);
}

static void file_errors(void **state)
{
	void *back = (void *)0x1;
	size_t back_len = 77;

	(void)state;
	assert_int_equal(agentvm_vm_write_file(vm, "/tmp/small", "12345", 5, 0644), 0);
	assert_int_equal(agentvm_vm_read_file(vm, "/tmp/small", 4, &back, &back_len), -EFBIG);
	assert_int_equal(agentvm_vm_read_file(vm, "/nope", 10, &back, &back_len), -ENOENT);
	assert_non_null(strstr(agentvm_last_error(), "/nope"));
	assert_int_equal(agentvm_vm_read_file(vm, "/tmp", 10, &back, &back_len), -EISDIR);
	assert_ptr_equal(back, (void *)0x1); /* outputs untouched on failure */
	assert_int_equal(back_len, 77);
	assert_int_equal(agentvm_vm_write_file(vm, "/no/such/dir/f", "x", 1, 0644), -ENOENT);
	assert_int_equal(agentvm_vm_write_file(vm, "/tmp/f", "x", 1, 010000), -EINVAL);
}

static void *exec_sleep(void *arg)
{
	struct concurrent *c = arg;
	const char *argv[] = { "sleep", "1000", NULL };
	agentvm_exec_options o;

	agentvm_exec_options_init(&o);
	o.argv = argv;
	c->err = agentvm_vm_exec(vm, &o, &c->r);
	snprintf(c->why, sizeof(c->why), "%s", agentvm_last_error());
	return NULL;
}

/*
 * Last: it stops the shared VM. A stopped VM ends a running exec and refuses
 * new ones, and both errors say how the VM ended.
 */
static void vm_stop_ends_running_exec(void **state)
{
	struct concurrent c = { 0 };
	agentvm_exec_result *r = NULL;

	(void)state;
	assert_int_equal(pthread_create(&c.thread, NULL, exec_sleep, &c), 0);
	sleep(1);
	assert_int_equal(agentvm_vm_kill(vm), 0);
	pthread_join(c.thread, NULL);
	assert_int_equal(c.err, -EHOSTDOWN);
	assert_null(c.r);
	assert_non_null(strstr(c.why, "(the VM ended: the VM was killed)"));
	assert_int_equal(agentvm_vm_exec(vm, &(agentvm_exec_options){
		.version = AGENTVM_EXEC_OPTIONS_VERSION, .argv = (const char *[]){ "true", NULL },
		.stdin_fd = -1, .cancel_fd = -1 }, &r), -EHOSTDOWN);
	assert_non_null(strstr(agentvm_last_error(), "(the VM ended: the VM was killed)"));
	assert_int_equal(agentvm_vm_write_file(vm, "/tmp/x", "x", 1, 0600), -EHOSTDOWN);
	assert_non_null(strstr(agentvm_last_error(), "(the VM ended: the VM was killed)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exit_codes),
		cmocka_unit_test(stdout_and_stderr_apart),
		cmocka_unit_test(stdin_bytes_round_trip),
		cmocka_unit_test(stdin_fd_round_trip),
		cmocka_unit_test(without_stdin_reads_eof),
		cmocka_unit_test(env_and_cwd),
		cmocka_unit_test(not_found_and_not_executable),
		cmocka_unit_test(missing_cwd_is_an_error_not_127),
		cmocka_unit_test(bad_options_refused),
		cmocka_unit_test(options_layout_1_still_works),
		cmocka_unit_test(cancel_fd_kills_the_command),
		cmocka_unit_test(killed_by_signal),
		cmocka_unit_test(timeout_kills_the_command),
		cmocka_unit_test(capture_limit_and_callback),
		cmocka_unit_test(callback_sees_everything),
		cmocka_unit_test(receipts_measure_the_command),
		cmocka_unit_test(eight_at_once),
		cmocka_unit_test(many_in_a_row),
		cmocka_unit_test(files_in_and_out),
		cmocka_unit_test(file_errors),
		cmocka_unit_test(exec_after_the_standby_worker_was_killed),
		cmocka_unit_test(vm_stop_ends_running_exec),
	};

	signal(SIGPIPE, SIG_IGN);
	/* Runs in well under a minute, also in the nested test host. */
	test_deadline(300);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
