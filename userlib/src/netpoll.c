/* SPDX-License-Identifier: MIT */
/*
 * The poller thread, the fd table, and waiting for an fd (Go's netpoll and
 * fdMutex): kgo_wait_fd and what netio.c's calls build on.
 *
 * The poller is one thread per kgo_main (not an M: it holds no P and runs
 * no goroutine).  It blocks in epoll_wait on three kinds of fd: an eventfd
 * that only says "stop", the timer heap's timerfd (timer.c), and the fds
 * goroutines wait on.  It readies the goroutines whose fd became ready or
 * whose deadline passed with kgo_ready, which from a thread that is not an
 * M goes through KGO_IOC_READY: the global run queue, plus a wakep in the
 * module that wakes an M asleep in PARK if a P is idle.  So an M never
 * needs a timeout in PARK: when every goroutine sleeps or waits for I/O,
 * every M sleeps in the kernel and the poller sleeps in epoll_wait.
 *
 * Each fd number has a descriptor (struct kgo_pd) in a two-level table,
 * made on first use and kept until kgo_main returns: a spinlock and the
 * lists of goroutines waiting to read and to write, as records on their
 * stacks.  Registration is one-shot: a goroutine whose system call said
 * EAGAIN parks, and the park's unlock function (on g0, the goroutine
 * already committed as waiting) queues it and arms the fd with
 * EPOLLONESHOT for what its waiters want (EPOLL_CTL_ADD the first time
 * and after a close, MOD after that).  epoll checks readiness when arming, so data
 * that arrived between the EAGAIN and the arming is not missed.  The
 * poller, on an event, takes the waiters it satisfies, re-arms for the
 * others, and readies the ones it took; they retry their system call and
 * park again if someone else consumed the readiness first.  Because an fd
 * is armed only while someone waits, a plain close(2) of an idle fd leaves
 * nothing stale behind.
 *
 * Deadlines.  A waiter with a deadline puts a timer record (on its stack)
 * in the timer heap before it parks; when it expires, the poller, holding
 * the heap's lock, takes the descriptor's lock and unlinks the waiter if
 * it is still queued (kgo_pw_expire).  A waiter that has not queued yet
 * finds its expired flag when it tries to, and does not park.  Whatever
 * woke it, the waiter takes its timer out of the heap before it returns.
 *
 * Calls in flight (Go's fdMutex).  Every kgo_ I/O call holds a reference
 * on the descriptor (refs) from before its first system call to after its
 * last.  kgo_close wakes the waiters, and if calls are in flight only
 * marks the descriptor closing: new calls and new waits fail with EBADF,
 * and the last call to drop its reference does the close(2).  So the fd
 * number stays open, and cannot be reused by another open, while any of
 * these calls may still use it.
 *
 * The close(2) itself may block (a socket that lingers, a file on a slow
 * or remote file system), so it is never made under pd's lock, which the
 * poller spins on (an event, a waiter's deadline), nor in the library's
 * state (syscall.h): whoever closes marks the descriptor sysclose under
 * the lock, closes without it, and clears the mark after.  The number may
 * be reused by another open as soon as close(2) starts, so meanwhile it
 * names either file: a call that finds sysclose (kgo_fd_acquire, a second
 * kgo_close) waits on the descriptor's cq until the mark is cleared, and
 * then goes on with whatever the number names by then.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "block.h"
#include "syscall.h"

#define KGO_PD_CHUNK	256u		/* descriptors per table chunk */
#define KGO_PD_CHUNKS	4096u		/* so fds below 1,048,576 */
#define KGO_NP_EVENTS	128

/* epoll_event.data.u64 of the two special fds; else a struct kgo_pd *. */
#define KGO_NP_TAG_WAKE		0
#define KGO_NP_TAG_TIMER	1

struct kgo_pd;

/* A goroutine waiting for an fd; everything but g under pd->lock. */
struct kgo_pwait {
	struct kgo_g *g;
	struct kgo_pwait *next;
	struct kgo_pd *pd;
	int mode;		/* KGO_WAIT_READ or KGO_WAIT_WRITE */
	bool queued;		/* on pd's rq or wq */
	bool expired;		/* the deadline passed */
	int result;		/* 0, -EBADF (kgo_close) or -ETIMEDOUT */
	struct kgo_tmr t;	/* the deadline's timer */
};

struct kgo_pd {
	uint32_t lock;
	int fd;
	bool added;			/* a hint: in the epoll set (maybe stale) */
	bool closing;			/* kgo_close waits for refs to drop */
	bool sysclose;			/* a close(2) of fd is under way, unlocked */
	uint32_t refs;			/* kgo_ I/O calls in flight */
	struct kgo_pwait *rq, *wq;	/* waiting to read, to write */
	struct kgo_pwait *cq;		/* waiting for sysclose to clear */
};

static struct {
	int epfd, wakefd;
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	_Atomic(struct kgo_pd *) *dir;	/* KGO_PD_CHUNKS chunk pointers */
} kgo_np = { .epfd = -1, .wakefd = -1 };

/* ---- descriptors ---- */

/* @fd's descriptor, made if @create; NULL if none or fd out of range. */
static struct kgo_pd *kgo_pd_get(int fd, bool create)
{
	_Atomic(struct kgo_pd *) *slot;
	struct kgo_pd *chunk, *mine;

	if (fd < 0 || (unsigned int)fd >= KGO_PD_CHUNK * KGO_PD_CHUNKS || !kgo_np.dir)
		return NULL;
	slot = &kgo_np.dir[(unsigned int)fd / KGO_PD_CHUNK];
	/* Acquire: pairs with the release that published the chunk. */
	chunk = atomic_load_explicit(slot, memory_order_acquire);
	if (!chunk && create) {
		/* Not calloc: this runs with a P held (rawmem.c says why). */
		mine = kgo_rawmem_alloc(KGO_PD_CHUNK * sizeof(*mine));
		if (!mine)
			return NULL;
		for (unsigned int i = 0; i < KGO_PD_CHUNK; i++)
			mine[i].fd = (int)((unsigned int)fd / KGO_PD_CHUNK * KGO_PD_CHUNK + i);
		if (atomic_compare_exchange_strong_explicit(slot, &chunk, mine,
							    memory_order_acq_rel,
							    memory_order_acquire))
			chunk = mine;
		else
			/* another thread's chunk is in chunk now */
			kgo_rawmem_free(mine, KGO_PD_CHUNK * sizeof(*mine));
	}
	return chunk ? &chunk[(unsigned int)fd % KGO_PD_CHUNK] : NULL;
}

/* epoll_ctl that returns -errno (on g0 or the poller; no switch here). */
static int kgo_epoll_ctl(int op, int fd, struct epoll_event *ev)
{
	return epoll_ctl(kgo_np.epfd, op, fd, ev) ? -errno : 0;
}

/* Arm @pd one-shot for what its waiters want.  pd locked. */
static int kgo_pd_arm_locked(struct kgo_pd *pd)
{
	struct epoll_event ev = { .events = EPOLLONESHOT, .data.ptr = pd };
	int err;

	if (pd->rq)
		ev.events |= EPOLLIN | EPOLLRDHUP;
	if (pd->wq)
		ev.events |= EPOLLOUT;
	if (!pd->rq && !pd->wq)
		return 0;
	/*
	 * MOD if we added the fd before, else ADD; either falls back to the
	 * other, as the hint is stale after a plain close() and reuse of the
	 * fd number (MOD: ENOENT), or after a kgo_close (ADD: fine).
	 */
	if (pd->added) {
		err = kgo_epoll_ctl(EPOLL_CTL_MOD, pd->fd, &ev);
		if (err == -ENOENT)
			err = kgo_epoll_ctl(EPOLL_CTL_ADD, pd->fd, &ev);
	} else {
		err = kgo_epoll_ctl(EPOLL_CTL_ADD, pd->fd, &ev);
		if (err == -EEXIST)
			err = kgo_epoll_ctl(EPOLL_CTL_MOD, pd->fd, &ev);
	}
	pd->added = !err;
	return err;
}

/* Append list @l to list *@to; its records are no longer queued. */
static void kgo_pw_splice(struct kgo_pwait **to, struct kgo_pwait *l)
{
	for (struct kgo_pwait *w = l; w; w = w->next)
		w->queued = false;
	while (*to)
		to = &(*to)->next;
	*to = l;
}

/*
 * The goroutines one epoll_wait readied, kept by the poller and readied
 * together (kgo_ready_many: one ioctl for them all).
 */
struct kgo_np_batch {
	struct kgo_g *g[KGO_NP_EVENTS];
	int n;
};

static void kgo_np_flush(struct kgo_np_batch *b)
{
	kgo_ready_many(b->g, b->n);
	b->n = 0;
}

/* Add every goroutine on list @w to @b (which is flushed when full). */
static void kgo_pw_collect(struct kgo_pwait *w, struct kgo_np_batch *b)
{
	while (w) {
		/* Both read before it is readied: then the record may be gone. */
		struct kgo_pwait *next = w->next;

		if (b->n == KGO_NP_EVENTS)
			kgo_np_flush(b);
		b->g[b->n++] = w->g;
		w = next;
	}
}

/* Ready every goroutine on list @w. */
static void kgo_pw_ready(struct kgo_pwait *w)
{
	while (w) {
		/* Both read before kgo_ready: then the record may be gone. */
		struct kgo_pwait *next = w->next;
		struct kgo_g *g = w->g;

		kgo_ready(g);
		w = next;
	}
}

/* The poller: an event on @pd; who it readies goes into @b. */
static void kgo_pd_event(struct kgo_pd *pd, uint32_t events, struct kgo_np_batch *b)
{
	struct kgo_pwait *take = NULL;

	kgo_spin_lock(&pd->lock);
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLHUP | EPOLLERR)) {
		kgo_pw_splice(&take, pd->rq);
		pd->rq = NULL;
	}
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
		kgo_pw_splice(&take, pd->wq);
		pd->wq = NULL;
	}
	if (kgo_pd_arm_locked(pd)) {
		/* Cannot wait any more (closed behind our back?): let them
		 * retry, and their system call say what is wrong. */
		kgo_pw_splice(&take, pd->rq);
		kgo_pw_splice(&take, pd->wq);
		pd->rq = pd->wq = NULL;
	}
	kgo_spin_unlock(&pd->lock);
	kgo_pw_collect(take, b);
}

/* ---- the poller thread ---- */

static void *kgo_poller(void *arg)
{
	struct epoll_event evs[KGO_NP_EVENTS];
	struct kgo_np_batch batch = { .n = 0 };

	(void)arg;
	while (!atomic_load_explicit(&kgo_np.stop, memory_order_acquire)) {
		int n = epoll_wait(kgo_np.epfd, evs, KGO_NP_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			kgo_fatal("epoll_wait failed: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;

			if (tag == KGO_NP_TAG_WAKE) {
				uint64_t v;

				if (read(kgo_np.wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					kgo_fatal("read of the poller's eventfd failed: %s",
						  strerror(errno));
			} else if (tag == KGO_NP_TAG_TIMER) {
				kgo_timers_run();
			} else {
				kgo_pd_event(evs[i].data.ptr, evs[i].events, &batch);
			}
		}
		kgo_np_flush(&batch);
	}
	return NULL;
}

/* Undoes kgo_poller_start, however far it got.  No M runs any more. */
void kgo_poller_stop(void)
{
	if (kgo_np.started) {
		uint64_t one = 1;

		atomic_store_explicit(&kgo_np.stop, true, memory_order_release);
		if (write(kgo_np.wakefd, &one, sizeof(one)) != sizeof(one))
			kgo_fatal("cannot wake the poller: %s", strerror(errno));
		pthread_join(kgo_np.thread, NULL);
		kgo_np.started = false;
	}
	kgo_timers_fini();
	if (kgo_np.wakefd >= 0)
		close(kgo_np.wakefd);
	if (kgo_np.epfd >= 0)
		close(kgo_np.epfd);
	kgo_np.wakefd = kgo_np.epfd = -1;
	if (kgo_np.dir) {
		for (unsigned int i = 0; i < KGO_PD_CHUNKS; i++)
			kgo_rawmem_free(atomic_load_explicit(&kgo_np.dir[i], memory_order_relaxed),
					KGO_PD_CHUNK * sizeof(struct kgo_pd));
		free(kgo_np.dir);
		kgo_np.dir = NULL;
	}
	atomic_store(&kgo_np.stop, false);
}

/*
 * A fork's child: the poller thread is gone; its epoll set and eventfd
 * are copies shared with the parent's poller, so close them; the fd
 * table (waiters of the parent's goroutines) is leaked, and with no
 * table the I/O calls wait in poll(2) until the child's own kgo_main.
 */
void kgo_poller_forget_after_fork(void)
{
	if (kgo_np.epfd >= 0)
		close(kgo_np.epfd);
	if (kgo_np.wakefd >= 0)
		close(kgo_np.wakefd);
	kgo_np.epfd = kgo_np.wakefd = -1;
	kgo_np.started = false;
	kgo_np.dir = NULL;
	atomic_store(&kgo_np.stop, false);
}

/* The poller and the timer heap, before any goroutine runs.  0 or -errno. */
int kgo_poller_start(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = KGO_NP_TAG_WAKE };
	int err;

	kgo_np.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (kgo_np.epfd < 0)
		return -errno;
	kgo_np.wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (kgo_np.wakefd < 0)
		return -errno;
	if (epoll_ctl(kgo_np.epfd, EPOLL_CTL_ADD, kgo_np.wakefd, &ev))
		return -errno;
	kgo_np.dir = malloc(KGO_PD_CHUNKS * sizeof(*kgo_np.dir));
	if (!kgo_np.dir)
		return -ENOMEM;
	for (unsigned int i = 0; i < KGO_PD_CHUNKS; i++)
		atomic_init(&kgo_np.dir[i], NULL);
	err = kgo_timers_init(kgo_np.epfd, KGO_NP_TAG_TIMER);
	if (err)
		return err;
	/* The poller takes no signals: they go to the program's threads. */
	err = kgo_thread_start(&kgo_np.thread, kgo_poller, NULL, KGO_THREAD_NO_SIGNALS);
	if (err)
		return err;
	kgo_np.started = true;
	return 0;
}

/* ---- waiting for an fd ---- */

struct kgo_pwarg {
	struct kgo_pwait *w;
	int err;
};

static struct kgo_pwait **kgo_pw_queue(struct kgo_pwait *w)
{
	return w->mode == KGO_WAIT_READ ? &w->pd->rq : &w->pd->wq;
}

/*
 * kgo_park's unlock function: queue the waiter and arm the fd.  If the fd
 * is being closed, the deadline passed already, or arming fails, the
 * goroutine does not sleep (returns false) and gets the error.  Nothing
 * of *a is touched after pd is unlocked: from then on the poller, a close
 * or the deadline may ready the goroutine.
 */
static bool kgo_pd_parkarm(void *arg)
{
	struct kgo_pwarg *a = arg;
	struct kgo_pwait *w = a->w, **q = kgo_pw_queue(w);
	struct kgo_pd *pd = w->pd;
	int err = 0;

	kgo_spin_lock(&pd->lock);
	if (pd->closing)
		err = -EBADF;
	else if (w->expired)
		err = -ETIMEDOUT;
	if (!err) {
		w->next = *q;
		*q = w;
		w->queued = true;
		err = kgo_pd_arm_locked(pd);
		if (err) {
			*q = w->next;
			w->queued = false;
		}
	}
	if (err) {
		a->err = err;
		kgo_spin_unlock(&pd->lock);
		return false;
	}
	kgo_spin_unlock(&pd->lock);
	return true;
}

/* A waiter's deadline passed (poller, heap lock held; block.h). */
static struct kgo_g *kgo_pw_expire(struct kgo_tmr *t)
{
	struct kgo_pwait *w = (struct kgo_pwait *)((char *)t - offsetof(struct kgo_pwait, t));
	struct kgo_pd *pd = w->pd;
	struct kgo_g *g = NULL;

	kgo_spin_lock(&pd->lock);
	w->expired = true;
	if (w->queued) {
		struct kgo_pwait **q = kgo_pw_queue(w);

		while (*q != w)
			q = &(*q)->next;
		*q = w->next;
		w->queued = false;
		w->result = -ETIMEDOUT;
		g = w->g;
	}
	/* The fd stays armed for the others; an event for nobody is harmless. */
	kgo_spin_unlock(&pd->lock);
	return g;
}

/* Outside a goroutine (or past the table): wait in poll(2). */
static __attribute__((noinline)) int kgo_poll_wait(int fd, int mode, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = mode == KGO_WAIT_READ ? POLLIN : POLLOUT };

	for (;;) {
		int ms = -1, r;

		if (deadline) {
			uint64_t now = kgo_now();

			if (now >= deadline)
				return -ETIMEDOUT;
			/* Rounded up: poll never wakes before the deadline. */
			ms = (deadline - now + 999999) / 1000000 > INT_MAX ? INT_MAX :
			     (int)((deadline - now + 999999) / 1000000);
		}
		r = poll(&p, 1, ms);
		if (r > 0)
			return 0;	/* even POLLNVAL: the retried call reports EBADF */
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int kgo_fd_wait(int fd, int mode, uint64_t deadline)
{
	struct kgo_pwait w = { 0 };
	struct kgo_pwarg a = { &w, 0 };
	int err;

	w.g = kgo_self();
	w.pd = w.g ? kgo_pd_get(fd, true) : NULL;
	if (!w.pd)
		return kgo_poll_wait(fd, mode, deadline == KGO_DL_CTX ? 0 : deadline);
	w.mode = mode;
	if (deadline) {
		err = kgo_wait_begin(&w.t, deadline, kgo_pw_expire);
		if (err)
			return err;
	}
	kgo_park(kgo_pd_parkarm, &a);
	if (!deadline)
		return a.err ? a.err : w.result;
	kgo_wait_end(&w.t);
	err = a.err ? a.err : w.result;
	/* Ended by the deadline or by the context's cancel: say which. */
	return err == -ETIMEDOUT ? kgo_wait_err(&w.t) : err;
}

/* ---- calls in flight ---- */

/*
 * kgo_park's unlock function for a call that found a close(2) under way:
 * queue on cq unless it is over already (then do not sleep).  pd locked
 * on entry (the caller's kgo_pd_wait_sysclose), unlocked on return.
 */
static bool kgo_pd_parkclose(void *arg)
{
	struct kgo_pwait *w = arg;
	struct kgo_pd *pd = w->pd;

	if (!pd->sysclose) {
		kgo_spin_unlock(&pd->lock);
		return false;
	}
	w->next = pd->cq;
	pd->cq = w;
	kgo_spin_unlock(&pd->lock);
	return true;
}

/*
 * Wait until no close(2) of pd's fd is under way.  pd locked on entry and
 * on return; dropped while waiting.  A goroutine (or a foreign thread's
 * stand-in) parks; the closer readies it.
 */
static void kgo_pd_wait_sysclose(struct kgo_pd *pd)
{
	while (pd->sysclose) {
		struct kgo_pwait w = { .pd = pd };

		w.g = kgo_self_or_die("a kgo_ I/O call");
		kgo_park(kgo_pd_parkclose, &w);
		kgo_spin_lock(&pd->lock);
	}
}

/* close(2) @fd, in state G if @entered. */
static __attribute__((noinline)) int kgo_sys_close(bool entered, int fd)
{
	int r;

	kgo_entersyscall(entered);
	r = close(fd) ? -errno : 0;
	kgo_exitsyscall(entered);
	return r;
}

/*
 * close(2) @pd's fd, which the caller marked sysclose under pd's lock (so
 * nobody else uses pd's fd meanwhile): without the lock and, if
 * @entered, in state G.  Then clear the mark and ready who waited for it.
 */
static int kgo_pd_sysclose(struct kgo_pd *pd, bool entered)
{
	int r = kgo_sys_close(entered, pd->fd);
	struct kgo_pwait *waiters;

	kgo_spin_lock(&pd->lock);
	pd->sysclose = false;
	pd->added = false;	/* closing removed it from the epoll set */
	waiters = pd->cq;
	pd->cq = NULL;
	kgo_spin_unlock(&pd->lock);
	kgo_pw_ready(waiters);
	return r;
}

struct kgo_pd *kgo_fd_acquire(int fd, int *err)
{
	struct kgo_pd *pd = kgo_pd_get(fd, true);
	bool closing;

	*err = 0;
	if (!pd)
		return NULL;	/* no table (outside kgo_main), a huge fd, ENOMEM */
	kgo_spin_lock(&pd->lock);
	kgo_pd_wait_sysclose(pd);
	closing = pd->closing;
	if (!closing)
		pd->refs++;
	kgo_spin_unlock(&pd->lock);
	if (closing) {
		*err = -EBADF;
		return NULL;
	}
	return pd;
}

void kgo_fd_release(struct kgo_pd *pd, bool entered)
{
	bool last;

	if (!pd)
		return;
	kgo_spin_lock(&pd->lock);
	/* The last call in flight on a kgo_close()d fd closes it. */
	last = --pd->refs == 0 && pd->closing;
	if (last) {
		pd->closing = false;
		pd->sysclose = true;
	}
	kgo_spin_unlock(&pd->lock);
	if (last)
		(void)kgo_pd_sysclose(pd, entered);
}

int kgo_fd_close(int fd, bool entered)
{
	struct kgo_pd *pd = kgo_pd_get(fd, false);
	struct kgo_pwait *take = NULL, *w;
	bool now;

	if (!pd)
		return kgo_sys_close(entered, fd);
	/* Under pd's lock, so that no waiter arms the fd meanwhile. */
	kgo_spin_lock(&pd->lock);
	kgo_pd_wait_sysclose(pd);
	if (pd->closing) {
		kgo_spin_unlock(&pd->lock);
		return -EBADF;
	}
	kgo_pw_splice(&take, pd->rq);
	kgo_pw_splice(&take, pd->wq);
	pd->rq = pd->wq = NULL;
	for (w = take; w; w = w->next)
		w->result = -EBADF;
	if (take)
		kgo_epoll_ctl(EPOLL_CTL_DEL, fd, NULL);
	/* Calls in flight (the waiters among them): the last one closes it. */
	now = !pd->refs;
	if (now)
		pd->sysclose = true;
	else
		pd->closing = true;
	kgo_spin_unlock(&pd->lock);
	kgo_pw_ready(take);
	return now ? kgo_pd_sysclose(pd, entered) : 0;
}
