/* Starting the threads the library runs (vCPUs, device workers): named, with a stack sized for them. */
#ifndef AGENTVM_UTIL_THREAD_H
#define AGENTVM_UTIL_THREAD_H

#include <pthread.h>
#include <stddef.h>

/*
 * For a thread that runs only our code: far more than its deepest call chain (a few KiB; the
 * vsock worker's frame, the largest, is ~6 KiB).
 */
#define THREAD_STACK_OWN (256 * 1024)

/*
 * For a thread that also runs the embedding program's callbacks (a vCPU thread runs the console
 * callback, maybe Python through ctypes): the 8 MiB a thread gets by default, which callbacks in
 * any language may count on.
 */
#define THREAD_STACK_CALLBACKS (8 * 1024 * 1024)

/* A thread name's longest length the kernel keeps (comm), without its terminating NUL. */
#define THREAD_NAME_MAX 15

/* A thread of the library and the stack it runs on. */
struct thread {
	pthread_t id;
	void *stack_map; /* the stack's mapping, its guard page included */
	size_t stack_map_size;
};

/*
 * pthread_create() with a stack of stack_size bytes, the thread named `name` (cut to
 * THREAD_NAME_MAX bytes) before fn runs, so that top -H, perf and gdb tell the library's
 * threads from the embedding program's. Every stack is kept out of transparent huge pages
 * from before its first byte is written: where the host's THP setting is `always`, an 8 MiB
 * stack that glibc maps gets a 2 MiB page as soon as pthread_create() writes the thread's
 * descriptor at its top, if that top lies in a 2 MiB-aligned block of the mapping (77 of 100
 * vCPU stacks did in one process), 2 MiB resident for the few KiB the thread uses. The
 * thread starts with every signal blocked, whatever its creator's mask. Returns 0, or the
 * positive error number.
 */
int thread_start(struct thread *thread, const char *name, size_t stack_size,
		 void *(*fn)(void *), void *arg);

/* pthread_join() a started thread, then unmap its stack. */
void thread_join(struct thread *thread);

#endif
