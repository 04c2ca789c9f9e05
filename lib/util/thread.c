#define _GNU_SOURCE
#include "util/thread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

struct thread_start {
	void *(*fn)(void *);
	void *arg;
	char name[THREAD_NAME_MAX + 1];
};

/* Keep the calling thread's stack in 4 KiB pages (best effort: a huge page costs memory only). */
static void stack_without_huge_pages(void)
{
	pthread_attr_t attr;
	void *stack;
	size_t size;

	if (pthread_getattr_np(pthread_self(), &attr))
		return;
	if (pthread_attr_getstack(&attr, &stack, &size) == 0)
		madvise(stack, size, MADV_NOHUGEPAGE);
	pthread_attr_destroy(&attr);
}

/*
 * The thread names itself: naming another thread goes through /proc/self/task, which an
 * embedding program's sandbox may not have mounted.
 */
static void *thread_main(void *p)
{
	struct thread_start start = *(struct thread_start *)p;

	free(p);
	prctl(PR_SET_NAME, start.name, 0, 0, 0);
	stack_without_huge_pages();
	return start.fn(start.arg);
}

int thread_start(pthread_t *thread, const char *name, size_t stack_size, void *(*fn)(void *),
		 void *arg)
{
	struct thread_start *start = calloc(1, sizeof(*start));
	pthread_attr_t attr;
	int r;

	if (!start)
		return ENOMEM;
	start->fn = fn;
	start->arg = arg;
	strncpy(start->name, name, THREAD_NAME_MAX);
	r = pthread_attr_init(&attr);
	if (!r) {
		r = pthread_attr_setstacksize(&attr, stack_size);
		if (!r)
			r = pthread_create(thread, &attr, thread_main, start);
		pthread_attr_destroy(&attr);
	}
	if (r)
		free(start);
	return r;
}
