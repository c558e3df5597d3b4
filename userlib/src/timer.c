/* SPDX-License-Identifier: MIT */
/*
 * Time: kgo_nanotime, kgo_sleep and the kgo_timer calls, served by one
 * min-heap of deadlines for the whole runtime and the poller thread
 * (netpoll.c); there is no thread per sleeper.
 *
 * The heap is guarded by a pthread mutex (taken by goroutines and by the
 * poller; never held across a goroutine switch, except that kgo_sleep
 * parks with its release as the unlock function, which runs on the same
 * thread).  A goroutine takes it only in the library (every public call
 * here is a kgo_enter/kgo_leave wrapper), where sysmon neither preempts
 * it nor takes its P: a holder preempted in state G would leave the
 * poller and every sleeper blocked behind it.  A timerfd (CLOCK_MONOTONIC, absolute) in the poller's epoll set
 * is armed for the earliest deadline: whoever adds a timer that becomes
 * the earliest re-arms it, so the poller needs no wakeup message.  When it
 * fires, the poller takes every timer whose deadline is <= the clock read
 * then, so nothing fires early, and re-arms for the next.
 *
 * A sleeping goroutine's timer is a record on its own stack; it is readied
 * after the heap lock is dropped (nothing else can wake it, so the record
 * stays valid until then).  User timers (struct kgo_timer) fire under the
 * lock, so that kgo_timer_stop/free, which take it too, never race with a
 * firing.
 *
 * Memory.  The heap's room is reserved when a sleep starts or a kgo_timer
 * is made (which then fail with -ENOMEM / ENOMEM), never when a timer is
 * armed again, so the poller and kgo_timer_reset cannot run out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "block.h"

/* Sleepers readied by one READY ioctl (the poller's stack holds them). */
#define KGO_TIMERS_BATCH	128

struct kgo_timer {
	struct kgo_tmr t;
	void (*fn)(void *);
	void *arg;
	struct kgo_chan *c;
};

static struct {
	pthread_mutex_t lock;
	struct kgo_tmr **heap;
	size_t n, cap;
	size_t nuser;		/* kgo_timers alive (made, not freed) */
	size_t nstack;		/* goroutines' own timers in the heap */
	int tfd;
	uint64_t armed;		/* the timerfd's deadline; 0: not armed */
	bool live;		/* between kgo_timers_init and _fini */
} kgo_tm = { .lock = PTHREAD_MUTEX_INITIALIZER, .tfd = -1 };

uint64_t kgo_nanotime(void)
{
	return kgo_now();
}

/* now + ns, saturating. */
static uint64_t kgo_deadline(uint64_t ns)
{
	uint64_t now = kgo_now();

	return ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
}

/* ---- the heap, lock held ---- */

static void kgo_heap_set(size_t i, struct kgo_tmr *t)
{
	kgo_tm.heap[i] = t;
	t->idx = i;
}

static void kgo_heap_up(size_t i)
{
	struct kgo_tmr *t = kgo_tm.heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (kgo_tm.heap[parent]->when <= t->when)
			break;
		kgo_heap_set(i, kgo_tm.heap[parent]);
		i = parent;
	}
	kgo_heap_set(i, t);
}

static void kgo_heap_down(size_t i)
{
	struct kgo_tmr *t = kgo_tm.heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= kgo_tm.n)
			break;
		if (c + 1 < kgo_tm.n && kgo_tm.heap[c + 1]->when < kgo_tm.heap[c]->when)
			c++;
		if (t->when <= kgo_tm.heap[c]->when)
			break;
		kgo_heap_set(i, kgo_tm.heap[c]);
		i = c;
	}
	kgo_heap_set(i, t);
}

/*
 * kgo_heap_reserve - room for @extra more timers than every user timer
 * alive plus every goroutine's own timer queued: 0, or -ENOMEM (nothing changed).  So a
 * user timer's slot is reserved from kgo_timer_new to kgo_timer_free, and
 * arming it (reset, in the poller or anywhere) never needs memory.
 */
static int kgo_heap_reserve(size_t extra)
{
	size_t need = kgo_tm.nuser + kgo_tm.nstack + extra, cap = kgo_tm.cap;
	struct kgo_tmr **h;

	if (need <= cap)
		return 0;
	while (cap < need)
		cap = cap ? 2 * cap : 64;
	/* Not realloc: the lock and the P are held here (rawmem.c says why). */
	h = kgo_rawmem_grow(kgo_tm.heap, kgo_tm.cap * sizeof(*h), cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	kgo_tm.heap = h;
	kgo_tm.cap = kgo_rawmem_round(cap * sizeof(*h)) / sizeof(*h);
	return 0;
}

/* Never out of room: kgo_heap_reserve made it. */
static void kgo_heap_push(struct kgo_tmr *t)
{
	if (kgo_tm.n == kgo_tm.cap)
		kgo_fatal("timer heap overflow (%zu timers)", kgo_tm.n);
	if (kgo_tmr_on_stack(t))
		kgo_tm.nstack++;
	kgo_heap_set(kgo_tm.n++, t);
	kgo_heap_up(t->idx);
}

/*
 * Whether @t is queued.  Its idx alone is not trusted: a fork's child keeps
 * copies of timers its parent had queued, whose idx name slots of a heap
 * the child no longer has (kgo_timers_forget_after_fork).
 */
static bool kgo_heap_has(const struct kgo_tmr *t)
{
	return t->idx < kgo_tm.n && kgo_tm.heap[t->idx] == t;
}

static void kgo_heap_remove(struct kgo_tmr *t)
{
	size_t i = t->idx, last = --kgo_tm.n;
	struct kgo_tmr *moved;

	t->idx = KGO_TMR_NONE;
	if (kgo_tmr_on_stack(t))
		kgo_tm.nstack--;
	if (i == last)
		return;
	/* The last one fills the hole, then moves down or up into place. */
	moved = kgo_tm.heap[last];
	kgo_heap_set(i, moved);
	kgo_heap_down(i);
	kgo_heap_up(moved->idx);
}

/*
 * Arm the timerfd for the earliest deadline if it is not armed as early.
 * A later deadline than the armed one never re-arms: the poller then only
 * wakes a little early, finds nothing due, and arms for the real one.
 */
static void kgo_timers_arm_locked(void)
{
	struct itimerspec its;
	uint64_t when;

	if (!kgo_tm.n)
		return;
	when = kgo_tm.heap[0]->when;
	if (kgo_tm.armed && kgo_tm.armed <= when)
		return;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(when / 1000000000u);
	its.it_value.tv_nsec = (long)(when % 1000000000u);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;	/* all zero would disarm */
	if (timerfd_settime(kgo_tm.tfd, TFD_TIMER_ABSTIME, &its, NULL))
		kgo_fatal("timerfd_settime failed: %s", strerror(errno));
	kgo_tm.armed = when;
}

/* Room was reserved for @t (kgo_heap_reserve). */
static void kgo_timer_add_locked(struct kgo_tmr *t)
{
	kgo_heap_push(t);
	if (t->idx == 0)
		kgo_timers_arm_locked();
}

static bool kgo_tm_parkunlock(void *arg)
{
	pthread_mutex_unlock(arg);
	return true;
}

/* ---- the poller's side ---- */

int kgo_timers_init(int epfd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) {
		int err = -errno;

		close(fd);
		return err;
	}
	pthread_mutex_lock(&kgo_tm.lock);
	/* Slots for user timers that outlived an earlier kgo_main. */
	if (kgo_heap_reserve(0)) {
		pthread_mutex_unlock(&kgo_tm.lock);
		close(fd);
		return -ENOMEM;
	}
	kgo_tm.tfd = fd;
	kgo_tm.armed = 0;
	kgo_tm.live = true;
	pthread_mutex_unlock(&kgo_tm.lock);
	return 0;
}

/* The timerfd fired: run every timer that is due.  Poller thread. */
void kgo_timers_run(void)
{
	struct kgo_g *batch[KGO_TIMERS_BATCH];
	struct kgo_tmr *sleepers = NULL;
	uint64_t now, expirations;
	int n = 0;

	pthread_mutex_lock(&kgo_tm.lock);
	/* Clears the timerfd's readiness; EAGAIN if it fired for no one. */
	if (read(kgo_tm.tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		kgo_fatal("read of the timerfd failed: %s", strerror(errno));
	kgo_tm.armed = 0;
	now = kgo_now();
	while (kgo_tm.n && kgo_tm.heap[0]->when <= now) {
		struct kgo_tmr *t = kgo_tm.heap[0];
		struct kgo_timer *ut = (struct kgo_timer *)t;

		kgo_heap_remove(t);
		switch (t->kind) {
		case KGO_TMR_SLEEP:
			t->next = sleepers;
			sleepers = t;
			break;
		case KGO_TMR_EXPIRE: {
			/* The waiter's record is valid until we ready it. */
			struct kgo_g *g = t->expire(t);

			if (g) {
				t->g = g;
				t->next = sleepers;
				sleepers = t;
			}
			break;
		}
		case KGO_TMR_FUNC: {
			int err = kgo_go(ut->fn, ut->arg);

			if (err && err != -ESRCH)
				kgo_warn("a timer's goroutine could not start: %s", strerror(-err));
			break;
		}
		case KGO_TMR_CHAN:
			/* Buffer of one: a value still unread makes this one drop. */
			(void)kgo_chan_trysend(ut->c, &now);
			break;
		}
	}
	kgo_timers_arm_locked();
	pthread_mutex_unlock(&kgo_tm.lock);
	/* One READY for each batch of them (kgo_ready_many), not one each. */
	while (sleepers) {
		/* Both read before it is readied: then the record may be gone. */
		struct kgo_tmr *next = sleepers->next;

		if (n == KGO_TIMERS_BATCH) {
			kgo_ready_many(batch, n);
			n = 0;
		}
		batch[n++] = sleepers->g;
		sleepers = next;
	}
	kgo_ready_many(batch, n);
}

/*
 * Teardown, after every M stopped: forget the timers still pending (their
 * goroutines are abandoned; user timers may still be freed), close the
 * timerfd.
 */
/*
 * A fork's child: the poller is gone; the timers are the parent's.  The
 * heap is left as it is, unread: another thread of the parent may have
 * been changing it under kgo_tm.lock when fork() copied it (a slot
 * counted in n but not yet written reads as NULL in fresh pages).  The
 * copies of the parent's timers keep a stale idx, which kgo_heap_has
 * does not believe.  The pages stay mapped in the child until it execs
 * or exits; it may start a heap of its own.
 */
void kgo_timers_forget_after_fork(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	kgo_tm.lock = fresh;
	kgo_tm.heap = NULL;
	kgo_tm.n = kgo_tm.cap = kgo_tm.nstack = 0;
	if (kgo_tm.tfd >= 0)
		close(kgo_tm.tfd);
	kgo_tm.tfd = -1;
	kgo_tm.armed = 0;
	kgo_tm.live = false;
}

void kgo_timers_fini(void)
{
	/* A timer still pending is no longer in the heap once n is 0 (kgo_heap_has). */
	pthread_mutex_lock(&kgo_tm.lock);
	kgo_rawmem_free(kgo_tm.heap, kgo_tm.cap * sizeof(*kgo_tm.heap));
	kgo_tm.heap = NULL;
	kgo_tm.n = kgo_tm.cap = kgo_tm.nstack = 0;
	if (kgo_tm.tfd >= 0)
		close(kgo_tm.tfd);
	kgo_tm.tfd = -1;
	kgo_tm.armed = 0;
	kgo_tm.live = false;
	pthread_mutex_unlock(&kgo_tm.lock);
}

/* ---- deadlines of blocking calls (block.h) ---- */

/* Arm @t (set up by the caller) for @when. */
static int kgo_deadline_arm_only(struct kgo_tmr *t, uint64_t when)
{
	int err;

	t->when = when;
	pthread_mutex_lock(&kgo_tm.lock);
	err = kgo_tm.live ? kgo_heap_reserve(1) : kgo_no_instance();
	if (!err)
		kgo_timer_add_locked(t);
	pthread_mutex_unlock(&kgo_tm.lock);
	return err;
}

int kgo_deadline_arm(struct kgo_tmr *t, uint64_t when, struct kgo_g *(*expire)(struct kgo_tmr *))
{
	memset(t, 0, sizeof(*t));
	t->kind = KGO_TMR_EXPIRE;
	t->idx = KGO_TMR_NONE;
	t->expire = expire;
	return kgo_deadline_arm_only(t, when);
}

int kgo_wait_begin(struct kgo_tmr *t, uint64_t deadline, struct kgo_g *(*expire)(struct kgo_tmr *))
{
	int err;

	memset(t, 0, sizeof(*t));
	t->kind = KGO_TMR_EXPIRE;
	t->idx = KGO_TMR_NONE;
	t->expire = expire;
	err = kgo_ctx_watch(t);
	if (err)
		return err;
	if (deadline == KGO_DL_CTX)
		return 0;
	err = kgo_now() >= deadline ? -ETIMEDOUT : kgo_deadline_arm_only(t, deadline);
	if (err)
		kgo_ctx_unwatch(t);
	return err;
}

void kgo_wait_end(struct kgo_tmr *t)
{
	kgo_deadline_disarm(t);
	kgo_ctx_unwatch(t);
}

int kgo_wait_err(struct kgo_tmr *t)
{
	int err = kgo_ctx_err(t->ctx);

	return err ? err : -ETIMEDOUT;
}

void kgo_deadline_disarm(struct kgo_tmr *t)
{
	pthread_mutex_lock(&kgo_tm.lock);
	if (kgo_heap_has(t))
		kgo_heap_remove(t);
	pthread_mutex_unlock(&kgo_tm.lock);
}

/* ---- the public calls ---- */

static int sleep_in_library(uint64_t ns)
{
	struct kgo_tmr t;
	int err;

	if (ns == 0) {
		if (kgo_self())
			kgo_yield();
		else
			sched_yield();	/* a thread that is not an M */
		return 0;
	}
	memset(&t, 0, sizeof(t));
	t.kind = KGO_TMR_SLEEP;
	t.g = kgo_self_or_die("kgo_sleep");
	t.when = kgo_deadline(ns);
	pthread_mutex_lock(&kgo_tm.lock);
	err = kgo_tm.live ? kgo_heap_reserve(1) : kgo_no_instance();
	if (err) {
		pthread_mutex_unlock(&kgo_tm.lock);
		return err;
	}
	kgo_timer_add_locked(&t);
	kgo_park(kgo_tm_parkunlock, &kgo_tm.lock);
	return 0;
}

int kgo_sleep(uint64_t ns)
{
	bool entered = kgo_enter(true);
	int r = sleep_in_library(ns);

	kgo_leave(entered);
	return r;
}

/*
 * A user timer's memory, taken before the library is entered and given back
 * after it is left: malloc and free may wait for a goroutine (rawmem.c).
 */
static struct kgo_timer *kgo_timer_alloc(void (*fn)(void *), void *arg)
{
	struct kgo_timer *ut = calloc(1, sizeof(*ut));

	if (!ut)
		return NULL;
	ut->t.idx = KGO_TMR_NONE;
	ut->fn = fn;
	ut->arg = arg;
	if (fn) {
		ut->t.kind = KGO_TMR_FUNC;
	} else {
		ut->t.kind = KGO_TMR_CHAN;
		ut->c = kgo_chan_new(sizeof(uint64_t), 1);
		if (!ut->c) {
			free(ut);
			return NULL;
		}
	}
	return ut;
}

void kgo_timer_free_memory(struct kgo_timer *ut)
{
	if (ut) {
		kgo_chan_free(ut->c);
		free(ut);
	}
}

/* Queue @ut, made by kgo_timer_alloc: 0, or -errno. */
static int timer_new_in_library(struct kgo_timer *ut, uint64_t ns)
{
	int err;

	pthread_mutex_lock(&kgo_tm.lock);
	err = !kgo_tm.live ? kgo_no_instance() : kgo_heap_reserve(1);
	if (err) {
		pthread_mutex_unlock(&kgo_tm.lock);
		return err;
	}
	kgo_tm.nuser++;
	ut->t.when = kgo_deadline(ns);
	kgo_timer_add_locked(&ut->t);
	pthread_mutex_unlock(&kgo_tm.lock);
	return 0;
}

struct kgo_timer *kgo_timer_new(uint64_t ns, void (*fn)(void *), void *arg)
{
	struct kgo_timer *ut = kgo_timer_alloc(fn, arg);
	bool entered;
	int err;

	if (!ut) {
		errno = ENOMEM;
		return NULL;
	}
	entered = kgo_enter(true);
	err = timer_new_in_library(ut, ns);
	kgo_leave(entered);
	if (err) {
		kgo_timer_free_memory(ut);
		errno = -err;
		return NULL;
	}
	return ut;
}

struct kgo_chan *kgo_timer_chan(struct kgo_timer *t)
{
	return t->c;
}

/* Take @ut out of the heap, and its channel's stale value.  Lock held. */
static bool kgo_timer_stop_locked(struct kgo_timer *ut)
{
	bool was = kgo_heap_has(&ut->t);

	if (was)
		kgo_heap_remove(&ut->t);
	if (ut->c)
		kgo_chan_drain(ut->c);
	return was;
}

static bool timer_stop_in_library(struct kgo_timer *ut)
{
	bool was;

	pthread_mutex_lock(&kgo_tm.lock);
	was = kgo_timer_stop_locked(ut);
	pthread_mutex_unlock(&kgo_tm.lock);
	return was;
}

bool kgo_timer_stop(struct kgo_timer *ut)
{
	bool entered = kgo_enter(true);
	bool r = timer_stop_in_library(ut);

	kgo_leave(entered);
	return r;
}

static bool timer_reset_in_library(struct kgo_timer *ut, uint64_t ns)
{
	bool was;

	pthread_mutex_lock(&kgo_tm.lock);
	was = kgo_timer_stop_locked(ut);
	if (kgo_tm.live) {
		ut->t.when = kgo_deadline(ns);
		kgo_timer_add_locked(&ut->t);	/* its slot is reserved */
	}
	pthread_mutex_unlock(&kgo_tm.lock);
	return was;
}

bool kgo_timer_reset(struct kgo_timer *ut, uint64_t ns)
{
	bool entered = kgo_enter(true);
	bool r = timer_reset_in_library(ut, ns);

	kgo_leave(entered);
	return r;
}

/* Take @ut out of the heap for good; its memory is the caller's to free. */
void kgo_timer_unqueue(struct kgo_timer *ut)
{
	if (!ut)
		return;
	pthread_mutex_lock(&kgo_tm.lock);
	if (kgo_heap_has(&ut->t))
		kgo_heap_remove(&ut->t);
	kgo_tm.nuser--;
	pthread_mutex_unlock(&kgo_tm.lock);
}

void kgo_timer_free(struct kgo_timer *ut)
{
	bool entered = kgo_enter(true);

	kgo_timer_unqueue(ut);
	kgo_leave(entered);
	kgo_timer_free_memory(ut);
}
