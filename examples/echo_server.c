/* SPDX-License-Identifier: MIT */
/*
 * A TCP echo server with one goroutine per connection, Go style: the
 * goroutines read and write as if the sockets blocked, and the runtime's
 * poller parks and wakes them.  Listens on 127.0.0.1 only, and stops after
 * serving a number of connections or after a time limit, whichever comes
 * first (a timer goroutine then closes the listener with kgo_close, which
 * wakes the goroutine parked in kgo_accept).
 *
 *   echo_server [-p port] [-n connections] [-t seconds]
 *       defaults: port 7007, 100 connections, 60 seconds
 *
 * Try it with examples/echo_client.c (make run DEMO=echo does both).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kgo.h>

static int port = 7007, max_conns = 100, seconds = 60;
static int lfd;
static struct kgo_waitgroup conns;
static atomic_int live, most, served;
static atomic_long bytes;
static atomic_bool timed_out;

static void serve(void *arg)
{
	int c = (int)(intptr_t)arg, n = atomic_fetch_add(&live, 1) + 1;
	int m = atomic_load(&most);
	char buf[16384];
	ssize_t r;

	while (n > m && !atomic_compare_exchange_weak(&most, &m, n))
		;
	while ((r = kgo_read(c, buf, sizeof(buf))) > 0) {
		if (kgo_write(c, buf, (size_t)r) != r)
			break;
		atomic_fetch_add(&bytes, r);
	}
	kgo_close(c);
	atomic_fetch_sub(&live, 1);
	atomic_fetch_add(&served, 1);
	kgo_waitgroup_done(&conns);
}

/* The time limit: closing the listener wakes the acceptor. */
static void time_limit(void *arg)
{
	(void)arg;
	atomic_store(&timed_out, true);
	kgo_close(lfd);
	kgo_waitgroup_done(&conns);
}

static void server(void *arg)
{
	struct kgo_timer *limit;
	uint64_t t0 = kgo_nanotime();
	int accepted = 0;

	(void)arg;
	kgo_waitgroup_add(&conns, 1);	/* the time limit's goroutine */
	limit = kgo_timer_new((uint64_t)seconds * 1000000000u, time_limit, NULL);
	if (!limit)
		kgo_waitgroup_done(&conns);
	printf("echo_server: listening on 127.0.0.1:%d for %d connections or %d s\n",
	       port, max_conns, seconds);
	fflush(stdout);
	while (accepted < max_conns) {
		int c = kgo_accept(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (!atomic_load(&timed_out))
				fprintf(stderr, "echo_server: accept: %s\n", strerror(-c));
			break;
		}
		accepted++;
		kgo_waitgroup_add(&conns, 1);
		if (kgo_go(serve, (void *)(intptr_t)c)) {
			kgo_close(c);
			kgo_waitgroup_done(&conns);
		}
	}
	if (limit && kgo_timer_stop(limit))
		kgo_waitgroup_done(&conns);	/* it will not run */
	kgo_waitgroup_wait(&conns);
	kgo_timer_free(limit);
	printf("echo_server: %d connections served (at most %d at once), %ld bytes echoed, %.2f s%s\n",
	       atomic_load(&served), atomic_load(&most), atomic_load(&bytes),
	       (kgo_nanotime() - t0) / 1e9, atomic_load(&timed_out) ? " (time limit)" : "");
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int opt, one = 1, rc;

	while ((opt = getopt(argc, argv, "p:n:t:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'n': max_conns = atoi(optarg); break;
		case 't': seconds = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-p port] [-n connections] [-t seconds]\n", argv[0]);
			return 2;
		}
	}
	if (port < 1 || port > 65535 || max_conns < 1 || seconds < 1) {
		fprintf(stderr, "echo_server: bad port, connection count or time limit\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);	/* loopback only */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1024)) {
		fprintf(stderr, "echo_server: cannot listen on 127.0.0.1:%d: %s%s\n", port,
			strerror(errno), errno == EADDRNOTAVAIL ? " (is the loopback interface up?)" : "");
		return 1;
	}
	rc = kgo_main(server, NULL, NULL);
	if (!atomic_load(&timed_out))
		close(lfd);
	return rc ? 1 : 0;
}
