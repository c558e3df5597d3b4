/* SPDX-License-Identifier: GPL-2.0 */
/*
 * echo's fourth server: the event loop a C programmer would write by hand,
 * with no runtime under it.  NPROCS threads (CPUs 0..NPROCS-1, like
 * pthread-bench), each an epoll loop of its own over its connections,
 * level-triggered, non-blocking sockets: at nprocs 1, one thread does
 * everything.  Thread 0 also has the listening socket in its epoll set,
 * accepts, and hands each new connection to the threads in turn (an
 * EPOLL_CTL_ADD on that thread's epoll instance); from then on only that
 * thread touches it.  On a readable connection: read up to ECHO_BUF bytes
 * and write them back; what the socket does not take at once waits for
 * EPOLLOUT, and the connection is not read meanwhile.
 *
 * Only the echo workload (bench/echo.h); the others are not network
 * servers, and this program does not know them.
 */
#define BENCH_ECHO_ONLY
#include "common.h"
#include "echo.h"

#define IMPL		"epoll"
#define MAX_THREADS	64

static struct bench_args args;

static void die(const char *what, int err)
{
	fprintf(stderr, "epoll-bench: %s: %s\n", what, strerror(err));
	exit(1);
}

struct conn {
	int fd;
	bool want_out;		/* EPOLLOUT armed: buf[off..len) not yet written */
	size_t len, off;
	char buf[ECHO_BUF];
};

static struct worker {
	pthread_t t;
	int epfd;
} workers[MAX_THREADS];
static int nworkers;

static int echo_fd = -1, echo_port;
static atomic_long echo_accepted, echo_open;	/* connections; not yet closed */

static void arm(int epfd, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	if (epoll_ctl(epfd, op, fd, &ev))
		die("epoll_ctl", errno);
}

static void conn_close(struct conn *c)
{
	close(c->fd);		/* which takes it out of the epoll set */
	free(c);
	atomic_fetch_sub(&echo_open, 1);
}

/* Writes what is pending; false if the connection was closed. */
static bool conn_flush(struct worker *w, struct conn *c)
{
	while (c->off < c->len) {
		ssize_t n = write(c->fd, c->buf + c->off, c->len - c->off);

		if (n > 0) {
			c->off += (size_t)n;
		} else if (errno == EAGAIN) {
			if (!c->want_out)
				arm(w->epfd, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
			c->want_out = true;
			return true;
		} else if (errno != EINTR) {
			conn_close(c);	/* the client is gone */
			return false;
		}
	}
	c->len = c->off = 0;
	if (c->want_out)
		arm(w->epfd, EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
	c->want_out = false;
	return true;
}

static void conn_event(struct worker *w, struct conn *c)
{
	ssize_t n;

	if (c->len) {		/* EPOLLOUT: the rest of the last echo */
		conn_flush(w, c);
		return;
	}
	n = read(c->fd, c->buf, sizeof(c->buf));
	if (n > 0) {
		c->len = (size_t)n;
		c->off = 0;
		conn_flush(w, c);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		conn_close(c);
	}
}

/* The listening socket is readable: take every waiting connection. */
static void accept_all(void)
{
	static unsigned next;

	for (;;) {
		int fd = accept4(echo_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0 && errno == EAGAIN)
			return;
		if (fd < 0)
			die("accept4", errno);
		echo_nodelay(fd);
		c = calloc(1, sizeof(*c));
		if (!c)
			die("calloc", ENOMEM);
		c->fd = fd;
		atomic_fetch_add(&echo_accepted, 1);
		atomic_fetch_add(&echo_open, 1);
		arm(workers[next++ % (unsigned)nworkers].epfd, EPOLL_CTL_ADD, fd, EPOLLIN, c);
	}
}

static void *worker_loop(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[256];

	for (;;) {
		int k = epoll_wait(w->epfd, ev, 256, -1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			die("epoll_wait", errno);
		for (int i = 0; i < k; i++) {
			if (ev[i].data.ptr)
				conn_event(w, ev[i].data.ptr);
			else
				accept_all();	/* the listening socket (thread 0) */
		}
	}
	return NULL;
}

static void start_server(void)
{
	echo_fd = echo_listen(true, &echo_port);
	nworkers = args.nprocs;
	for (int i = 0; i < nworkers; i++) {
		workers[i].epfd = epoll_create1(EPOLL_CLOEXEC);
		if (workers[i].epfd < 0)
			die("epoll_create1", errno);
	}
	arm(workers[0].epfd, EPOLL_CTL_ADD, echo_fd, EPOLLIN, NULL);
	for (int i = 0; i < nworkers; i++) {
		int err = pthread_create(&workers[i].t, NULL, worker_loop, &workers[i]);

		if (err)
			die("pthread_create", err);
		pthread_detach(workers[i].t);
	}
}

/* 10. echo.  Round trips per second (and the p99 latency, echo-p99). */
static double run_echo(long scale, long long *ops)
{
	long conns = bench_sz->echo_conns, before = atomic_load(&echo_accepted);
	struct echo_figures f;
	struct timespec ms = { 0, 1000000 };

	if (echo_fd < 0)
		start_server();
	echo_run_client(echo_port, conns, bench_sz->echo_roundtrips * scale, false, echo_read, &f);
	bench_check(atomic_load(&echo_accepted) - before == conns,
		    "echo: %ld connections accepted, not %ld", atomic_load(&echo_accepted) - before,
		    conns);
	while (atomic_load(&echo_open))	/* every connection closed before the next run */
		nanosleep(&ms, NULL);
	*ops = f.roundtrips;
	bench_also("echo-p99", "us", (double)f.p99_ns / 1e3);
	return (double)f.roundtrips / ((double)f.ns / 1e9);
}

static const struct bench_workload workloads[] = {
	{ "echo", "rt/s", run_echo, false, false, NULL },
};

int main(int argc, char **argv)
{
	const struct bench_workload *wl;
	cpu_set_t set;

	bench_parse(argc, argv, &args);
	wl = bench_lookup(workloads, sizeof(workloads) / sizeof(workloads[0]), &args, IMPL);
	if (args.nprocs > MAX_THREADS)
		bench_usage();
	CPU_ZERO(&set);
	for (int c = 0; c < args.nprocs; c++)
		CPU_SET(c, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity", errno);
	bench_measure(wl, &args, IMPL);
	return 0;
}
