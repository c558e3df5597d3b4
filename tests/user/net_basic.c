/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Netpoll basics on 2 Ps, loopback and pipes only: a read on an empty
 * pipe parks the goroutine (others run meanwhile) until a writer comes; a
 * 1 MiB write into a 64 KiB pipe parks until a reader drains it, and the
 * bytes arrive intact; kgo_close wakes a parked reader with -EBADF; EOF
 * reads 0; connect to a closed port says -ECONNREFUSED; accept/connect
 * round trip on 127.0.0.1; a plain thread (no goroutine) waits in poll(2).
 * No call ever returns -EAGAIN.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kgo.h>

#include "net_util.h"
#include "tap.h"

#define MS	1000000ull
#define BIG	(1 << 20)

static struct kgo_waitgroup wg;
static atomic_int ticks;

static void ticker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 5; i++) {
		kgo_sleep(2 * MS);
		atomic_fetch_add(&ticks, 1);
	}
	kgo_waitgroup_done(&wg);
}

static void late_writer(void *arg)
{
	int fd = (int)(intptr_t)arg;

	kgo_sleep(30 * MS);
	kgo_write(fd, "hello", 5);
	kgo_waitgroup_done(&wg);
}

static bool pipe_read_parks(void)
{
	int p[2];
	char buf[16] = { 0 };
	ssize_t n;
	bool ok = true;

	if (pipe2(p, O_NONBLOCK | O_CLOEXEC))
		return TAP_CHECK(false);
	atomic_store(&ticks, 0);
	kgo_waitgroup_add(&wg, 2);
	kgo_go(late_writer, (void *)(intptr_t)p[1]);
	kgo_go(ticker, NULL);
	n = kgo_read(p[0], buf, sizeof(buf));
	ok &= TAP_CHECK(n == 5 && memcmp(buf, "hello", 5) == 0);
	kgo_waitgroup_wait(&wg);
	/* The ticker ran while we waited for the pipe. */
	ok &= TAP_CHECK(atomic_load(&ticks) == 5);
	close(p[0]);
	close(p[1]);
	return ok;
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 131 + (i >> 9));
}

static unsigned char *big_in;

static void big_reader(void *arg)
{
	int fd = (int)(intptr_t)arg;
	size_t got = 0;

	while (got < BIG) {
		ssize_t n = kgo_read(fd, big_in + got, BIG - got);

		if (n <= 0)
			break;
		got += (size_t)n;
		if (got % 3 == 0)
			kgo_sleep(MS / 10);	/* a slow reader now and then */
	}
	kgo_waitgroup_done(&wg);
}

static bool pipe_write_parks(void)
{
	unsigned char *out = malloc(BIG);
	int p[2];
	ssize_t n;
	bool ok = true;

	big_in = calloc(1, BIG);
	if (!out || !big_in || pipe2(p, O_NONBLOCK | O_CLOEXEC))
		return TAP_CHECK(false);
	for (size_t i = 0; i < BIG; i++)
		out[i] = pattern(i);
	kgo_waitgroup_add(&wg, 1);
	kgo_go(big_reader, (void *)(intptr_t)p[0]);
	n = kgo_write(p[1], out, BIG);
	ok &= TAP_CHECK(n == BIG);
	kgo_waitgroup_wait(&wg);
	ok &= TAP_CHECK(memcmp(out, big_in, BIG) == 0);
	/* EOF once the writer is gone. */
	close(p[1]);
	ok &= TAP_CHECK(kgo_read(p[0], out, 16) == 0);
	close(p[0]);
	free(out);
	free(big_in);
	return ok;
}

static atomic_long closed_result;

static void blocked_reader(void *arg)
{
	char c;

	atomic_store(&closed_result, kgo_read((int)(intptr_t)arg, &c, 1));
	kgo_waitgroup_done(&wg);
}

static bool close_wakes(void)
{
	int p[2];
	bool ok = true;

	if (pipe2(p, O_NONBLOCK | O_CLOEXEC))
		return TAP_CHECK(false);
	atomic_store(&closed_result, 1);
	kgo_waitgroup_add(&wg, 1);
	kgo_go(blocked_reader, (void *)(intptr_t)p[0]);
	kgo_sleep(20 * MS);
	ok &= TAP_CHECK(atomic_load(&closed_result) == 1);	/* still parked */
	ok &= TAP_CHECK(kgo_close(p[0]) == 0);
	kgo_waitgroup_wait(&wg);
	ok &= TAP_CHECK(atomic_load(&closed_result) == -EBADF);
	close(p[1]);
	return ok;
}

static bool refused(void)
{
	struct sockaddr_in a = loopback(0);
	socklen_t len = sizeof(a);
	int s = tcp_socket(), r;

	/* A port that was just free: bind, learn it, close. */
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(s, (struct sockaddr *)&a, &len))
		return TAP_CHECK(false);
	close(s);
	s = tcp_socket();
	r = kgo_connect(s, (struct sockaddr *)&a, sizeof(a));
	close(s);
	return TAP_CHECK(r == -ECONNREFUSED);
}

static void accepter(void *arg)
{
	int l = (int)(intptr_t)arg, c;
	char buf[64];
	ssize_t n;

	c = kgo_accept(l, NULL, NULL, SOCK_CLOEXEC);
	if (c >= 0) {
		while ((n = kgo_read(c, buf, sizeof(buf))) > 0)
			kgo_write(c, buf, (size_t)n);
		kgo_close(c);
	}
	kgo_waitgroup_done(&wg);
}

static bool round_trip(void)
{
	struct sockaddr_in a;
	int l = loopback_listener(&a, 16), s, c, fl;
	char buf[64] = { 0 };
	bool ok = true;

	if (l < 0)
		return TAP_CHECK(false);
	kgo_waitgroup_add(&wg, 1);
	kgo_go(accepter, (void *)(intptr_t)l);
	kgo_sleep(5 * MS);	/* the accepter parks in accept first */
	s = tcp_socket();
	ok &= TAP_CHECK(kgo_connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	ok &= TAP_CHECK(kgo_write(s, "ping", 4) == 4);
	ok &= TAP_CHECK(kgo_read(s, buf, sizeof(buf)) == 4 && memcmp(buf, "ping", 4) == 0);
	shutdown(s, SHUT_WR);
	ok &= TAP_CHECK(kgo_read(s, buf, sizeof(buf)) == 0);	/* the server closed */
	kgo_waitgroup_wait(&wg);
	close(s);
	/* accept's fd comes back non-blocking even without the flag. */
	s = tcp_socket();
	ok &= TAP_CHECK(kgo_connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	c = kgo_accept(l, NULL, NULL, 0);
	fl = c >= 0 ? fcntl(c, F_GETFL) : -1;
	ok &= TAP_CHECK(c >= 0 && fl >= 0 && (fl & O_NONBLOCK));
	if (c >= 0)
		close(c);
	close(s);
	close(l);
	return ok;
}

/* A plain thread reads a pipe a goroutine fills later: poll(2) inside. */
static int thread_pipe[2];
static atomic_long thread_got;

static void *plain_thread(void *arg)
{
	char buf[8];

	(void)arg;
	atomic_store(&thread_got, kgo_read(thread_pipe[0], buf, sizeof(buf)));
	return NULL;
}

static bool outside_goroutine(void)
{
	pthread_t th;
	bool ok = true;

	if (pipe2(thread_pipe, O_NONBLOCK | O_CLOEXEC))
		return TAP_CHECK(false);
	atomic_store(&thread_got, -1000);
	pthread_create(&th, NULL, plain_thread, NULL);
	kgo_sleep(20 * MS);
	ok &= TAP_CHECK(atomic_load(&thread_got) == -1000);
	ok &= TAP_CHECK(kgo_write(thread_pipe[1], "abc", 3) == 3);
	pthread_join(th, NULL);
	ok &= TAP_CHECK(atomic_load(&thread_got) == 3);
	close(thread_pipe[0]);
	close(thread_pipe[1]);
	return ok;
}

static void main_g(void *arg)
{
	(void)arg;
	tap_ok(pipe_read_parks(), "read on an empty pipe parks; other goroutines run; data arrives");
	tap_ok(pipe_write_parks(), "1 MiB write into a pipe parks until read; intact; then EOF");
	tap_ok(close_wakes(), "kgo_close wakes a parked reader with -EBADF");
	tap_ok(refused(), "connect to a closed loopback port: -ECONNREFUSED");
	tap_ok(round_trip(), "accept/connect/write/read on 127.0.0.1; accepted fd non-blocking");
	tap_ok(outside_goroutine(), "a plain thread's kgo_read waits in poll(2)");
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int rc;

	net_test_start(7);
	rc = kgo_main(main_g, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
