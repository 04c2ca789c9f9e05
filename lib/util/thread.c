#define _GNU_SOURCE
#include "util/thread.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

struct thread_start {
	void *(*fn)(void *);
	void *arg;
	char name[THREAD_NAME_MAX + 1];
};

/*
 * The thread names itself: naming another thread goes through /proc/self/task, which an
 * embedding program's sandbox may not have mounted.
 */
static void *thread_main(void *p)
{
	struct thread_start start = *(struct thread_start *)p;

	free(p);
	prctl(PR_SET_NAME, start.name, 0, 0, 0);
	return start.fn(start.arg);
}

/* A stack of `size` bytes above a guard page, out of huge pages before anything touches it. */
static int stack_map(struct thread *thread, size_t size)
{
	size_t guard = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *map = mmap(NULL, size + guard, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);

	if (map == MAP_FAILED)
		return errno;
	/* Best effort: without it a huge page costs memory, nothing else. */
	madvise(map + guard, size, MADV_NOHUGEPAGE);
	if (mprotect(map, guard, PROT_NONE) < 0) {
		int err = errno;

		munmap(map, size + guard);
		return err;
	}
	thread->stack_map = map;
	thread->stack_map_size = size + guard;
	return 0;
}

/*
 * A new thread inherits its creator's signal mask: created with every signal
 * blocked, no handler of the embedding program ever runs on a library thread
 * (a vCPU thread's kick signal is unblocked by KVM only while the guest runs).
 */
static int create_with_signals_blocked(pthread_t *id, const pthread_attr_t *attr,
				       struct thread_start *start)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(id, attr, thread_main, start);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

int thread_start(struct thread *thread, const char *name, size_t stack_size,
		 void *(*fn)(void *), void *arg)
{
	struct thread_start *start = calloc(1, sizeof(*start));
	pthread_attr_t attr;
	int r;

	if (!start)
		return ENOMEM;
	start->fn = fn;
	start->arg = arg;
	strncpy(start->name, name, THREAD_NAME_MAX);
	r = stack_map(thread, stack_size);
	if (r) {
		free(start);
		return r;
	}
	r = pthread_attr_init(&attr);
	if (!r) {
		/* The stack is the mapping's top stack_size bytes, above the guard page. */
		r = pthread_attr_setstack(&attr,
					  (uint8_t *)thread->stack_map + thread->stack_map_size -
						  stack_size,
					  stack_size);
		if (!r)
			r = create_with_signals_blocked(&thread->id, &attr, start);
		pthread_attr_destroy(&attr);
	}
	if (r) {
		free(start);
		munmap(thread->stack_map, thread->stack_map_size);
		thread->stack_map = NULL;
	}
	return r;
}

void thread_join(struct thread *thread)
{
	pthread_join(thread->id, NULL);
	munmap(thread->stack_map, thread->stack_map_size);
	thread->stack_map = NULL;
}
