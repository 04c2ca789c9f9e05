/*
 * exec-rtt KERNEL INITRD COUNT: boot one VM from the agent's initramfs, then
 * run `true` COUNT times, one after another, and print each round trip (the
 * whole agentvm_vm_exec() call, host clock) in microseconds, one per line,
 * after a line with the boot time. bench/exec.py runs it and summarizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "agentvm.h"

#define EXEC_TIMEOUT_MS 30000

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int fail(const char *what)
{
	fprintf(stderr, "exec-rtt: %s: %s\n", what, agentvm_last_error());
	return 1;
}

int main(int argc, char **argv)
{
	const char *cmd[] = { "true", NULL };
	agentvm_exec_options opts;
	agentvm_config *cfg;
	agentvm_vm *vm;
	double t0;
	long count;

	if (argc != 4 || (count = strtol(argv[3], NULL, 10)) < 1) {
		fprintf(stderr, "usage: exec-rtt KERNEL INITRD COUNT\n");
		return 2;
	}
	t0 = now_us();
	if (agentvm_config_new(&cfg) || agentvm_config_set_kernel(cfg, argv[1]) ||
	    agentvm_config_set_initrd(cfg, argv[2]) || agentvm_config_set_memory_mib(cfg, 256) ||
	    agentvm_vm_new(cfg, &vm))
		return fail("creating the VM");
	if (agentvm_vm_start(vm))
		return fail("starting the VM");
	printf("boot_us %.0f\n", now_us() - t0);
	agentvm_exec_options_init(&opts);
	opts.argv = cmd;
	/*
	 * `true` takes milliseconds; a guest that stops answering (in the nested test host one
	 * hangs now and then, whatever its VMM) ends the run here instead of at the caller's
	 * timeout, so the suite can make it again sooner.
	 */
	opts.timeout_ms = EXEC_TIMEOUT_MS;
	for (long i = 0; i < count; i++) {
		agentvm_exec_result *r;
		double start = now_us();

		if (agentvm_vm_exec(vm, &opts, &r))
			return fail("exec");
		printf("%.1f %llu\n", now_us() - start, (unsigned long long)r->wall_us);
		if (r->flags & AGENTVM_EXEC_TIMED_OUT) {
			/* The test host's known guest hang (tests/vmhost/README.md, "Guests that fail"). */
			fprintf(stderr, "exec-rtt: exec %ld of true timed out after %d ms: the guest stopped answering\n",
				i + 1, EXEC_TIMEOUT_MS);
			return 1;
		}
		if (r->exit_code != 0) {
			/* No library error to show: say how it ended instead. */
			fprintf(stderr, "exec-rtt: true did not exit 0 but %d (signal %d, flags 0x%x) on exec %ld\n",
				r->exit_code, r->signal, r->flags, i + 1);
			return 1;
		}
		agentvm_exec_result_free(r);
	}
	agentvm_vm_free(vm);
	agentvm_config_free(cfg);
	return 0;
}
