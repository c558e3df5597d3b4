/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The network workload, echo: what its C servers share (bench/kgo.c,
 * bench/pthread.c, bench/epoll.c; bench/go/main.go does the same in Go),
 * and the client, the load generator that every server is measured with.
 *
 * A run: the server program listens on 127.0.0.1 (an ephemeral port,
 * backlog 4096), serving each connection as its implementation does, and
 * starts the client as a process of its own:
 *
 *   pthread-bench echo-client PORT CONNS ROUNDTRIPS
 *
 * the same program for all four servers (pthread-bench, which make
 * check's guest has too; Go's server starts it the same way).  The client
 * makes CONNS connections, over ECHO_CLIENT_THREADS threads of its own,
 * each thread an epoll loop over its share of them, non-blocking.  Then
 * one untimed round trip on each connection (every connection accepted
 * and served), then the timed part: ROUNDTRIPS round trips in all, each
 * connection with one request of ECHO_MSG bytes in flight, a new one sent
 * as soon as the last came back whole, until the count is reached.  Every
 * echoed byte is compared with the request; a wrong byte, a connection
 * the server closed, or 30 s without a single echo is a message and exit
 * status 1.  It prints
 *
 *   ECHO <round trips> <ns from the first request to the last echo> <p99 ns> <cpu ns>
 *
 * where each round trip's latency is from just before its request's
 * write() to just after the read() that completed the echo, and cpu is
 * the CPU time its threads used in the timed part (if it is near the
 * threads' count times the elapsed time, the client was the limit, not
 * the server; the server program prints it as a comment).  The server
 * program turns that into its RESULT lines ("echo", round trips per
 * second, and "echo-p99", microseconds), checks that it accepted CONNS
 * connections, and waits until it has closed them all before the next
 * run.  The client's CPU affinity is every CPU, whatever the server
 * program's (pthread-bench and epoll-bench restrict their own to CPUs
 * 0..NPROCS-1, and the client would inherit that).
 *
 * Every server sets TCP_NODELAY on its connections, as Go's net package
 * does by default, and ignores SIGPIPE (Go does for sockets).
 */
#ifndef BENCH_ECHO_H
#define BENCH_ECHO_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "common.h"

#define ECHO_BACKLOG	4096	/* covers every connection at once */
#define ECHO_STALL_MS	30000	/* the client gives up after this long with no echo */

extern char **environ;

static inline void echo_fail(const char *what, int err)
{
	fflush(stdout);
	fprintf(stderr, "%s: echo: %s: %s\n", bench_prog, what, strerror(err));
	exit(1);
}

/* Room for @fds descriptors beyond the few a program has anyway (root may
 * raise the hard limit too). */
static inline void echo_nofile(long fds)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)fds + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		echo_fail("getrlimit", errno);
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if (rl.rlim_max < want)
		rl.rlim_max = want;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		echo_fail("setrlimit(RLIMIT_NOFILE)", errno);
}

/* The server side's set-up: SIGPIPE ignored, room for the connections,
 * and a listening socket on 127.0.0.1, close-on-exec; its port in *port. */
static inline int echo_listen(bool nonblock, int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int one = 1, fd;

	signal(SIGPIPE, SIG_IGN);
	echo_nofile(bench_sz->echo_conns);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		echo_fail("socket", errno);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, ECHO_BACKLOG) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		echo_fail("listening on 127.0.0.1", errno);
	*port = ntohs(a.sin_port);
	return fd;
}

static inline void echo_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		echo_fail("TCP_NODELAY", errno);
}

/* read(2), with the error as -errno (kgo_read's convention). */
static inline ssize_t echo_read(int fd, void *buf, size_t n)
{
	ssize_t r = read(fd, buf, n);

	return r < 0 ? -errno : r;
}

/* What a run of the client measured. */
struct echo_figures {
	long long roundtrips;
	long long ns;		/* first request to last echo */
	long long p99_ns;
	long long cpu_ns;	/* the client's threads, in the timed part */
};

/*
 * One run of the client against 127.0.0.1:@port, from the server
 * program: starts it (pthread-bench, in the directory of this program),
 * reads its output with @rd (a read(2) that returns -errno; kgo's
 * kgo_read, so that the goroutine parks, not its M, with @nonblock), and
 * waits for it.  A client that failed fails the run; its message is on
 * stderr already.
 */
static inline void echo_run_client(int port, long conns, long roundtrips, bool nonblock,
				   ssize_t (*rd)(int fd, void *buf, size_t n),
				   struct echo_figures *f)
{
	char exe[PATH_MAX], sport[16], sconns[24], srts[24], out[256];
	char *argv[] = { exe, "echo-client", sport, sconns, srts, NULL };
	posix_spawn_file_actions_t fa;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 32), r;
	size_t got = 0;
	char *slash;
	int p[2], err, st;
	pid_t pid;

	if (n < 0)
		echo_fail("readlink /proc/self/exe", errno);
	exe[n] = 0;
	slash = strrchr(exe, '/');
	strcpy(slash ? slash + 1 : exe, "pthread-bench");
	snprintf(sport, sizeof(sport), "%d", port);
	snprintf(sconns, sizeof(sconns), "%ld", conns);
	snprintf(srts, sizeof(srts), "%ld", roundtrips);
	if (pipe2(p, O_CLOEXEC))
		echo_fail("pipe2", errno);
	if (nonblock && fcntl(p[0], F_SETFL, O_NONBLOCK))
		echo_fail("fcntl", errno);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);	/* clears close-on-exec */
	err = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		echo_fail(exe, err);
	close(p[1]);
	while ((r = rd(p[0], out + got, sizeof(out) - 1 - got)) > 0 || r == -EINTR)
		if (r > 0)
			got += (size_t)r;
	if (r < 0)
		echo_fail("reading the client's output", (int)-r);
	out[got] = 0;
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			echo_fail("waitpid", errno);
	bench_check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "echo: the client (%s) failed: %s %d", exe,
		    WIFEXITED(st) ? "exit status" : "signal",
		    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	bench_check(sscanf(out, "ECHO %lld %lld %lld %lld", &f->roundtrips, &f->ns, &f->p99_ns,
			   &f->cpu_ns) == 4 && f->roundtrips == roundtrips && f->ns > 0,
		    "echo: the client printed \"%s\"", out);
	printf("# echo client: %lld round trips in %.3f s; CPU time of its %d threads: %.0f%% of that\n",
	       f->roundtrips, (double)f->ns / 1e9, ECHO_CLIENT_THREADS,
	       100.0 * (double)f->cpu_ns / (double)f->ns);
}

#ifdef BENCH_ECHO_CLIENT
/* ---- the client (pthread-bench echo-client PORT CONNS ROUNDTRIPS) ---- */

struct echo_conn {
	int fd, id;
	uint32_t seq;		/* requests sent on it */
	bool busy;		/* a request in flight */
	bool want_out;		/* EPOLLOUT armed: the request is not all written */
	int sent, got;		/* bytes of the request written, of its echo read */
	int64_t t_sent;
	unsigned char req[ECHO_MSG], echo[ECHO_MSG];
};

struct echo_thread {
	pthread_t t;
	struct echo_conn *c;
	int n;			/* its connections */
	long roundtrips;	/* its share of the timed round trips */
	int epfd;
	int64_t *lat;		/* ns, one per timed round trip */
	int64_t t0, t1;
	int64_t cpu;		/* CPU time of the timed part, ns */
};

static int64_t echo_thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct sockaddr_in echo_addr;
static pthread_barrier_t echo_start;

static void echo_epoll(struct echo_thread *th, struct echo_conn *c, int op, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (epoll_ctl(th->epfd, op, c->fd, &ev))
		echo_fail("epoll_ctl", errno);
}

/* Writes what is left of the request; EPOLLOUT while the socket is full. */
static void echo_flush(struct echo_thread *th, struct echo_conn *c)
{
	while (c->sent < ECHO_MSG) {
		ssize_t w = write(c->fd, c->req + c->sent, (size_t)(ECHO_MSG - c->sent));

		if (w > 0) {
			c->sent += (int)w;
		} else if (w < 0 && errno == EAGAIN) {
			if (!c->want_out)
				echo_epoll(th, c, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
			c->want_out = true;
			return;
		} else if (w < 0 && errno != EINTR) {
			bench_check(false, "echo: connection %d, request %u: write: %s", c->id,
				    (unsigned)c->seq, strerror(errno));
		}
	}
	if (c->want_out)
		echo_epoll(th, c, EPOLL_CTL_MOD, EPOLLIN);
	c->want_out = false;
}

/* A new request: the connection and its sequence number, then bytes that
 * follow from both, so that no other request's bytes are alike. */
static void echo_send(struct echo_thread *th, struct echo_conn *c)
{
	uint32_t x = (uint32_t)c->id * 0x9e3779b1u ^ ++c->seq * 0x85ebca77u;
	uint32_t head[2] = { (uint32_t)c->id, c->seq };

	memcpy(c->req, head, sizeof(head));
	for (size_t i = sizeof(head); i < ECHO_MSG; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		c->req[i] = (unsigned char)(x >> 24);
	}
	c->busy = true;
	c->sent = c->got = 0;
	c->t_sent = bench_now();
	echo_flush(th, c);
}

/*
 * Round trips on the thread's connections until @total are done: one in
 * flight per connection, the next sent when an echo is whole.  With @lat,
 * each one's latency.
 */
static void echo_loop(struct echo_thread *th, long total, int64_t *lat)
{
	struct epoll_event ev[256];
	long issued = 0, done = 0;

	for (int i = 0; i < th->n && issued < total; i++, issued++)
		echo_send(th, &th->c[i]);
	while (done < total) {
		int k = epoll_wait(th->epfd, ev, 256, ECHO_STALL_MS);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			echo_fail("epoll_wait", errno);
		bench_check(k > 0, "echo: no echo for %d s (%ld of %ld round trips done)",
			    ECHO_STALL_MS / 1000, done, total);
		for (int e = 0; e < k; e++) {
			struct echo_conn *c = ev[e].data.ptr;
			size_t want = c->busy ? (size_t)(ECHO_MSG - c->got) : 1;
			ssize_t r;

			if (c->busy && c->sent < ECHO_MSG && (ev[e].events & EPOLLOUT))
				echo_flush(th, c);
			if (!(ev[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				continue;
			r = read(c->fd, c->echo + (c->busy ? c->got : 0), want);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r < 0)
				bench_check(false, "echo: connection %d, request %u: read: %s", c->id,
					    (unsigned)c->seq, strerror(errno));
			bench_check(r > 0, "echo: connection %d closed by the server after %u requests",
				    c->id, (unsigned)c->seq);
			bench_check(c->busy, "echo: connection %d: %zd bytes that no request asked for",
				    c->id, r);
			c->got += (int)r;
			bench_check(c->got <= c->sent,
				    "echo: connection %d, request %u: %d bytes echoed, %d sent",
				    c->id, (unsigned)c->seq, c->got, c->sent);
			if (c->got < ECHO_MSG)
				continue;
			if (lat)
				lat[done] = bench_now() - c->t_sent;
			for (int i = 0; i < ECHO_MSG; i++)
				bench_check(c->echo[i] == c->req[i],
					    "echo: connection %d, request %u: byte %d came back as "
					    "%#x, not %#x", c->id, (unsigned)c->seq, i, c->echo[i],
					    c->req[i]);
			c->busy = false;
			done++;
			if (issued < total) {
				issued++;
				echo_send(th, c);
			}
		}
	}
}

static void *echo_client_thread(void *arg)
{
	struct echo_thread *th = arg;

	th->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (th->epfd < 0)
		echo_fail("epoll_create1", errno);
	for (int i = 0; i < th->n; i++) {
		struct echo_conn *c = &th->c[i];

		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			echo_fail("socket", errno);
		if (connect(c->fd, (struct sockaddr *)&echo_addr, sizeof(echo_addr)))
			echo_fail(errno == ENETUNREACH ? "connect (is the loopback interface up? "
				  "ip link set lo up)" : "connect", errno);
		echo_nodelay(c->fd);
		if (fcntl(c->fd, F_SETFL, O_NONBLOCK))
			echo_fail("fcntl", errno);
		echo_epoll(th, c, EPOLL_CTL_ADD, EPOLLIN);
	}
	echo_loop(th, th->n, NULL);	/* untimed: every connection served once */
	pthread_barrier_wait(&echo_start);
	th->cpu = echo_thread_cpu();
	th->t0 = bench_now();
	echo_loop(th, th->roundtrips, th->lat);
	th->t1 = bench_now();
	th->cpu = echo_thread_cpu() - th->cpu;
	return NULL;
}

static int echo_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int echo_client_main(int argc, char **argv)
{
	struct echo_thread th[ECHO_CLIENT_THREADS];
	long port, conns, rts, next = 0;
	int nth = ECHO_CLIENT_THREADS, id = 0, err;
	int64_t t0 = INT64_MAX, t1 = 0, cpu = 0, *lat;
	cpu_set_t all;

	bench_prog = "echo-client";
	if (argc != 5) {
		fprintf(stderr, "usage: %s echo-client PORT CONNS ROUNDTRIPS\n", argv[0]);
		return 2;
	}
	port = atol(argv[2]);
	conns = atol(argv[3]);
	rts = atol(argv[4]);
	if (port < 1 || port > 65535 || conns < 1 || rts < 1) {
		fprintf(stderr, "echo-client: bad PORT, CONNS or ROUNDTRIPS\n");
		return 2;
	}
	if (nth > conns)
		nth = (int)conns;
	/* Every CPU, not the server program's NPROCS that it inherits. */
	CPU_ZERO(&all);
	for (long c = 0; c < sysconf(_SC_NPROCESSORS_CONF) && c < CPU_SETSIZE; c++)
		CPU_SET(c, &all);
	if (sched_setaffinity(0, sizeof(all), &all))
		echo_fail("sched_setaffinity", errno);
	echo_nofile(conns);
	echo_addr.sin_family = AF_INET;
	echo_addr.sin_port = htons((uint16_t)port);
	echo_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lat = calloc((size_t)rts, sizeof(*lat));
	if (!lat)
		echo_fail("calloc", ENOMEM);
	pthread_barrier_init(&echo_start, NULL, (unsigned)nth);
	for (int t = 0; t < nth; t++) {
		th[t].n = (int)(conns / nth + (t < conns % nth));
		th[t].roundtrips = rts / nth + (t < rts % nth);
		th[t].c = calloc((size_t)th[t].n, sizeof(struct echo_conn));
		if (!th[t].c)
			echo_fail("calloc", ENOMEM);
		for (int i = 0; i < th[t].n; i++)
			th[t].c[i].id = id++;
		th[t].lat = lat + next;
		next += th[t].roundtrips;
		err = pthread_create(&th[t].t, NULL, echo_client_thread, &th[t]);
		if (err)
			echo_fail("pthread_create", err);
	}
	for (int t = 0; t < nth; t++) {
		pthread_join(th[t].t, NULL);
		if (th[t].t0 < t0)
			t0 = th[t].t0;
		if (th[t].t1 > t1)
			t1 = th[t].t1;
		cpu += th[t].cpu;
		for (int i = 0; i < th[t].n; i++)
			close(th[t].c[i].fd);
		close(th[t].epfd);
		free(th[t].c);
	}
	qsort(lat, (size_t)rts, sizeof(*lat), echo_cmp);
	/* The 99th percentile: the smallest latency that at least 99% of the
	 * round trips did not exceed. */
	printf("ECHO %ld %lld %lld %lld\n", rts, (long long)(t1 - t0),
	       (long long)lat[(rts * 99 + 99) / 100 - 1], (long long)cpu);
	fflush(stdout);
	free(lat);
	return 0;
}
#endif /* BENCH_ECHO_CLIENT */

#endif /* BENCH_ECHO_H */
