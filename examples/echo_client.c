/* SPDX-License-Identifier: MIT */
/*
 * A load client for examples/echo_server.c: C goroutines, one connection
 * each to 127.0.0.1 (never any other address), each sending M messages of
 * S bytes with a known pattern and checking that every byte comes back in
 * order.  Prints the mean round trip and exits 0 if every echo was intact.
 * A connection refused is retried for a few seconds, so the server may
 * start at the same time; past a time limit (a timer goroutine) the client
 * gives up with status 1.
 *
 *   echo_client [-p port] [-c connections] [-m messages] [-s size] [-t seconds]
 *       defaults: port 7007, 100 connections, 20 messages, 512 bytes, 60 s
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

#define MAXSIZE		65536
#define RETRY_MS	50
#define RETRIES		100	/* 5 s of refused connections */

static int port = 7007, nconns = 100, nmsgs = 20, size = 512, seconds = 60;
static struct kgo_waitgroup done;
static atomic_int ok_conns, bad_conns;
static atomic_long round_trips, rt_ns;

static unsigned char pattern(int id, int msg, int k)
{
	return (unsigned char)(id * 13 + msg * 7 + k);
}

/* One connection's work: 0, or -errno / -EILSEQ for a wrong echo. */
static int talk(int id, unsigned char *out, unsigned char *in)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int s = -1, err = -ECONNREFUSED;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int tries = 0; err == -ECONNREFUSED && tries < RETRIES; tries++) {
		if (tries)
			kgo_sleep(RETRY_MS * 1000000ull);
		if (s >= 0)
			kgo_close(s);
		s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s < 0)
			return -errno;
		err = kgo_connect(s, (struct sockaddr *)&a, sizeof(a));
	}
	for (int m = 0; !err && m < nmsgs; m++) {
		uint64_t t0 = kgo_nanotime();
		ssize_t r;
		int got = 0;

		for (int k = 0; k < size; k++)
			out[k] = pattern(id, m, k);
		r = kgo_write(s, out, (size_t)size);
		if (r != size) {
			err = r < 0 ? (int)r : -EIO;
			break;
		}
		while (got < size) {
			r = kgo_read(s, in + got, (size_t)(size - got));
			if (r <= 0) {
				err = r < 0 ? (int)r : -EPIPE;
				break;
			}
			got += (int)r;
		}
		if (!err && memcmp(in, out, (size_t)size))
			err = -EILSEQ;
		atomic_fetch_add(&rt_ns, (long)(kgo_nanotime() - t0));
		atomic_fetch_add(&round_trips, 1);
	}
	kgo_close(s);
	return err;
}

static void conn(void *arg)
{
	int id = (int)(intptr_t)arg, err;
	unsigned char *buf = malloc(2 * (size_t)size);

	err = buf ? talk(id, buf, buf + size) : -ENOMEM;
	free(buf);
	if (err) {
		atomic_fetch_add(&bad_conns, 1);
		fprintf(stderr, "echo_client: connection %d: %s\n", id,
			err == -EILSEQ ? "the echo differs from what was sent" : strerror(-err));
	} else {
		atomic_fetch_add(&ok_conns, 1);
	}
	kgo_waitgroup_done(&done);
}

/* The time limit: whatever is still blocked, the process ends. */
static void time_limit(void *arg)
{
	(void)arg;
	fprintf(stderr, "echo_client: gave up after %d s (%d connections done)\n",
		seconds, atomic_load(&ok_conns) + atomic_load(&bad_conns));
	_exit(1);
}

static void client(void *arg)
{
	struct kgo_timer *limit = kgo_timer_new((uint64_t)seconds * 1000000000u, time_limit, NULL);
	uint64_t t0 = kgo_nanotime();
	long n;

	(void)arg;
	kgo_waitgroup_add(&done, nconns);
	for (int i = 0; i < nconns; i++)
		if (kgo_go(conn, (void *)(intptr_t)i)) {
			atomic_fetch_add(&bad_conns, 1);
			kgo_waitgroup_done(&done);
		}
	kgo_waitgroup_wait(&done);
	kgo_timer_free(limit);
	n = atomic_load(&round_trips);
	printf("echo_client: %d of %d connections echoed %d x %d bytes intact; "
	       "%ld round trips, mean %.1f us; %.2f s\n",
	       atomic_load(&ok_conns), nconns, nmsgs, size, n,
	       n ? atomic_load(&rt_ns) / 1e3 / (double)n : 0.0, (kgo_nanotime() - t0) / 1e9);
}

int main(int argc, char **argv)
{
	int opt, rc;

	while ((opt = getopt(argc, argv, "p:c:m:s:t:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'c': nconns = atoi(optarg); break;
		case 'm': nmsgs = atoi(optarg); break;
		case 's': size = atoi(optarg); break;
		case 't': seconds = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-p port] [-c connections] [-m messages] [-s size] "
				"[-t seconds]\n", argv[0]);
			return 2;
		}
	}
	if (port < 1 || port > 65535 || nconns < 1 || nconns > 100000 || nmsgs < 0 ||
	    size < 1 || size > MAXSIZE || seconds < 1) {
		fprintf(stderr, "echo_client: bad argument (size 1..%d, connections 1..100000)\n",
			MAXSIZE);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = kgo_main(client, NULL, NULL);
	return rc || atomic_load(&bad_conns) ? 1 : 0;
}
