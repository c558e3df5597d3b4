/* SPDX-License-Identifier: GPL-2.0 */
/*
 * examples/http_server under load, on 2 Ps: the server (its source is
 * included here, its main renamed) runs in a forked child process; 1,000
 * client goroutines (200 on the debug kernel) connect at once, and each
 * sends three
 * requests on one keep-alive connection (GET /, GET /sum/ID, and GET /
 * with "Connection: close"); every status line, header and body is
 * checked.  Then, with one idle keep-alive connection open, SIGINT: the
 * idle connection sees end of file, and the server says it shut down
 * gracefully after exactly the requests sent, and exits 0.  Prints the
 * requests per second (TCG numbers mean little; see the test's output).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kgo.h>

#include "net_util.h"
#include "tap.h"

/* The example itself, main renamed: it runs in the child. */
#define main http_server_main
#include "../../examples/http_server.c"
#undef main

/*
 * 1,000 clients; 200 on the debug kernel, where KASAN and lockdep make
 * every request about ten times slower (the guest exports its kernel).
 */
#define NCLIENTS	1000
#define NCLIENTS_DEBUG	200
static int nclients = NCLIENTS;
#define PORT		18080
#define SEC		1000000000ull

static struct kgo_waitgroup wg;
static atomic_int good, bad_connect, bad_reply;
static char first_bad[160];

struct reply {
	int status;
	char body[64];
	bool closes;
};

/* Read one response from @fd (buffer @b of @len bytes kept across calls). */
static int read_reply(int fd, char *b, size_t *len, size_t cap, struct reply *rp)
{
	for (;;) {
		char *end = NULL, *cl;
		size_t blen;

		for (size_t i = 3; i < *len && !end; i++)
			if (!memcmp(b + i - 3, "\r\n\r\n", 4))
				end = b + i + 1;
		if (end && (cl = strstr(b, "Content-Length: ")) && cl < end) {
			size_t hdr = (size_t)(end - b);

			blen = strtoul(cl + 16, NULL, 10);
			if (*len >= hdr + blen && blen < sizeof(rp->body)) {
				if (sscanf(b, "HTTP/1.1 %d", &rp->status) != 1)
					return -1;
				rp->closes = strstr(b, "Connection: close") &&
					     strstr(b, "Connection: close") < end;
				memcpy(rp->body, end, blen);
				rp->body[blen] = 0;
				memmove(b, end + blen, *len - hdr - blen);
				*len -= hdr + blen;
				b[*len] = 0;
				return 0;
			}
		}
		if (*len + 1 >= cap)
			return -1;
		{
			ssize_t r = kgo_read_deadline(fd, b + *len, cap - 1 - *len,
						      kgo_nanotime() + 120 * SEC);

			if (r <= 0)
				return -1;
			*len += (size_t)r;
			b[*len] = 0;
		}
	}
}

static void note_bad(const char *what, int id)
{
	if (atomic_fetch_add(&bad_reply, 1) == 0)
		snprintf(first_bad, sizeof(first_bad), "client %d: %s", id, what);
}

static int dial(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0)
		return -1;
	if (kgo_connect_deadline(fd, (struct sockaddr *)&sa, sizeof(sa),
				 kgo_nanotime() + 30 * SEC)) {
		kgo_close(fd);
		return -1;
	}
	return fd;
}

static void client(void *arg)
{
	int id = (int)(intptr_t)arg, fd = dial();
	char req[256], buf[2048], want[32];
	size_t len = 0;
	struct reply rp;
	int n;

	if (fd < 0) {
		atomic_fetch_add(&bad_connect, 1);
		goto out;
	}
	n = snprintf(req, sizeof(req),
		     "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /sum/%d HTTP/1.1\r\nHost: x\r\n\r\n", id);
	if (kgo_write(fd, req, (size_t)n) != n) {
		note_bad("write", id);
		goto close;
	}
	if (read_reply(fd, buf, &len, sizeof(buf), &rp) || rp.status != 200 ||
	    strcmp(rp.body, "hello\n") || rp.closes) {
		note_bad("reply 1", id);
		goto close;
	}
	snprintf(want, sizeof(want), "%llu\n", (unsigned long long)id * (id + 1) / 2);
	if (read_reply(fd, buf, &len, sizeof(buf), &rp) || rp.status != 200 ||
	    strcmp(rp.body, want) || rp.closes) {
		note_bad("reply 2", id);
		goto close;
	}
	n = snprintf(req, sizeof(req), "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	if (kgo_write(fd, req, (size_t)n) != n ||
	    read_reply(fd, buf, &len, sizeof(buf), &rp) || rp.status != 404 || !rp.closes ||
	    kgo_read(fd, buf, sizeof(buf)) != 0) {
		note_bad("reply 3 (404, then the server closes)", id);
		goto close;
	}
	atomic_fetch_add(&good, 1);
close:
	kgo_close(fd);
out:
	kgo_waitgroup_done(&wg);
}

static pid_t server;
static const char *server_name = "examples/http_server.c";
static FILE *server_out;

static void clients_main(void *arg)
{
	char buf[256], line[256] = "";
	uint64_t t0, took;
	size_t len = 0;
	struct reply rp;
	int idle, status = -1;

	(void)arg;
	t0 = kgo_nanotime();
	kgo_waitgroup_add(&wg, nclients);
	for (int i = 1; i <= nclients; i++)
		kgo_go(client, (void *)(intptr_t)i);
	kgo_waitgroup_wait(&wg);
	took = kgo_nanotime() - t0;
	tap_ok_fmt(atomic_load(&good) == nclients,
		   "%d clients x 3 requests: %d fully right, %d could not connect, %d bad%s%s",
		   nclients, atomic_load(&good), atomic_load(&bad_connect),
		   atomic_load(&bad_reply), first_bad[0] ? ": " : "", first_bad);
	printf("# %s: %d requests in %.2f s: %.0f requests/s (clients on 2 Ps, same guest)\n",
	       server_name, 3 * nclients, (double)took / SEC, 3.0 * nclients * SEC / (double)took);

	/* An idle keep-alive connection while the server shuts down. */
	idle = dial();
	len = 0;
	kgo_write(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
	read_reply(idle, buf, &len, sizeof(buf), &rp);
	kill(server, SIGINT);
	tap_ok(kgo_read_deadline(idle, buf, sizeof(buf), kgo_nanotime() + 10 * SEC) == 0,
	       "SIGINT: an idle keep-alive connection sees end of file");
	kgo_close(idle);
	while (fgets(line, sizeof(line), server_out) && !strstr(line, "after"))
		;
	waitpid(server, &status, 0);
	snprintf(buf, sizeof(buf), "shut down gracefully after %d requests", 3 * nclients + 1);
	tap_ok_fmt(WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(line, buf),
		   "the server shuts down gracefully and exits 0: %s", strtok(line, "\n") ? line : "");
}

/*
 * net_http [SERVER]: with SERVER, a program to run instead of the
 * included example (examples/go_http_server, for the same load on Go's
 * net/http in the same guest); it is given -p PORT and must print the
 * same two lines, and take -r SECONDS (read timeout).
 */
int main(int argc, char **argv)
{
	struct kgo_config cfg = { .nprocs = 2 };
	struct rlimit rl;
	char portarg[16], line[128];
	int p[2], rc;

	const char *kernel = getenv("KGO_GUEST_KERNEL");

	if (kernel && !strcmp(kernel, "debug"))
		nclients = NCLIENTS_DEBUG;
	tap_watchdog(600);
	tap_plan(4);
	if (access("/dev/kgo", F_OK) || loopback_up()) {
		for (int i = 0; i < 4; i++)
			tap_skip_case("the HTTP server",
				      "/dev/kgo missing, or the loopback interface cannot be brought up");
		return tap_done();
	}
	rl.rlim_cur = rl.rlim_max = 65536;	/* root may raise the hard limit */
	if (setrlimit(RLIMIT_NOFILE, &rl) && !getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(portarg, sizeof(portarg), "%d", PORT);
	if (argc > 1)
		server_name = argv[1];
	if (pipe(p))
		return 1;
	fflush(stdout);
	server = fork();
	if (server == 0) {
		dup2(p[1], 1);
		close(p[0]);
		/* A generous read timeout: 1,000 clients under TCG are slow. */
		char *sargv[] = { argc > 1 ? argv[1] : "http_server", "-p", portarg, "-r", "120",
				  NULL };

		if (argc > 1) {
			execv(argv[1], sargv);
			_exit(127);
		}
		_exit(http_server_main(5, sargv));
	}
	close(p[1]);
	server_out = fdopen(p[0], "r");
	if (!fgets(line, sizeof(line), server_out) || !strstr(line, "listening on")) {
		tap_ok(false, "the server starts");
		return tap_done();
	}
	rc = kgo_main(clients_main, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
