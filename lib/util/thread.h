/* Starting the threads the library runs (vCPUs, device workers) with a stack sized for them. */
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

/* pthread_create() with a THREAD_STACK_SIZE stack: 0, or the positive error number it gave. */
int thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif
