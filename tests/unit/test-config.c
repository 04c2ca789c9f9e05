/* The public configuration API: defaults, range checks, error codes and messages, ownership. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "agentvm.h"

static void version_matches_header(void **state)
{
	char expected[32];

	(void)state;
	snprintf(expected, sizeof(expected), "%d.%d.%d", AGENTVM_VERSION_MAJOR, AGENTVM_VERSION_MINOR,
		 AGENTVM_VERSION_PATCH);
	assert_string_equal(agentvm_version(), expected);
	assert_int_equal(agentvm_version_number(), AGENTVM_VERSION_NUMBER);
}

static void setters_check_ranges(void **state)
{
	agentvm_config *cfg;

	(void)state;
	assert_int_equal(agentvm_config_new(&cfg), 0);
	assert_int_equal(agentvm_config_set_vcpus(cfg, 0), -EINVAL);
	assert_non_null(strstr(agentvm_last_error(), "1 to 64"));
	assert_int_equal(agentvm_config_set_vcpus(cfg, 65), -EINVAL);
	assert_int_equal(agentvm_config_set_vcpus(cfg, 64), 0);
	assert_string_equal(agentvm_last_error(), ""); /* a success clears the message */
	assert_int_equal(agentvm_config_set_memory_mib(cfg, 15), -EINVAL);
	assert_int_equal(agentvm_config_set_memory_mib(cfg, 65537), -EINVAL);
	assert_int_equal(agentvm_config_set_memory_mib(cfg, 16), 0);
	assert_int_equal(agentvm_config_set_kernel(cfg, ""), -EINVAL);
	assert_int_equal(agentvm_config_set_kernel(cfg, NULL), -EINVAL);
	assert_int_equal(agentvm_config_set_initrd(cfg, ""), -EINVAL);
	assert_int_equal(agentvm_config_set_initrd(cfg, NULL), 0);
	assert_int_equal(agentvm_config_set_console_fd(cfg, -2), -EINVAL);
	assert_int_equal(agentvm_config_set_console_fd(cfg, -1), 0);
	assert_int_equal(agentvm_config_set_console_callback(cfg, NULL, NULL), 0);
	assert_int_equal(agentvm_config_set_vcpus(NULL, 1), -EINVAL);
	assert_int_equal(agentvm_config_set_vsock_cid(cfg, 2), -EINVAL); /* the host's */
	assert_non_null(strstr(agentvm_last_error(), "3 to 4294967294"));
	assert_int_equal(agentvm_config_set_vsock_cid(cfg, UINT32_MAX), -EINVAL);
	assert_int_equal(agentvm_config_set_vsock_cid(cfg, 3), 0);
	assert_int_equal(agentvm_config_set_vsock_cid(cfg, UINT32_MAX - 1), 0);
	assert_int_equal(agentvm_config_set_agent_timeout_ms(cfg, -1), -EINVAL);
	assert_int_equal(agentvm_config_set_agent_timeout_ms(cfg, 0), 0);
	agentvm_config_free(cfg);
	agentvm_config_free(NULL);
	agentvm_vm_free(NULL);
}

static void cmdline_limit(void **state)
{
	agentvm_config *cfg;
	char *big = malloc(4000);

	(void)state;
	memset(big, 'x', 3999);
	big[3999] = '\0';
	assert_int_equal(agentvm_config_new(&cfg), 0);
	assert_int_equal(agentvm_config_set_cmdline(cfg, big), -EINVAL);
	assert_non_null(strstr(agentvm_last_error(), "3999 bytes"));
	assert_int_equal(agentvm_config_set_cmdline(cfg, "quiet"), 0);
	assert_int_equal(agentvm_config_set_cmdline(cfg, NULL), 0);
	agentvm_config_free(cfg);
	free(big);
}

/* What the agent calls check before they touch a VM: no crash on NULL, clear refusals. */
static void exec_and_file_calls_check_arguments(void **state)
{
	agentvm_exec_options opts;
	agentvm_exec_result *r = NULL;
	void *data;
	size_t len;

	(void)state;
	assert_int_equal(agentvm_exec_options_init(NULL), -EINVAL);
	assert_int_equal(agentvm_exec_options_init(&opts), 0);
	assert_int_equal(opts.version, AGENTVM_EXEC_OPTIONS_VERSION);
	assert_int_equal(opts.stdin_fd, -1);
	assert_int_equal(opts.capture_limit, AGENTVM_CAPTURE_DEFAULT);
	assert_int_equal(agentvm_vm_exec(NULL, &opts, &r), -EINVAL);
	assert_non_null(strstr(agentvm_last_error(), "vm is NULL"));
	assert_null(r);
	assert_int_equal(agentvm_vm_write_file(NULL, "/f", "x", 1, 0644), -EINVAL);
	assert_int_equal(agentvm_vm_read_file(NULL, "/f", 10, &data, &len), -EINVAL);
	agentvm_exec_result_free(NULL);
	agentvm_buffer_free(NULL);
}

static void vm_new_without_kernel_names_the_fix(void **state)
{
	agentvm_config *cfg;
	agentvm_vm *vm = (agentvm_vm *)0x1;

	(void)state;
	assert_int_equal(agentvm_config_new(&cfg), 0);
	assert_int_equal(agentvm_vm_new(cfg, &vm), -EINVAL);
	assert_ptr_equal(vm, (agentvm_vm *)0x1); /* outputs untouched on failure */
	assert_non_null(strstr(agentvm_last_error(), "agentvm_config_set_kernel"));
	agentvm_config_free(cfg);
}

static void vm_new_reports_bad_image_paths_before_kvm(void **state)
{
	char empty[] = "/tmp/agentvm-test-empty-XXXXXX";
	agentvm_config *cfg;
	agentvm_vm *vm = NULL;
	int fd;

	(void)state;
	assert_int_equal(agentvm_config_new(&cfg), 0);
	assert_int_equal(agentvm_config_set_kernel(cfg, "/nonexistent/vmlinux"), 0);
	assert_int_equal(agentvm_vm_new(cfg, &vm), -ENOENT);
	assert_non_null(strstr(agentvm_last_error(), "/nonexistent/vmlinux"));

	fd = mkstemp(empty);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(agentvm_config_set_kernel(cfg, empty), 0);
	assert_int_equal(agentvm_vm_new(cfg, &vm), -EINVAL);
	assert_non_null(strstr(agentvm_last_error(), "is empty"));

	assert_int_equal(agentvm_config_set_kernel(cfg, "/tmp"), 0);
	assert_int_equal(agentvm_vm_new(cfg, &vm), -EINVAL);
	assert_non_null(strstr(agentvm_last_error(), "not a regular file"));

	assert_int_equal(agentvm_config_set_kernel(cfg, "/proc/self/exe"), 0);
	assert_int_equal(agentvm_config_set_initrd(cfg, "/nonexistent/initrd"), 0);
	assert_int_equal(agentvm_vm_new(cfg, &vm), -ENOENT);
	assert_non_null(strstr(agentvm_last_error(), "initrd '/nonexistent/initrd'"));
	assert_null(vm);
	unlink(empty);
	agentvm_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(version_matches_header),
		cmocka_unit_test(setters_check_ranges),
		cmocka_unit_test(cmdline_limit),
		cmocka_unit_test(exec_and_file_calls_check_arguments),
		cmocka_unit_test(vm_new_without_kernel_names_the_fix),
		cmocka_unit_test(vm_new_reports_bad_image_paths_before_kvm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
