/*
 * The poller thread, and network I/O on it (Go's netpoll): kgo_read,
 * kgo_write, kgo_accept, kgo_connect, kgo_close.
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

#define KGO_PD_CHUNK	256u		/* descriptors per table chunk */
#define KGO_PD_CHUNKS	4096u		/* so fds below 1,048,576 */
#define KGO_NP_EVENTS	128

/* epoll_event.data.u64 of the two special fds; else a struct kgo_pd *. */
#define KGO_NP_TAG_WAKE		0
#define KGO_NP_TAG_TIMER	1

enum { KGO_WAIT_READ, KGO_WAIT_WRITE };

struct kgo_pwait {
	struct kgo_g *g;
	struct kgo_pwait *next;
	bool closed;		/* woken by kgo_close */
};

struct kgo_pd {
	uint32_t lock;
	int fd;
	bool added;			/* a hint: in the epoll set (maybe stale) */
	struct kgo_pwait *rq, *wq;	/* waiting to read, to write */
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
		mine = calloc(KGO_PD_CHUNK, sizeof(*mine));
		if (!mine)
			return NULL;
		for (unsigned int i = 0; i < KGO_PD_CHUNK; i++)
			mine[i].fd = (int)((unsigned int)fd / KGO_PD_CHUNK * KGO_PD_CHUNK + i);
		if (atomic_compare_exchange_strong_explicit(slot, &chunk, mine,
							    memory_order_acq_rel,
							    memory_order_acquire))
			chunk = mine;
		else
			free(mine);	/* another thread's chunk is in chunk now */
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

/* Append list @l to list *@to. */
static void kgo_pw_splice(struct kgo_pwait **to, struct kgo_pwait *l)
{
	while (*to)
		to = &(*to)->next;
	*to = l;
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

/* The poller: an event on @pd. */
static void kgo_pd_event(struct kgo_pd *pd, uint32_t events)
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
	kgo_pw_ready(take);
}

/* ---- the poller thread ---- */

static void *kgo_poller(void *arg)
{
	struct epoll_event evs[KGO_NP_EVENTS];

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
				kgo_pd_event(evs[i].data.ptr, evs[i].events);
			}
		}
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
			free(atomic_load_explicit(&kgo_np.dir[i], memory_order_relaxed));
		free(kgo_np.dir);
		kgo_np.dir = NULL;
	}
	atomic_store(&kgo_np.stop, false);
}

/* The poller and the timer heap, before any goroutine runs.  0 or -errno. */
int kgo_poller_start(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = KGO_NP_TAG_WAKE };
	sigset_t all, old;
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
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&kgo_np.thread, NULL, kgo_poller, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return err;
	kgo_np.started = true;
	return 0;
}

/* ---- waiting for an fd ---- */

struct kgo_pwarg {
	struct kgo_pd *pd;
	struct kgo_pwait *w;
	int mode;
	int err;
};

/*
 * kgo_park's unlock function: queue the waiter and arm the fd.  If arming
 * fails the goroutine does not sleep (returns false) and gets the error.
 * Nothing of *a is touched after pd is unlocked: the poller may ready the
 * goroutine from then on.
 */
static bool kgo_pd_parkarm(void *arg)
{
	struct kgo_pwarg *a = arg;
	struct kgo_pd *pd = a->pd;
	struct kgo_pwait *w = a->w, **q;
	int err;

	kgo_spin_lock(&pd->lock);
	q = a->mode == KGO_WAIT_READ ? &pd->rq : &pd->wq;
	w->next = *q;
	*q = w;
	err = kgo_pd_arm_locked(pd);
	if (err) {
		*q = w->next;
		a->err = err;
		kgo_spin_unlock(&pd->lock);
		return false;
	}
	kgo_spin_unlock(&pd->lock);
	return true;
}

/* Outside a goroutine (or past the table): wait in poll(2). */
static __attribute__((noinline)) int kgo_poll_wait(int fd, int mode)
{
	struct pollfd p = { .fd = fd, .events = mode == KGO_WAIT_READ ? POLLIN : POLLOUT };

	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;	/* even POLLNVAL: the retried call reports EBADF */
}

/*
 * kgo_fd_wait - block until @fd may be ready for @mode.  0 (retry the
 * system call), -EBADF if kgo_close closed it, or -errno if epoll cannot
 * wait for it (EPERM: a regular file, which is always ready anyway).
 */
static int kgo_fd_wait(int fd, int mode)
{
	struct kgo_pwait w = { 0 };
	struct kgo_pwarg a;
	struct kgo_pd *pd;

	w.g = kgo_self();
	pd = w.g ? kgo_pd_get(fd, true) : NULL;
	if (!pd)
		return kgo_poll_wait(fd, mode);
	a.pd = pd;
	a.w = &w;
	a.mode = mode;
	a.err = 0;
	kgo_park(kgo_pd_parkarm, &a);
	if (a.err)
		return a.err;
	return w.closed ? -EBADF : 0;
}

/* ---- the system calls, each in a frame that cannot span a switch ---- */

static __attribute__((noinline)) ssize_t kgo_sys_read(int fd, void *buf, size_t n)
{
	ssize_t r = read(fd, buf, n);

	return r < 0 ? -errno : r;
}

static __attribute__((noinline)) ssize_t kgo_sys_write(int fd, const void *buf, size_t n)
{
	ssize_t r = write(fd, buf, n);

	return r < 0 ? -errno : r;
}

static __attribute__((noinline)) int kgo_sys_accept(int fd, struct sockaddr *addr,
						     socklen_t *len, int flags)
{
	int r = accept4(fd, addr, len, flags);

	return r < 0 ? -errno : r;
}

static __attribute__((noinline)) int kgo_sys_connect(int fd, const struct sockaddr *addr,
						      socklen_t len)
{
	return connect(fd, addr, len) ? -errno : 0;
}

/* The socket's pending error (positive errno, 0 if none), or -errno. */
static __attribute__((noinline)) int kgo_sys_soerror(int fd)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len))
		return -errno;
	return soerr;
}

static __attribute__((noinline)) int kgo_sys_connected(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	return getpeername(fd, (struct sockaddr *)&ss, &len) ? -errno : 0;
}

static __attribute__((noinline)) int kgo_sys_close(int fd)
{
	return close(fd) ? -errno : 0;
}

/* ---- the public calls ---- */

static ssize_t read_in_library(int fd, void *buf, size_t n)
{
	for (;;) {
		ssize_t r = kgo_sys_read(fd, buf, n);
		int err;

		if (r >= 0 || (r != -EAGAIN && r != -EINTR))
			return r;
		if (r == -EAGAIN) {
			err = kgo_fd_wait(fd, KGO_WAIT_READ);
			if (err)
				return err;
		}
	}
}

ssize_t kgo_read(int fd, void *buf, size_t n)
{
	bool entered = kgo_enter(true);
	ssize_t r = read_in_library(fd, buf, n);

	kgo_leave(entered);
	return r;
}

static ssize_t write_in_library(int fd, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	size_t done = 0;

	if (n > SSIZE_MAX)
		return -EINVAL;
	if (n == 0)
		return kgo_sys_write(fd, buf, 0);
	while (done < n) {
		ssize_t r = kgo_sys_write(fd, p + done, n - done);

		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN) {
			int err = kgo_fd_wait(fd, KGO_WAIT_WRITE);

			if (!err)
				continue;
			r = err;
		}
		if (r == 0)
			break;		/* no progress and no error: give up */
		return done ? (ssize_t)done : r;
	}
	return (ssize_t)done;
}

ssize_t kgo_write(int fd, const void *buf, size_t n)
{
	bool entered = kgo_enter(true);
	ssize_t r = write_in_library(fd, buf, n);

	kgo_leave(entered);
	return r;
}

static int accept_in_library(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	socklen_t len = addrlen ? *addrlen : 0;

	for (;;) {
		int r;

		if (addrlen)
			*addrlen = len;
		r = kgo_sys_accept(fd, addr, addrlen, flags | SOCK_NONBLOCK);
		if (r >= 0 || (r != -EAGAIN && r != -EINTR && r != -ECONNABORTED))
			return r;
		if (r == -EAGAIN) {
			int err = kgo_fd_wait(fd, KGO_WAIT_READ);

			if (err)
				return err;
		}
	}
}

int kgo_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	bool entered = kgo_enter(true);
	int r = accept_in_library(fd, addr, addrlen, flags);

	kgo_leave(entered);
	return r;
}

static int connect_in_library(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	int r;

	for (;;) {
		r = kgo_sys_connect(fd, addr, addrlen);
		if (r != -EAGAIN)
			break;
		/* A Unix socket's full backlog: try again shortly. */
		if (kgo_self()) {
			kgo_sleep(1000000);
		} else {
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
		}
	}
	if (r != -EINPROGRESS && r != -EINTR && r != -EALREADY)
		return r;
	/* In progress: it is done when the socket becomes writable. */
	for (;;) {
		int err = kgo_fd_wait(fd, KGO_WAIT_WRITE);

		if (err)
			return err;
		err = kgo_sys_soerror(fd);
		if (err < 0)
			return err;
		if (err == EINPROGRESS || err == EALREADY || err == EINTR)
			continue;
		if (err)
			return -err;
		/* No error may also mean "not yet" after a spurious wakeup. */
		err = kgo_sys_connected(fd);
		if (err != -ENOTCONN)
			return err;
	}
}

int kgo_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	bool entered = kgo_enter(true);
	int r = connect_in_library(fd, addr, addrlen);

	kgo_leave(entered);
	return r;
}

static int close_in_library(int fd)
{
	struct kgo_pd *pd = kgo_pd_get(fd, false);
	struct kgo_pwait *take = NULL, *w;
	int r;

	if (!pd)
		return kgo_sys_close(fd);
	/* Under pd's lock, so that no waiter arms the fd meanwhile. */
	kgo_spin_lock(&pd->lock);
	kgo_pw_splice(&take, pd->rq);
	kgo_pw_splice(&take, pd->wq);
	pd->rq = pd->wq = NULL;
	for (w = take; w; w = w->next)
		w->closed = true;
	if (take)
		kgo_epoll_ctl(EPOLL_CTL_DEL, fd, NULL);
	pd->added = false;	/* closing removes it from the epoll set */
	r = kgo_sys_close(fd);
	kgo_spin_unlock(&pd->lock);
	kgo_pw_ready(take);
	return r;
}

int kgo_close(int fd)
{
	bool entered = kgo_enter(true);
	int r = close_in_library(fd);

	kgo_leave(entered);
	return r;
}
