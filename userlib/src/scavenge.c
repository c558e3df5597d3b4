/* SPDX-License-Identifier: MIT */
/*
 * The stack scavenger (Go's background scavenger, for goroutine stacks):
 * a library thread, not an M, that wakes every KGO_SCAVENGE_PERIOD_NS and
 * gives back to the kernel the stacks of Gs that have sat on the global
 * free list for KGO_SCAVENGE_AGE rounds (at least a second) or more.  Their slots become clean
 * (stack.c): they cost no memory until handed out again.  So after a burst
 * of goroutines, the memory it took returns within about a second and a
 * half, while a program that keeps creating goroutines keeps its warm
 * stacks: those come back into use before they grow old.
 *
 * A P's own free list (up to 64 Gs) is out of reach while its M runs
 * (it is the P's alone); a P that goes idle hands it to the global list
 * (kgo_gfree_idle), where it ages like the rest.
 *
 * KGO_SCAVENGE=off in the environment keeps every stack until kgo_main
 * returns, as before the scavenger (for comparisons and tests).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define KGO_SCAVENGE_PERIOD_NS	250000000ULL
#define KGO_SCAVENGE_AGE	5	/* rounds: at least a second free */

/*
 * The scavenger's round counter.  Free-list batches are stamped with it
 * (proc.c), not with the clock: a relaxed load on the free path instead of
 * a clock read, which under some clock sources is a system call.
 */
_Atomic uint64_t kgo_scavenge_epoch;

/* The scavenger thread; stop and the condition under lock. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* CLOCK_MONOTONIC */
	bool stop;
	bool started;
	pthread_t thread;
} kgo_sc = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *kgo_scavenger(void *arg)
{
	struct timespec ts;
	uint64_t now, epoch;

	(void)arg;
	pthread_mutex_lock(&kgo_sc.lock);
	while (!kgo_sc.stop) {
		now = kgo_nanotime() + KGO_SCAVENGE_PERIOD_NS;
		ts.tv_sec = (time_t)(now / 1000000000ULL);
		ts.tv_nsec = (long)(now % 1000000000ULL);
		pthread_cond_timedwait(&kgo_sc.cond, &kgo_sc.lock, &ts);
		if (kgo_sc.stop)
			break;
		pthread_mutex_unlock(&kgo_sc.lock);
		epoch = atomic_fetch_add_explicit(&kgo_scavenge_epoch, 1,
						  memory_order_relaxed) + 1;
		if (epoch >= KGO_SCAVENGE_AGE)
			kgo_stack_scavenge(kgo_gfree_take_old(epoch - KGO_SCAVENGE_AGE));
		pthread_mutex_lock(&kgo_sc.lock);
	}
	pthread_mutex_unlock(&kgo_sc.lock);
	return NULL;
}

/* kgo_scavenger_start - at start-up, before any goroutine.  0 or -errno. */
int kgo_scavenger_start(void)
{
	const char *env = getenv("KGO_SCAVENGE");
	pthread_condattr_t ca;
	int err;

	if (env && !strcmp(env, "off"))
		return 0;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	err = -pthread_cond_init(&kgo_sc.cond, &ca);
	pthread_condattr_destroy(&ca);
	if (err)
		return err;
	kgo_sc.stop = false;
	/* It takes no signals: they go to the program's threads. */
	err = kgo_thread_start(&kgo_sc.thread, kgo_scavenger, NULL, KGO_THREAD_NO_SIGNALS);
	if (err) {
		pthread_cond_destroy(&kgo_sc.cond);
		return err;
	}
	kgo_sc.started = true;
	return 0;
}

/*
 * kgo_scavenger_forget_after_fork - in a fork's child, which has no
 * scavenger thread: nothing to join, and the lock is made anew (the
 * parent's thread may have held it at the fork).
 */
void kgo_scavenger_forget_after_fork(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	kgo_sc.lock = fresh;
	kgo_sc.stop = false;
	kgo_sc.started = false;
}

/* kgo_scavenger_stop - at teardown, before the stacks are unmapped. */
void kgo_scavenger_stop(void)
{
	if (!kgo_sc.started)
		return;
	pthread_mutex_lock(&kgo_sc.lock);
	kgo_sc.stop = true;
	pthread_cond_signal(&kgo_sc.cond);
	pthread_mutex_unlock(&kgo_sc.lock);
	pthread_join(kgo_sc.thread, NULL);
	pthread_cond_destroy(&kgo_sc.cond);
	kgo_sc.started = false;
}
