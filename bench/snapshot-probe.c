/*
 * snapshot-probe KERNEL INITRD DIR CLONES [COLD]: what snapshots cost and save,
 * measured through the library in one process. Boots a 256 MiB template
 * from the agent's initramfs, runs `echo hi`, snapshots it raw and
 * compressed into DIR (time, file size, disk blocks), then holds CLONES
 * VMs restored from the raw snapshot, and after them COLD (default: CLONES)
 * cold-booted VMs, each having run `echo hi`, and reports this process's
 * proportional set size (PSS) with each set alive, and how long the library
 * took from agentvm_vm_new() (cold) or agentvm_vm_restore() (clones) to the
 * command's end, and the descriptors a clone holds; then how long a whole
 * cycle of restore, `echo hi` and agentvm_vm_free() takes, without spare VMs
 * and with one (agentvm_set_spare_vms()). One "key value" line per figure;
 * bench/snapshot.py and bench/suite.py run it and report.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "agentvm.h"

#define MEMORY_MIB 256
#define MAX_VMS 128
/* Restore-exec-free cycles per figure; the median is reported. */
#define CYCLES 9

static const char *kernel, *initrd;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void fail(const char *what)
{
	fprintf(stderr, "snapshot-probe: %s: %s\n", what, agentvm_last_error());
	exit(1);
}

/* This process's PSS in KiB: what it costs the host, shared pages divided among their users. */
static long pss_kib(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long kib = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Pss: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static void echo_hi(agentvm_vm *vm)
{
	const char *argv[] = { "echo", "hi", NULL };
	agentvm_exec_options o;
	agentvm_exec_result *r;

	agentvm_exec_options_init(&o);
	o.argv = argv;
	if (agentvm_vm_exec(vm, &o, &r) || r->exit_code != 0)
		fail("echo hi");
	agentvm_exec_result_free(r);
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* How many descriptors this process holds. */
static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (!d)
		fail("reading /proc/self/fd");
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own */
}

/*
 * A restored 1-vCPU VM holds 13 descriptors (doc/api.md, "Resources per VM"): 100 need more than
 * the usual soft limit of 1024. Raise it to the hard limit, as a program holding many VMs does.
 */
static void raise_fd_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

static agentvm_vm *boot(void)
{
	agentvm_config *cfg;
	agentvm_vm *vm;

	if (agentvm_config_new(&cfg) || agentvm_config_set_kernel(cfg, kernel) ||
	    agentvm_config_set_initrd(cfg, initrd) || agentvm_config_set_memory_mib(cfg, MEMORY_MIB) ||
	    agentvm_vm_new(cfg, &vm) || agentvm_vm_start(vm))
		fail("booting a VM");
	agentvm_config_free(cfg);
	echo_hi(vm);
	return vm;
}

/* The median time of CYCLES restores of `raw`, each running `echo hi` and then freed. */
static double median_cycle_us(const char *raw)
{
	double us[CYCLES];

	for (int i = 0; i < CYCLES; i++) {
		agentvm_vm *vm;
		double t0 = now_us();

		if (agentvm_vm_restore(raw, NULL, &vm) || agentvm_vm_start(vm))
			fail("restoring a VM for a cycle");
		echo_hi(vm);
		agentvm_vm_free(vm);
		us[i] = now_us() - t0;
	}
	qsort(us, CYCLES, sizeof(us[0]), compare_doubles);
	return us[CYCLES / 2];
}

static void snapshot(agentvm_vm *vm, const char *path, uint32_t flags, const char *name)
{
	struct stat st;
	double t0 = now_us();

	if (agentvm_vm_snapshot(vm, path, flags))
		fail("snapshot");
	printf("%s_us %.0f\n", name, now_us() - t0);
	if (stat(path, &st) < 0)
		fail("stat of the snapshot");
	printf("%s_size %lld\n%s_allocated %lld\n", name, (long long)st.st_size, name,
	       (long long)st.st_blocks * 512);
}

int main(int argc, char **argv)
{
	agentvm_vm *vms[MAX_VMS], *template;
	double restore_us[MAX_VMS], t0;
	char raw[4096], compressed[4096];
	long clones, cold, base, fds;

	if (argc < 5 || argc > 6 || (clones = strtol(argv[4], NULL, 10)) < 1 || clones > MAX_VMS ||
	    (cold = argc == 6 ? strtol(argv[5], NULL, 10) : clones) < 0 || cold > MAX_VMS) {
		fprintf(stderr, "usage: snapshot-probe KERNEL INITRD DIR CLONES [COLD] (CLONES 1..%d, "
				"COLD 0..%d)\n", MAX_VMS, MAX_VMS);
		return 2;
	}
	kernel = argv[1];
	initrd = argv[2];
	raise_fd_limit();
	snprintf(raw, sizeof(raw), "%s/raw.snap", argv[3]);
	snprintf(compressed, sizeof(compressed), "%s/compressed.snap", argv[3]);
	base = pss_kib();
	t0 = now_us();
	template = boot();
	printf("cold_output_us %.0f\n", now_us() - t0);
	printf("template_pss_kib %ld\n", pss_kib() - base);
	snapshot(template, raw, 0, "snapshot_raw");
	snapshot(template, compressed, AGENTVM_SNAPSHOT_COMPRESS, "snapshot_compressed");
	agentvm_vm_free(template);

	base = pss_kib();
	fds = open_fds();
	for (long i = 0; i < clones; i++) {
		t0 = now_us();
		if (agentvm_vm_restore(raw, NULL, &vms[i]) || agentvm_vm_start(vms[i]))
			fail("restoring a clone");
		echo_hi(vms[i]);
		restore_us[i] = now_us() - t0;
	}
	printf("clones_pss_kib %ld\n", pss_kib() - base);
	printf("clone_fds %.1f\n", (double)(open_fds() - fds) / (double)clones);
	qsort(restore_us, (size_t)clones, sizeof(restore_us[0]), compare_doubles);
	printf("restore_output_us %.0f\n", restore_us[clones / 2]);
	for (long i = 0; i < clones; i++)
		agentvm_vm_free(vms[i]);

	printf("cycle_us %.0f\n", median_cycle_us(raw));
	if (agentvm_set_spare_vms(1))
		fail("asking for a spare VM");
	printf("spare_cycle_us %.0f\n", median_cycle_us(raw));
	if (agentvm_set_spare_vms(0))
		fail("releasing the spare VM");

	if (cold == 0)
		return 0;
	base = pss_kib();
	for (long i = 0; i < cold; i++)
		vms[i] = boot();
	printf("cold_pss_kib %ld\n", pss_kib() - base);
	for (long i = 0; i < cold; i++)
		agentvm_vm_free(vms[i]);
	return 0;
}
