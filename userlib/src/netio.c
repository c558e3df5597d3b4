/* SPDX-License-Identifier: MIT */
/*
 * Network I/O on the poller (netpoll.c): kgo_read, kgo_write, kgo_accept,
 * kgo_connect and their deadline forms, kgo_close, kgo_wait_fd, kgo_fd_io.
 *
 * Each call holds a reference on the fd's descriptor for as long as it
 * may make system calls on the fd (kgo_fd_acquire/release), so that a
 * kgo_close meanwhile defers the close(2) until the call is done and the
 * fd number cannot be reused under it.  A system call that says EAGAIN
 * parks the goroutine in kgo_fd_wait until epoll reports the fd ready (or
 * the deadline passes, or kgo_close wakes it), then runs again.
 *
 * The bookkeeping runs in the library; each system call on the fd (and
 * kgo_fd_io's op, the caller's own code) runs in state G between
 * kgo_entersyscall and kgo_exitsyscall (syscall.h), with no lock held: a
 * blocking fd, or a regular file (which never says EAGAIN), may block in
 * it, and sysmon then hands the P to another M meanwhile.  @entered, in
 * every function below, is what the public call's kgo_enter returned.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "block.h"
#include "syscall.h"

/*
 * ---- the system calls ----
 * Each in a frame of its own that reads errno in state G right after the
 * call, before kgo_exitsyscall (which may switch), and never across it.
 */

static __attribute__((noinline)) ssize_t kgo_sys_read(bool entered, int fd, void *buf, size_t n)
{
	ssize_t r;

	kgo_entersyscall(entered);
	r = read(fd, buf, n);
	if (r < 0)
		r = -errno;
	kgo_exitsyscall(entered);
	return r;
}

static __attribute__((noinline)) ssize_t kgo_sys_write(bool entered, int fd, const void *buf,
						       size_t n)
{
	ssize_t r;

	kgo_entersyscall(entered);
	r = write(fd, buf, n);
	if (r < 0)
		r = -errno;
	kgo_exitsyscall(entered);
	return r;
}

static __attribute__((noinline)) int kgo_sys_accept(bool entered, int fd, struct sockaddr *addr,
						     socklen_t *len, int flags)
{
	int r;

	kgo_entersyscall(entered);
	r = accept4(fd, addr, len, flags);
	if (r < 0)
		r = -errno;
	kgo_exitsyscall(entered);
	return r;
}

static __attribute__((noinline)) int kgo_sys_connect(bool entered, int fd,
						      const struct sockaddr *addr, socklen_t len)
{
	int r;

	kgo_entersyscall(entered);
	r = connect(fd, addr, len) ? -errno : 0;
	kgo_exitsyscall(entered);
	return r;
}

/*
 * The socket's pending error (positive errno, 0 if none), or -errno.
 * This and kgo_sys_connected never block: they stay in the library.
 */
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

/* kgo_fd_io's op: the caller's code, run as the caller's (state G). */
static __attribute__((noinline)) ssize_t kgo_call_op(bool entered, int fd,
						     ssize_t (*op)(int fd, void *arg), void *arg)
{
	ssize_t r;

	kgo_entersyscall(entered);
	r = op(fd, arg);
	kgo_exitsyscall(entered);
	return r;
}

/* ---- the public calls ---- */

static ssize_t read_in_library(bool entered, int fd, void *buf, size_t n, uint64_t deadline)
{
	for (;;) {
		ssize_t r = kgo_sys_read(entered, fd, buf, n);
		int err;

		if (r >= 0 || (r != -EAGAIN && r != -EINTR))
			return r;
		if (r == -EAGAIN) {
			err = kgo_fd_wait(fd, KGO_WAIT_READ, deadline);
			if (err)
				return err;
		}
	}
}

ssize_t kgo_read_deadline(int fd, void *buf, size_t n, uint64_t deadline)
{
	bool entered = kgo_enter(true);
	int err;
	struct kgo_pd *pd = kgo_fd_acquire(fd, &err);
	ssize_t r = err ? err : read_in_library(entered, fd, buf, n,
						deadline ? deadline : KGO_DL_CTX);

	kgo_fd_release(pd, entered);
	kgo_leave(entered);
	return r;
}

ssize_t kgo_read(int fd, void *buf, size_t n)
{
	bool entered = kgo_enter(true);
	int err;
	struct kgo_pd *pd = kgo_fd_acquire(fd, &err);
	ssize_t r = err ? err : read_in_library(entered, fd, buf, n, 0);

	kgo_fd_release(pd, entered);
	kgo_leave(entered);
	return r;
}

static ssize_t write_in_library(bool entered, int fd, const void *buf, size_t n,
				uint64_t deadline)
{
	const unsigned char *p = buf;
	size_t done = 0;

	if (n > SSIZE_MAX)
		return -EINVAL;
	if (n == 0)
		return kgo_sys_write(entered, fd, buf, 0);
	while (done < n) {
		ssize_t r = kgo_sys_write(entered, fd, p + done, n - done);

		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN) {
			int err = kgo_fd_wait(fd, KGO_WAIT_WRITE, deadline);

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

ssize_t kgo_write_deadline(int fd, const void *buf, size_t n, uint64_t deadline)
{
	bool entered = kgo_enter(true);
	int err;
	struct kgo_pd *pd = kgo_fd_acquire(fd, &err);
	ssize_t r = err ? err : write_in_library(entered, fd, buf, n,
						 deadline ? deadline : KGO_DL_CTX);

	kgo_fd_release(pd, entered);
	kgo_leave(entered);
	return r;
}

ssize_t kgo_write(int fd, const void *buf, size_t n)
{
	bool entered = kgo_enter(true);
	int err;
	struct kgo_pd *pd = kgo_fd_acquire(fd, &err);
	ssize_t r = err ? err : write_in_library(entered, fd, buf, n, 0);

	kgo_fd_release(pd, entered);
	kgo_leave(entered);
	return r;
}

static int accept_in_library(bool entered, int fd, struct sockaddr *addr, socklen_t *addrlen,
			     int flags, uint64_t deadline)
{
	socklen_t len = addrlen ? *addrlen : 0;

	for (;;) {
		int r;

		if (addrlen)
			*addrlen = len;
		r = kgo_sys_accept(entered, fd, addr, addrlen, flags | SOCK_NONBLOCK);
		if (r >= 0 || (r != -EAGAIN && r != -EINTR && r != -ECONNABORTED))
			return r;
		if (r == -EAGAIN) {
			int err = kgo_fd_wait(fd, KGO_WAIT_READ, deadline);

			if (err)
				return err;
		}
	}
}

/* @deadline as the internal argument (block.h: 0, KGO_DL_CTX or a time). */
static int accept_held(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
		       uint64_t deadline)
{
	bool entered = kgo_enter(true);
	int err;
	struct kgo_pd *pd = kgo_fd_acquire(fd, &err);
	int r = err ? err : accept_in_library(entered, fd, addr, addrlen, flags, deadline);

	kgo_fd_release(pd, entered);
	kgo_leave(entered);
	return r;
}

int kgo_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	return accept_held(fd, addr, addrlen, flags, 0);
}

int kgo_accept_deadline(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
			uint64_t deadline)
{
	return accept_held(fd, addr, addrlen, flags, deadline ? deadline : KGO_DL_CTX);
}

static int connect_in_library(bool entered, int fd, const struct sockaddr *addr,
			      socklen_t addrlen, uint64_t deadline)
{
	int r;

	for (;;) {
		r = kgo_sys_connect(entered, fd, addr, addrlen);
		if (r != -EAGAIN)
			break;
		/* A Unix socket's full backlog: try again shortly. */
		if (deadline && kgo_now() >= deadline)
			return -ETIMEDOUT;
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
		int err = kgo_fd_wait(fd, KGO_WAIT_WRITE, deadline);

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

static int connect_held(int fd, const struct sockaddr *addr, socklen_t addrlen,
			uint64_t deadline)
{
	bool entered = kgo_enter(true);
	int err;
	struct kgo_pd *pd = kgo_fd_acquire(fd, &err);
	int r = err ? err : connect_in_library(entered, fd, addr, addrlen, deadline);

	kgo_fd_release(pd, entered);
	kgo_leave(entered);
	return r;
}

int kgo_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	return connect_held(fd, addr, addrlen, 0);
}

int kgo_connect_deadline(int fd, const struct sockaddr *addr, socklen_t addrlen,
			 uint64_t deadline)
{
	return connect_held(fd, addr, addrlen, deadline ? deadline : KGO_DL_CTX);
}

/* events: POLLIN or POLLOUT, one of them; the mode, or -1. */
static int kgo_events_mode(short events)
{
	if (events == POLLIN)
		return KGO_WAIT_READ;
	if (events == POLLOUT)
		return KGO_WAIT_WRITE;
	return -1;
}

int kgo_wait_fd(int fd, short events, uint64_t deadline)
{
	int mode = kgo_events_mode(events), err;
	bool entered;
	struct kgo_pd *pd;

	if (mode < 0)
		return -EINVAL;
	entered = kgo_enter(true);
	pd = kgo_fd_acquire(fd, &err);
	if (!err)
		err = kgo_fd_wait(fd, mode, deadline ? deadline : KGO_DL_CTX);
	kgo_fd_release(pd, entered);
	kgo_leave(entered);
	/* epoll refuses regular files and directories, which are always ready. */
	return err == -EPERM ? 0 : err;
}

static ssize_t fd_io_in_library(bool entered, int fd, int mode, uint64_t deadline,
				ssize_t (*op)(int fd, void *arg), void *arg)
{
	for (;;) {
		ssize_t r;
		int err;

		r = kgo_call_op(entered, fd, op, arg);
		if (r != -EAGAIN && r != -EINTR)
			return r;
		if (r == -EAGAIN) {
			err = kgo_fd_wait(fd, mode, deadline);
			if (err)
				return err == -EPERM ? -EAGAIN : err;
		}
	}
}

ssize_t kgo_fd_io(int fd, short events, uint64_t deadline,
		  ssize_t (*op)(int fd, void *arg), void *arg)
{
	int mode = kgo_events_mode(events), err;
	bool entered;
	struct kgo_pd *pd;
	ssize_t r;

	if (mode < 0 || !op)
		return -EINVAL;
	entered = kgo_enter(true);
	pd = kgo_fd_acquire(fd, &err);
	r = err ? err : fd_io_in_library(entered, fd, mode, deadline ? deadline : KGO_DL_CTX,
					 op, arg);
	kgo_fd_release(pd, entered);
	kgo_leave(entered);
	return r;
}

int kgo_close(int fd)
{
	bool entered = kgo_enter(true);
	int r = kgo_fd_close(fd, entered);

	kgo_leave(entered);
	return r;
}
