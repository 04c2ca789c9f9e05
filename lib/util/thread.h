/* Starting the threads the library runs (vCPUs, device workers): named, with a stack sized for them. */
#ifndef AGENTVM_UTIL_THREAD_H
#define AGENTVM_UTIL_THREAD_H

#include <pthread.h>

/*
 * Far more than any of our threads' deepest call chain (a few KiB; the vsock worker's frame,
 * the largest, is ~6 KiB), and well under 2 MiB: a default 8 MiB stack whose top happens to be
 * 2 MiB-aligned gets a transparent huge page where the host's THP setting is `always`, which is
 * 2 MiB of resident memory per thread for a few KiB used.
 */
#define THREAD_STACK_SIZE (256 * 1024)

/* A thread name's longest length the kernel keeps (comm), without its terminating NUL. */
#define THREAD_NAME_MAX 15

/*
 * pthread_create() with a THREAD_STACK_SIZE stack, the thread named `name` (cut to
 * THREAD_NAME_MAX bytes) before fn runs, so that top -H, perf and gdb tell the library's
 * threads from the embedding program's. Returns 0, or the positive error number.
 */
int thread_start(pthread_t *thread, const char *name, void *(*fn)(void *), void *arg);

#endif
