/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A TCP echo server with one goroutine per connection carries 1,000
 * concurrent loopback connections (127.0.0.1 only; $KGO_ECHO_CONNS to
 * change), server and clients in this one process on 2 Ps: every client
 * connects, then waits until the server holds all connections open at
 * once, then all exchange 2 messages of 1..512 bytes each, every byte
 * known, and check the echo: nothing lost, reordered or corrupted.
 * RLIMIT_NOFILE's soft limit is raised to the hard one (and the hard one,
 * if too low, as far as the guest's root may).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kgo.h>

#include "net_util.h"
#include "tap.h"

#define MS	1000000ull
#define MSGS	2
#define MAXMSG	512

static int nconns = 1000;
static int lfd;
static struct sockaddr_in addr;
static struct kgo_waitgroup connected, clients, servers;
static struct kgo_chan *start;
static atomic_int live, max_live, accepted, client_ok, client_err, server_err;
static atomic_long echoed;
static atomic_int first_err;

static size_t msg_size(int id, int j)
{
	return 1 + ((size_t)id * 7919u + (size_t)j * 104729u) % MAXMSG;
}

static unsigned char msg_byte(int id, int j, size_t k)
{
	return (unsigned char)(id * 31 + j * 17 + k * 7 + (k >> 8));
}

static void note_err(int err)
{
	int zero = 0;

	atomic_compare_exchange_strong(&first_err, &zero, err);
}

/* ---- server ---- */

static void handler(void *arg)
{
	int c = (int)(intptr_t)arg, n = atomic_fetch_add(&live, 1) + 1, m;
	unsigned char buf[4096];
	ssize_t r;

	m = atomic_load(&max_live);
	while (n > m && !atomic_compare_exchange_weak(&max_live, &m, n))
		;
	while ((r = kgo_read(c, buf, sizeof(buf))) > 0) {
		if (kgo_write(c, buf, (size_t)r) != r) {
			atomic_fetch_add(&server_err, 1);
			break;
		}
		atomic_fetch_add(&echoed, r);
	}
	if (r < 0) {
		atomic_fetch_add(&server_err, 1);
		note_err((int)r);
	}
	atomic_fetch_sub(&live, 1);
	kgo_close(c);
	kgo_waitgroup_done(&servers);
}

static void acceptor(void *arg)
{
	(void)arg;
	for (int i = 0; i < nconns; i++) {
		int c = kgo_accept(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			atomic_fetch_add(&server_err, 1);
			note_err(c);
			kgo_waitgroup_add(&servers, -(nconns - i));
			break;
		}
		atomic_fetch_add(&accepted, 1);
		if (kgo_go(handler, (void *)(intptr_t)c)) {
			close(c);
			kgo_waitgroup_done(&servers);
		}
	}
}

/* ---- clients ---- */

static int exchange(int s, int id)
{
	unsigned char out[MAXMSG], in[MAXMSG];

	for (int j = 0; j < MSGS; j++) {
		size_t sz = msg_size(id, j), got = 0;
		ssize_t r;

		for (size_t k = 0; k < sz; k++)
			out[k] = msg_byte(id, j, k);
		r = kgo_write(s, out, sz);
		if (r != (ssize_t)sz)
			return r < 0 ? (int)r : -EIO;
		while (got < sz) {
			r = kgo_read(s, in + got, sz - got);
			if (r <= 0)
				return r < 0 ? (int)r : -EPIPE;
			got += (size_t)r;
		}
		if (memcmp(in, out, sz))
			return -EILSEQ;
	}
	return 0;
}

static void client(void *arg)
{
	int id = (int)(intptr_t)arg, s, err;

	s = tcp_socket();
	err = s < 0 ? -errno : kgo_connect(s, (struct sockaddr *)&addr, sizeof(addr));
	kgo_waitgroup_done(&connected);
	/* Everyone starts exchanging together, once all are connected. */
	kgo_chan_recv(start, NULL);
	if (!err)
		err = exchange(s, id);
	if (!err) {
		atomic_fetch_add(&client_ok, 1);
	} else {
		atomic_fetch_add(&client_err, 1);
		note_err(err);
	}
	if (s >= 0)
		kgo_close(s);
	kgo_waitgroup_done(&clients);
}

static double t_connect, t_exchange;

static void main_g(void *arg)
{
	uint64_t t0 = kgo_nanotime();

	(void)arg;
	start = kgo_chan_new(0, 0);
	kgo_waitgroup_add(&servers, nconns);
	kgo_waitgroup_add(&connected, nconns);
	kgo_waitgroup_add(&clients, nconns);
	kgo_go(acceptor, NULL);
	for (int i = 0; i < nconns; i++)
		kgo_go(client, (void *)(intptr_t)i);
	kgo_waitgroup_wait(&connected);
	/* The server side holds every connection open at once. */
	for (int i = 0; i < 60000 && atomic_load(&accepted) < nconns; i++)
		kgo_sleep(MS);
	for (int i = 0; i < 5000 && atomic_load(&live) < nconns; i++)
		kgo_sleep(MS);
	t_connect = (kgo_nanotime() - t0) / 1e9;
	t0 = kgo_nanotime();
	kgo_chan_close(start);
	kgo_waitgroup_wait(&clients);
	kgo_waitgroup_wait(&servers);
	t_exchange = (kgo_nanotime() - t0) / 1e9;
	kgo_chan_free(start);
}

/* Room for both ends of every connection. */
static bool enough_fds(int need, char *why, size_t len)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return false;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)need) {
		struct rlimit more = { (rlim_t)need, (rlim_t)need };

		if (setrlimit(RLIMIT_NOFILE, &more) == 0)
			return true;
		snprintf(why, len, "RLIMIT_NOFILE hard limit %llu < %d",
			 (unsigned long long)rl.rlim_max, need);
		return false;
	}
	rl.rlim_cur = rl.rlim_max;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2 };
	const char *env = getenv("KGO_ECHO_CONNS");
	long total = 0;
	char why[128] = "cannot raise RLIMIT_NOFILE";
	int rc;

	if (env && atoi(env) > 0)
		nconns = atoi(env);
	net_test_start(4);
	if (!enough_fds(2 * nconns + 64, why, sizeof(why))) {
		tap_skip_case("echo", why);
		return tap_done();
	}
	lfd = loopback_listener(&addr, nconns + 64);
	if (lfd < 0) {
		tap_ok(false, "listen on 127.0.0.1");
		return tap_done();
	}
	rc = kgo_main(main_g, NULL, &cfg);
	close(lfd);
	for (int id = 0; id < nconns; id++)
		for (int j = 0; j < MSGS; j++)
			total += (long)msg_size(id, j);
	tap_ok_fmt(rc == 0 && atomic_load(&accepted) == nconns,
		   "%d connections accepted (kgo_main %d)", atomic_load(&accepted), rc);
	tap_ok_fmt(atomic_load(&max_live) == nconns,
		   "%d connections open at once on the server side", atomic_load(&max_live));
	tap_ok_fmt(atomic_load(&client_ok) == nconns && atomic_load(&client_err) == 0 &&
		   atomic_load(&server_err) == 0 && atomic_load(&echoed) == total,
		   "%d clients got their %d messages back intact (%ld bytes); errors: client %d, server %d, first %d",
		   atomic_load(&client_ok), MSGS, atomic_load(&echoed), atomic_load(&client_err),
		   atomic_load(&server_err), atomic_load(&first_err));
	tap_ok(atomic_load(&live) == 0, "every server goroutine finished");
	printf("# %d connections: %.2f s to connect all, %.2f s to echo %ld bytes\n",
	       nconns, t_connect, t_exchange, total);
	return tap_done();
}
