/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo_wait_fd, kgo_fd_io and the deadline forms of the I/O calls on 2 Ps:
 * a pipe's fd passed over a Unix socket with sendmsg/recvmsg and
 * SCM_RIGHTS, both through kgo_fd_io (the receiver parks first); a wait
 * that times out (not early) and one woken by kgo_close; 200 reads whose
 * deadlines are cancelled by data, outlived without a stray wakeup; and
 * calls in flight: a kgo_close while kgo_fd_io runs on a plain thread
 * defers the close(2), so a new open cannot get the fd number, new calls
 * get -EBADF, and the fd is closed once the call returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <kgo.h>

#include "tap.h"

#define MS	1000000ull

static struct kgo_waitgroup wg;

static void nothing(void *arg)
{
	(void)arg;
}

/* ---- SCM_RIGHTS ---- */

struct fdmsg {
	int sock;
	int fd;		/* send: the fd to pass; recv: the fd received */
};

static ssize_t send_fd(int sock, void *arg)
{
	struct fdmsg *m = arg;
	char byte = 'F', cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	ssize_t r;

	memset(cbuf, 0, sizeof(cbuf));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &m->fd, sizeof(int));
	r = sendmsg(sock, &mh, MSG_DONTWAIT);
	return r < 0 ? -errno : r;
}

static ssize_t recv_fd(int sock, void *arg)
{
	struct fdmsg *m = arg;
	char byte, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t r = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (r < 0)
		return -errno;
	cm = CMSG_FIRSTHDR(&mh);
	if (r != 1 || byte != 'F' || !cm || cm->cmsg_type != SCM_RIGHTS)
		return -EPROTO;
	memcpy(&m->fd, CMSG_DATA(cm), sizeof(int));
	return r;
}

static atomic_int recv_rc = 1, recv_parked;
static char recv_text[16];

static void fd_receiver(void *arg)
{
	struct fdmsg m = { .sock = *(int *)arg, .fd = -1 };
	ssize_t r;

	atomic_store(&recv_parked, 1);
	r = kgo_fd_io(m.sock, POLLIN, 0, recv_fd, &m);
	if (r == 1) {
		/* The passed pipe: read what the sender wrote into it. */
		fcntl(m.fd, F_SETFL, O_NONBLOCK);
		r = kgo_read(m.fd, recv_text, sizeof(recv_text) - 1);
		r = r == 5 ? 0 : -1000;
		close(m.fd);
	}
	atomic_store(&recv_rc, (int)r);
	kgo_waitgroup_done(&wg);
}

static bool scm_rights(void)
{
	int sv[2], p[2];
	struct fdmsg m;
	ssize_t r;
	bool ok = true;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) || pipe(p))
		return TAP_CHECK(false);
	kgo_waitgroup_add(&wg, 1);
	kgo_go(fd_receiver, &sv[1]);
	kgo_sleep(20 * MS);	/* it is parked in kgo_fd_io now */
	ok &= TAP_CHECK(atomic_load(&recv_parked) && atomic_load(&recv_rc) == 1);
	m.sock = sv[0];
	m.fd = p[0];
	r = kgo_fd_io(sv[0], POLLOUT, 0, send_fd, &m);
	ok &= TAP_CHECK(r == 1);
	close(p[0]);		/* the receiver has its own copy */
	ok &= TAP_CHECK(kgo_write(p[1], "hello", 5) == 5);
	kgo_waitgroup_wait(&wg);
	ok &= TAP_CHECK(atomic_load(&recv_rc) == 0 && !strcmp(recv_text, "hello"));
	close(p[1]);
	kgo_close(sv[0]);
	kgo_close(sv[1]);
	return ok;
}

/* ---- timeouts and close ---- */

static atomic_int closed_rc = 1;

static void close_waiter(void *arg)
{
	atomic_store(&closed_rc, kgo_wait_fd(*(int *)arg, POLLIN, kgo_nanotime() + 5000 * MS));
	kgo_waitgroup_done(&wg);
}

/* ---- deadlines cancelled by data ---- */

#define NDW	200
static atomic_int dw_ok, dw_timedout, dw_other;

static void data_waiter(void *arg)
{
	int fd = (int)(intptr_t)arg;
	ssize_t r;
	char c;

	r = kgo_read_deadline(fd, &c, 1, kgo_nanotime() + 500 * MS);
	if (r == 1)
		atomic_fetch_add(&dw_ok, 1);
	else if (r == -ETIMEDOUT)
		atomic_fetch_add(&dw_timedout, 1);
	else
		atomic_fetch_add(&dw_other, 1);
	kgo_waitgroup_done(&wg);
}

static bool deadlines_cancelled(void)
{
	static int fds[NDW][2];
	int made = 0;

	for (; made < NDW; made++)
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds[made]))
			break;
	kgo_waitgroup_add(&wg, made);
	for (int i = 0; i < made; i++)
		kgo_go(data_waiter, (void *)(intptr_t)fds[i][0]);
	kgo_sleep(5 * MS);
	for (int i = 0; i < made; i++)
		kgo_write(fds[i][1], "x", 1);
	kgo_waitgroup_wait(&wg);
	/*
	 * Outlive every deadline: a timer left behind would now ready a
	 * goroutine that is not parked (fatal) or scribble on a dead frame.
	 * Which reads got their byte in time depends on the machine's speed
	 * (under TCG with a debug kernel, not all); each must have ended one
	 * way or the other, and some by their data.
	 */
	kgo_sleep(600 * MS);
	for (int i = 0; i < 100; i++)
		kgo_go(nothing, NULL);	/* reuse the freed Gs and their stacks */
	kgo_sleep(50 * MS);
	for (int i = 0; i < made; i++) {
		kgo_close(fds[i][0]);
		kgo_close(fds[i][1]);
	}
	printf("# %d of %d reads got their byte, %d timed out\n", atomic_load(&dw_ok), made,
	       atomic_load(&dw_timedout));
	return TAP_CHECK(made == NDW) && TAP_CHECK(atomic_load(&dw_other) == 0) &&
	       TAP_CHECK(atomic_load(&dw_ok) + atomic_load(&dw_timedout) == NDW) &&
	       TAP_CHECK(atomic_load(&dw_ok) > 0);
}

/* ---- a close while a call is in flight ---- */

static atomic_int in_op, may_return, fd_open_in_op;

static ssize_t slow_op(int fd, void *arg)
{
	struct timespec ts = { 0, MS };

	(void)arg;
	atomic_store(&in_op, 1);
	for (int i = 0; i < 2000 && !atomic_load(&may_return); i++)
		nanosleep(&ts, NULL);	/* a plain thread may block */
	atomic_store(&fd_open_in_op, fcntl(fd, F_GETFD) != -1);
	return 7;
}

static void *plain_io(void *arg)
{
	return (void *)(intptr_t)kgo_fd_io(*(int *)arg, POLLIN, 0, slow_op, NULL);
}

static bool close_in_flight(void)
{
	int sv[2], nfd, rc, rd;
	char c;
	bool ok = true;
	pthread_t th;
	void *res;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
		return TAP_CHECK(false);
	pthread_create(&th, NULL, plain_io, &sv[0]);
	while (!atomic_load(&in_op))
		kgo_sleep(MS);
	rc = kgo_close(sv[0]);
	nfd = open("/dev/null", O_RDONLY);
	rd = (int)kgo_read(sv[0], &c, 1);
	ok &= TAP_CHECK(rc == 0);
	ok &= TAP_CHECK(nfd >= 0 && nfd != sv[0]);
	ok &= TAP_CHECK(rd == -EBADF);
	ok &= TAP_CHECK(kgo_close(sv[0]) == -EBADF);
	atomic_store(&may_return, 1);
	pthread_join(th, &res);
	ok &= TAP_CHECK((intptr_t)res == 7 && atomic_load(&fd_open_in_op));
	ok &= TAP_CHECK(fcntl(sv[0], F_GETFD) == -1 && errno == EBADF);
	close(nfd);
	close(sv[1]);
	return ok;
}

static void main_g(void *arg)
{
	int sv[2];
	uint64_t t0, took;
	int r1, r2, r3, r4;

	(void)arg;
	tap_ok(scm_rights(), "an fd passed with SCM_RIGHTS through kgo_fd_io (recvmsg parked first)");

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	t0 = kgo_nanotime();
	r1 = kgo_wait_fd(sv[0], POLLIN, t0 + 30 * MS);
	took = kgo_nanotime() - t0;
	r2 = (int)kgo_read_deadline(sv[0], &r3, 1, kgo_nanotime() + 10 * MS);
	r3 = kgo_wait_fd(sv[0], POLLIN, kgo_nanotime() - 1);
	r4 = kgo_wait_fd(sv[0], POLLIN | POLLOUT, 0);
	tap_ok_fmt(r1 == -ETIMEDOUT && took >= 30 * MS && r2 == -ETIMEDOUT && r3 == -ETIMEDOUT &&
		   r4 == -EINVAL,
		   "timeouts: wait_fd %d after %llu ms (>= 30), read %d, past deadline %d; both events %d",
		   r1, (unsigned long long)(took / MS), r2, r3, r4);
	r1 = kgo_wait_fd(sv[1], POLLOUT, kgo_nanotime() + 1000 * MS);
	tap_ok_fmt(r1 == 0, "a writable socket is ready at once (%d)", r1);

	kgo_waitgroup_add(&wg, 1);
	kgo_go(close_waiter, &sv[0]);
	kgo_sleep(10 * MS);
	r1 = kgo_close(sv[0]);
	kgo_waitgroup_wait(&wg);
	tap_ok_fmt(r1 == 0 && atomic_load(&closed_rc) == -EBADF,
		   "kgo_close wakes a deadline wait with -EBADF (%d)", atomic_load(&closed_rc));
	close(sv[1]);

	tap_ok(deadlines_cancelled(),
	       "200 reads with 500 ms deadlines end by data or timeout; no stray wakeup after");
	tap_ok(close_in_flight(),
	       "kgo_close during kgo_fd_io: deferred close(2), no fd reuse, -EBADF for new calls");
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int rc;

	tap_watchdog(300);
	tap_plan(7);
	rc = kgo_main(main_g, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
