#include "util/thread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

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

int thread_start(pthread_t *thread, const char *name, void *(*fn)(void *), void *arg)
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
		r = pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE);
		if (!r)
			r = pthread_create(thread, &attr, thread_main, start);
		pthread_attr_destroy(&attr);
	}
	if (r)
		free(start);
	return r;
}
