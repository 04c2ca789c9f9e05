#include "kvm/spare.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "util/error.h"
#include "util/thread.h"

/* VMs ended by kvm_spare_release() and not closed yet; more are closed on the caller's thread. */
#define RELEASED_MAX 64

/* The pool; `lock` guards everything but `thread`, which only kvm_spare_set() touches. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	unsigned int wanted;
	unsigned int count;
	struct kvm vms[KVM_SPARE_MAX];
	unsigned int nreleased;
	struct kvm released[RELEASED_MAX];
	/* The last creation failed (no /dev/kvm, out of descriptors): retry only after a take. */
	bool failed;
	bool stopping;
	bool thread_running;
	struct thread thread;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER };

/* Serializes kvm_spare_set() calls, so only one starts or joins the thread. */
static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void *spare_worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.lock);
	while (!pool.stopping) {
		struct kvm kvm;
		int err;

		/* A spare first: a caller may be about to want it; a teardown waits for nobody. */
		if (pool.count < pool.wanted && !pool.failed) {
			/* Unlocked: the grace period this waits for is what the spares spare the callers. */
			pthread_mutex_unlock(&pool.lock);
			err = kvm_open(&kvm);
			pthread_mutex_lock(&pool.lock);
			if (err)
				pool.failed = true;
			else if (pool.stopping || pool.count >= pool.wanted)
				kvm_close(&kvm);
			else
				pool.vms[pool.count++] = kvm;
		} else if (pool.nreleased) {
			kvm = pool.released[--pool.nreleased];
			pthread_mutex_unlock(&pool.lock);
			kvm_close(&kvm);
			pthread_mutex_lock(&pool.lock);
		} else {
			pthread_cond_wait(&pool.changed, &pool.lock);
		}
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

/* Close spares beyond `keep`. With `lock` held. */
static void close_beyond(unsigned int keep)
{
	while (pool.count > keep)
		kvm_close(&pool.vms[--pool.count]);
}

/* Close every released VM the worker has not. With `lock` held. */
static void close_released(void)
{
	while (pool.nreleased)
		kvm_close(&pool.released[--pool.nreleased]);
}

/*
 * A VM belongs to the process that created it (KVM refuses calls from another
 * mm), and a fork's child has no worker: it starts with an empty pool, closing
 * the descriptors it inherited. Both locks are held across fork(), so the child
 * copies a consistent pool and finds them unlocked.
 */
static void before_fork(void)
{
	pthread_mutex_lock(&set_lock);
	pthread_mutex_lock(&pool.lock);
}

static void after_fork_in_parent(void)
{
	pthread_mutex_unlock(&pool.lock);
	pthread_mutex_unlock(&set_lock);
}

static void after_fork_in_child(void)
{
	close_beyond(0);
	close_released();
	pool.wanted = 0;
	pool.failed = pool.stopping = pool.thread_running = false;
	pthread_mutex_unlock(&pool.lock);
	pthread_mutex_unlock(&set_lock);
}

static void atfork_register(void)
{
	pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
}

/* Without `lock`: the worker needs it to finish. */
static void worker_stop(void)
{
	pthread_mutex_lock(&pool.lock);
	pool.stopping = true;
	pthread_cond_signal(&pool.changed);
	pthread_mutex_unlock(&pool.lock);
	thread_join(&pool.thread);
	pthread_mutex_lock(&pool.lock);
	pool.stopping = false;
	pool.thread_running = false;
	close_beyond(0); /* one the worker made before it saw `stopping` */
	close_released();
	pthread_mutex_unlock(&pool.lock);
}

static int worker_start(void)
{
	int r = thread_start(&pool.thread, "agentvm-spare", THREAD_STACK_OWN, spare_worker, NULL);

	if (r)
		return error_set_errno(-r, "cannot start the thread that creates spare VMs");
	pool.thread_running = true;
	return 0;
}

int kvm_spare_set(unsigned int count)
{
	bool running;
	int err = 0;

	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&set_lock);
	pthread_mutex_lock(&pool.lock);
	pool.wanted = count;
	pool.failed = false;
	close_beyond(count);
	pthread_cond_signal(&pool.changed);
	running = pool.thread_running;
	pthread_mutex_unlock(&pool.lock);
	if (count && !running)
		err = worker_start();
	else if (!count && running)
		worker_stop();
	pthread_mutex_unlock(&set_lock);
	return err;
}

bool kvm_spare_take(struct kvm *kvm)
{
	bool taken = false;

	pthread_mutex_lock(&pool.lock);
	if (pool.count) {
		*kvm = pool.vms[--pool.count];
		taken = true;
	}
	if (pool.wanted) {
		pool.failed = false;
		pthread_cond_signal(&pool.changed);
	}
	pthread_mutex_unlock(&pool.lock);
	return taken;
}

void kvm_spare_release(struct kvm *kvm)
{
	bool queued = false;

	if (kvm->vm_fd < 0 && kvm->sys_fd < 0)
		return;
	pthread_mutex_lock(&pool.lock);
	if (pool.thread_running && !pool.stopping && pool.nreleased < RELEASED_MAX) {
		pool.released[pool.nreleased++] = *kvm;
		pthread_cond_signal(&pool.changed);
		queued = true;
	}
	pthread_mutex_unlock(&pool.lock);
	if (queued)
		*kvm = (struct kvm){ .sys_fd = -1, .vm_fd = -1 };
	else
		kvm_close(kvm);
}

/* A library unloaded with dlclose() must not leave its thread running code that is gone. */
__attribute__((destructor)) static void spare_unload(void)
{
	pthread_mutex_lock(&set_lock);
	if (pool.thread_running)
		worker_stop();
	pthread_mutex_unlock(&set_lock);
}
