/* SPDX-License-Identifier: MIT */
/*
 * A small HTTP/1.1 server, one goroutine per connection, Go's net/http
 * shape in C:
 *   - keep-alive connections; each request must arrive within the read
 *     deadline (5 s, -r), each response be written within 5 s;
 *   - GET / says hello, GET /sum/N returns 1 + 2 + ... + N (some work
 *     per request), anything else 404; HEAD is not served (405);
 *   - SIGINT or SIGTERM (kgo_signal_notify) starts a graceful shutdown:
 *     the listener is closed (kgo_close wakes the acceptor), idle
 *     connections are shut down for reading (their goroutines see end of
 *     file), requests in progress finish and are answered with
 *     "Connection: close", and the program waits for every connection
 *     goroutine before it exits; a second signal, or the shutdown
 *     deadline (10 s), ends it at once.
 *
 *   http_server [-p port] [-a address] [-r read-timeout-seconds]
 *       defaults: 8080, 127.0.0.1, 5
 *
 * Prints "listening on ADDR:PORT" once ready, and the requests served
 * when it stops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kgo.h>

#define SEC		1000000000ull
#define WRITE_TIMEOUT	(5 * SEC)
#define SHUTDOWN_GRACE	(10 * SEC)
#define MAX_CONNS	8192
#define REQ_MAX		8192

static int port = 8080;
static uint64_t read_timeout = 5 * SEC;	/* -r seconds */
static const char *address = "127.0.0.1";
static int lfd = -1;
static atomic_bool shutting_down;
static atomic_long requests;
static struct kgo_waitgroup conns;

/* The open connections, so that shutdown can reach the idle ones. */
static struct kgo_mutex conns_mu;
static int conn_fds[MAX_CONNS];
static int nconn_fds;

static void conn_track(int fd)
{
	kgo_mutex_lock(&conns_mu);
	if (nconn_fds < MAX_CONNS)
		conn_fds[nconn_fds++] = fd;
	kgo_mutex_unlock(&conns_mu);
}

/* Untracked before it is closed: shutdown never touches a reused fd. */
static void conn_untrack(int fd)
{
	kgo_mutex_lock(&conns_mu);
	for (int i = 0; i < nconn_fds; i++) {
		if (conn_fds[i] == fd) {
			conn_fds[i] = conn_fds[--nconn_fds];
			break;
		}
	}
	kgo_mutex_unlock(&conns_mu);
}

/* ---- one connection ---- */

struct conn {
	int fd;
	char buf[REQ_MAX];
	size_t len;		/* bytes in buf */
};

/* The end of the header block in c->buf, or NULL. */
static char *header_end(struct conn *c)
{
	for (size_t i = 3; i < c->len; i++)
		if (!memcmp(c->buf + i - 3, "\r\n\r\n", 4))
			return c->buf + i + 1;
	return NULL;
}

static int respond(int fd, int status, const char *reason, const char *body, bool close_it)
{
	char out[512];
	int n = snprintf(out, sizeof(out),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			 "%s\r\n%s", status, reason, strlen(body),
			 close_it ? "Connection: close\r\n" : "", body);

	if (n < 0 || (size_t)n >= sizeof(out))
		return -1;
	return kgo_write_deadline(fd, out, (size_t)n, kgo_nanotime() + WRITE_TIMEOUT) == n ? 0 : -1;
}

/* Serve the request in c->buf[0, end); whether to keep the connection. */
static bool serve_request(struct conn *c, const char *end)
{
	char method[8], path[256], version[16], body[64];
	bool close_it = atomic_load(&shutting_down);
	unsigned long n;

	if (sscanf(c->buf, "%7s %255s %15s", method, path, version) != 3)
		return respond(c->fd, 400, "Bad Request", "bad request\n", true), false;
	/* HTTP/1.0 closes unless asked; 1.1 keeps unless asked. */
	if (!strcmp(version, "HTTP/1.0") ? !memmem(c->buf, (size_t)(end - c->buf),
						    "Connection: keep-alive", 22)
					 : memmem(c->buf, (size_t)(end - c->buf),
						  "Connection: close", 17) != NULL)
		close_it = true;
	atomic_fetch_add(&requests, 1);
	if (strcmp(method, "GET"))
		return respond(c->fd, 405, "Method Not Allowed", "GET only\n", true), false;
	if (!strcmp(path, "/")) {
		snprintf(body, sizeof(body), "hello\n");
	} else if (sscanf(path, "/sum/%lu", &n) == 1 && n <= 1000000) {
		unsigned long long s = 0;

		for (unsigned long i = 1; i <= n; i++)
			s += i;
		snprintf(body, sizeof(body), "%llu\n", s);
	} else {
		return respond(c->fd, 404, "Not Found", "not found\n", close_it) == 0 && !close_it;
	}
	return respond(c->fd, 200, "OK", body, close_it) == 0 && !close_it;
}

static void connection(void *arg)
{
	struct conn *c = malloc(sizeof(*c));
	int fd = (int)(intptr_t)arg;

	if (!c)
		goto out;
	c->fd = fd;
	c->len = 0;
	for (;;) {
		char *end = header_end(c);
		ssize_t r;

		if (end) {
			size_t used = (size_t)(end - c->buf);

			if (!serve_request(c, end))
				break;
			memmove(c->buf, end, c->len - used);	/* pipelined requests */
			c->len -= used;
			continue;
		}
		if (c->len == sizeof(c->buf) - 1) {
			respond(fd, 431, "Request Header Fields Too Large", "too large\n", true);
			break;
		}
		c->buf[c->len] = 0;
		r = kgo_read_deadline(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len,
				      kgo_nanotime() + read_timeout);
		if (r <= 0)
			break;	/* end of file (or shut down), -ETIMEDOUT, an error */
		c->len += (size_t)r;
		c->buf[c->len] = 0;
	}
	free(c);
out:
	conn_untrack(fd);
	kgo_close(fd);
	kgo_waitgroup_done(&conns);
}

/* ---- accepting, and the shutdown ---- */

static void acceptor(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = kgo_accept(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (fd == -EMFILE || fd == -ENFILE) {
				kgo_sleep(SEC / 100);	/* out of fds: back off */
				continue;
			}
			break;	/* -EBADF: the listener was closed */
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		kgo_waitgroup_add(&conns, 1);
		conn_track(fd);
		if (kgo_go(connection, (void *)(intptr_t)fd)) {
			conn_untrack(fd);
			kgo_close(fd);
			kgo_waitgroup_done(&conns);
		}
	}
	kgo_waitgroup_done(&conns);
}

/* Wait for every connection goroutine; then say so on @done. */
static void drainer(void *arg)
{
	kgo_waitgroup_wait(&conns);
	kgo_chan_close(arg);
}

static int listen_on(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || inet_pton(AF_INET, address, &sa.sin_addr) != 1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void main_g(void *arg)
{
	struct kgo_chan *sigs = kgo_chan_new(sizeof(int), 2);
	struct kgo_chan *drained = kgo_chan_new(0, 0);
	sigset_t set;
	int s, r;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (kgo_signal_notify(&set, sigs)) {
		fprintf(stderr, "http_server: cannot catch signals\n");
		return;
	}
	kgo_waitgroup_add(&conns, 1);	/* the acceptor's own */
	kgo_go(acceptor, NULL);
	printf("listening on %s:%d\n", address, port);
	fflush(stdout);

	kgo_chan_recv(sigs, &s);
	atomic_store(&shutting_down, true);
	kgo_close(lfd);			/* the acceptor wakes with -EBADF */
	kgo_mutex_lock(&conns_mu);
	for (int i = 0; i < nconn_fds; i++)
		shutdown(conn_fds[i], SHUT_RD);	/* idle readers see end of file */
	kgo_mutex_unlock(&conns_mu);
	kgo_go(drainer, drained);
	{
		struct kgo_select_case cs[2] = {
			{ .chan = drained, .dir = KGO_SELECT_RECV },
			{ .chan = sigs, .dir = KGO_SELECT_RECV, .elem = &s },
		};

		r = kgo_select_deadline(cs, 2, kgo_nanotime() + SHUTDOWN_GRACE);
	}
	printf("%s after %ld requests\n",
	       r == 0 ? "shut down gracefully" : "shutdown cut short",
	       atomic_load(&requests));
	fflush(stdout);
	kgo_signal_stop(sigs);
	if (r != 0)
		exit(1);	/* goroutines still busy: do not wait for them */
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	int o;

	while ((o = getopt(argc, argv, "p:a:r:")) != -1) {
		if (o == 'p')
			port = atoi(optarg);
		else if (o == 'a')
			address = optarg;
		else if (o == 'r' && atoi(optarg) > 0)
			read_timeout = (uint64_t)atoi(optarg) * SEC;
		else
			return fprintf(stderr, "usage: %s [-p port] [-a address] [-r seconds]\n",
				       argv[0]), 2;
	}
	/* One fd per connection: as many as we may have. */
	rl.rlim_cur = rl.rlim_max = 65536;	/* root may raise the hard limit */
	if (setrlimit(RLIMIT_NOFILE, &rl) && !getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on();
	if (lfd < 0) {
		perror("http_server: listen");
		return 1;
	}
	if (kgo_main(main_g, NULL, NULL)) {
		fprintf(stderr, "http_server: kgo_main failed (is kgo.ko loaded?)\n");
		return 1;
	}
	return 0;
}
