/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The I/O calls block in the kernel as a goroutine's own system call
 * does, so that sysmon hands their P to another M (issue 16, "library
 * invariants").  On 2 Ps with a 1 ms slice, two spinning goroutines count
 * their progress while, case by case, two goroutines block at once in
 *   - kgo_read of an empty blocking pipe (no O_NONBLOCK),
 *   - kgo_write into a full blocking pipe,
 *   - kgo_accept on a blocking listening socket with nobody connecting,
 *   - kgo_connect of a blocking Unix socket to a listener whose backlog
 *     is full,
 *   - kgo_read of a regular file into a buffer whose page is missing
 *     under userfaultfd: the read(2) sleeps in the kernel as on a slow
 *     disk, and a regular file never says EAGAIN (stock kernels: the
 *     debug kernel is built without CONFIG_USERFAULTFD, a counted skip),
 *   - kgo_close of a TCP socket with SO_LINGER whose unsent data the peer
 *     does not read yet.
 * Two blocked calls would hold both Ps if they blocked in the library
 * (and the second call, queued on the first's P, might never start).  A
 * plain thread waits until both have started, then until the spinners
 * count again (at most SHARE_NS), then checks that they still count over
 * a further HOLD_NS with both calls still blocked, and only then lets the
 * calls finish (writes, drains, connects, accepts, resolves the faults,
 * reads the peers); each call's result is checked too.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "linger_util.h"
#include "net_util.h"
#include "sysmon_util.h"

#define SETTLE_NS	20000000LL	/* after both calls started */
#define SHARE_NS	3000000000LL	/* the most a handoff may take */
#define HOLD_NS		50000000LL	/* progress with both still blocked */
#define PAGE		4096

struct blocker {
	const char *name;
	int (*setup)(void);		/* main goroutine; 0, or -1: skip */
	ssize_t (*call)(int i);		/* goroutine i (0, 1): the blocking call */
	void (*release)(void);		/* the plain thread: let both finish */
	bool (*result_ok)(int i, ssize_t r);
	void (*teardown)(void);
};

static atomic_bool stop_spin;
static atomic_ulong spins;
static atomic_int started, finished;
static ssize_t results[2];
static struct kgo_sema done;
static const struct blocker *cur;
static const char *skip_why;		/* set by a setup that returns -1 */

/* ---- kgo_read of an empty blocking pipe ---- */

static int pipes[2][2];

static int read_setup(void)
{
	return pipe(pipes[0]) || pipe(pipes[1]) ? -1 : 0;
}

static char rbuf[2][PAGE];

static ssize_t read_call(int i)
{
	return kgo_read(pipes[i][0], rbuf[i], sizeof(rbuf[i]));
}

static void read_release(void)
{
	for (int i = 0; i < 2; i++)
		if (write(pipes[i][1], "kgo-read", 8) != 8)
			perror("write");
}

static bool read_ok(int i, ssize_t r)
{
	return r == 8 && memcmp(rbuf[i], "kgo-read", 8) == 0;
}

static void pipes_teardown(void)
{
	for (int i = 0; i < 2; i++) {
		close(pipes[i][0]);
		close(pipes[i][1]);
	}
}

/* ---- kgo_write into a full blocking pipe ---- */

static int write_setup(void)
{
	static char junk[PAGE];

	if (read_setup())
		return -1;
	for (int i = 0; i < 2; i++) {
		int fl = fcntl(pipes[i][1], F_GETFL);

		if (fl < 0 || fcntl(pipes[i][1], F_SETFL, fl | O_NONBLOCK))
			return -1;
		while (write(pipes[i][1], junk, sizeof(junk)) > 0)
			;
		while (write(pipes[i][1], junk, 1) > 0)
			;
		if (fcntl(pipes[i][1], F_SETFL, fl))
			return -1;
	}
	return 0;
}

static ssize_t write_call(int i)
{
	return kgo_write(pipes[i][1], "kgo-write", 9);
}

static void write_release(void)
{
	static char drain[1 << 16];

	for (int i = 0; i < 2; i++) {
		int fl = fcntl(pipes[i][0], F_GETFL);

		fcntl(pipes[i][0], F_SETFL, fl | O_NONBLOCK);
		while (read(pipes[i][0], drain, sizeof(drain)) > 0)
			;
		fcntl(pipes[i][0], F_SETFL, fl);
	}
}

static bool write_ok(int i, ssize_t r)
{
	(void)i;
	return r == 9;
}

/* ---- kgo_accept and kgo_connect on blocking Unix sockets ---- */

static int lsn[2] = { -1, -1 }, conn[2] = { -1, -1 }, extra = -1;
static struct sockaddr_un uaddr[2];

/* A blocking listener at an abstract address of its own. */
static int unix_listener(int i, int backlog)
{
	uaddr[i].sun_family = AF_UNIX;
	snprintf(uaddr[i].sun_path + 1, sizeof(uaddr[i].sun_path) - 1,
		 "kgo-lib-inv-%d-%d", (int)getpid(), i);
	lsn[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lsn[i] < 0 || bind(lsn[i], (struct sockaddr *)&uaddr[i], sizeof(uaddr[i])) ||
	    listen(lsn[i], backlog))
		return -1;
	return 0;
}

static int accept_setup(void)
{
	conn[0] = conn[1] = -1;
	return unix_listener(0, 4) || unix_listener(1, 4) ? -1 : 0;
}

static ssize_t accept_call(int i)
{
	return kgo_accept(lsn[i], NULL, NULL, SOCK_CLOEXEC);
}

static void accept_release(void)
{
	for (int i = 0; i < 2; i++) {
		conn[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (conn[i] < 0 || connect(conn[i], (struct sockaddr *)&uaddr[i], sizeof(uaddr[i])))
			perror("connect");
	}
}

static bool accept_ok(int i, ssize_t r)
{
	(void)i;
	if (r < 0)
		return false;
	close((int)r);
	return true;
}

static void sockets_teardown(void)
{
	for (int i = 0; i < 2; i++) {
		if (lsn[i] >= 0)
			close(lsn[i]);
		if (conn[i] >= 0)
			close(conn[i]);
		lsn[i] = conn[i] = -1;
	}
	if (extra >= 0)
		close(extra);
	extra = -1;
}

/*
 * Backlog 0 holds one pending connection: the extra one fills it, and
 * connects on blocking sockets then sleep until an accept makes room.
 */
static int connect_setup(void)
{
	lsn[1] = -1;
	if (unix_listener(0, 0))
		return -1;
	extra = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (extra < 0 || connect(extra, (struct sockaddr *)&uaddr[0], sizeof(uaddr[0])))
		return -1;
	for (int i = 0; i < 2; i++) {
		conn[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (conn[i] < 0)
			return -1;
	}
	return 0;
}

static ssize_t connect_call(int i)
{
	return kgo_connect(conn[i], (struct sockaddr *)&uaddr[0], sizeof(uaddr[0]));
}

static void connect_release(void)
{
	/* The extra one and both callers'; each accept makes room for one. */
	for (int i = 0; i < 3; i++) {
		int s = accept4(lsn[0], NULL, NULL, SOCK_CLOEXEC);

		if (s < 0)
			perror("accept");
		else
			close(s);
	}
}

static bool connect_ok(int i, ssize_t r)
{
	(void)i;
	return r == 0;
}

/* ---- kgo_read of a regular file, the page under userfaultfd ---- */

static int uffd = -1, files[2] = { -1, -1 };
static char *upages;
static int file_setup(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	static char content[PAGE];

	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0) {
		if (errno == ENOSYS)
			skip_why = "the kernel has no userfaultfd (CONFIG_USERFAULTFD off)";
		return -1;
	}
	upages = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (upages == MAP_FAILED || ioctl(uffd, UFFDIO_API, &api))
		return -1;
	reg.range.start = (uintptr_t)upages;
	reg.range.len = 2 * PAGE;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return -1;
	for (int i = 0; i < PAGE; i++)
		content[i] = (char)(i * 13);
	for (int i = 0; i < 2; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/tmp/kgo-lib-inv-%d-%d", (int)getpid(), i);
		files[i] = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		unlink(path);
		if (files[i] < 0 || pwrite(files[i], content, PAGE, 0) != PAGE ||
		    lseek(files[i], 0, SEEK_SET))
			return -1;
	}
	return 0;
}

static ssize_t file_call(int i)
{
	/* The copy to the missing page sleeps until the fault is resolved. */
	return kgo_read(files[i], upages + i * PAGE, PAGE);
}

static void file_release(void)
{
	/* Zero pages, woken: the faulting copies then go through. */
	struct uffdio_zeropage z = { .range = { (uintptr_t)upages, 2 * PAGE } };

	if (ioctl(uffd, UFFDIO_ZEROPAGE, &z))
		perror("UFFDIO_ZEROPAGE");
}

static bool file_ok(int i, ssize_t r)
{
	if (r != PAGE)
		return false;
	for (int k = 0; k < PAGE; k++)
		if (upages[i * PAGE + k] != (char)(k * 13))
			return false;
	return true;
}

static void file_teardown(void)
{
	for (int i = 0; i < 2; i++)
		if (files[i] >= 0)
			close(files[i]);
	if (upages && upages != MAP_FAILED)
		munmap(upages, 2 * PAGE);
	if (uffd >= 0)
		close(uffd);
	files[0] = files[1] = uffd = -1;
	upages = NULL;
}

static const struct blocker file_case = {
	"kgo_read of a regular file (page under userfaultfd)", file_setup, file_call,
	file_release, file_ok, file_teardown,
};

/* ---- kgo_close of a lingering TCP socket ---- */

static int tcp_peer[2] = { -1, -1 };

static int close_setup(void)
{
	if (loopback_up()) {
		skip_why = "no loopback interface";
		return -1;
	}
	for (int i = 0; i < 2; i++)
		if (lingering_socket(&conn[i], &tcp_peer[i]))
			return -1;
	return 0;
}

static ssize_t close_call(int i)
{
	return kgo_close(conn[i]);
}

static void close_release(void)
{
	for (int i = 0; i < 2; i++)
		drain_peer(tcp_peer[i]);
}

static bool close_ok(int i, ssize_t r)
{
	conn[i] = -1;	/* closed, one way or another */
	return r == 0;
}

static void close_teardown(void)
{
	for (int i = 0; i < 2; i++) {
		if (tcp_peer[i] >= 0)
			close(tcp_peer[i]);
		if (conn[i] >= 0)
			close(conn[i]);
		tcp_peer[i] = conn[i] = -1;
	}
}

static const struct blocker close_case = {
	"kgo_close of a lingering TCP socket", close_setup, close_call, close_release,
	close_ok, close_teardown,
};

static const struct blocker read_case = {
	"kgo_read of an empty blocking pipe", read_setup, read_call, read_release,
	read_ok, pipes_teardown,
};
static const struct blocker write_case = {
	"kgo_write into a full blocking pipe", write_setup, write_call, write_release,
	write_ok, pipes_teardown,
};
static const struct blocker accept_case = {
	"kgo_accept on a blocking listening socket", accept_setup, accept_call,
	accept_release, accept_ok, sockets_teardown,
};
static const struct blocker connect_case = {
	"kgo_connect of a blocking socket to a full backlog", connect_setup, connect_call,
	connect_release, connect_ok, sockets_teardown,
};

static const struct blocker *const cases[] = {
	&read_case, &write_case, &accept_case, &connect_case, &file_case, &close_case,
};
#define NCASES	((int)(sizeof(cases) / sizeof(cases[0])))

/* What the plain thread saw in one case. */
struct watch {
	int nstarted;			/* blockers started within SHARE_NS */
	bool both_started, shared, held, still_blocked;
	int64_t share_ns;		/* from SETTLE to the first count */
	unsigned long held_spins;	/* counted over HOLD_NS */
	struct kgo_stats_user before, during;	/* the case's start, before release */
};

static void spinner(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop_spin, memory_order_relaxed))
		atomic_fetch_add_explicit(&spins, 1, memory_order_relaxed);
	kgo_sema_release(&done);
}

static void blocker_g(void *arg)
{
	int i = (int)(intptr_t)arg;

	atomic_fetch_add(&started, 1);
	results[i] = cur->call(i);
	atomic_fetch_add(&finished, 1);
	kgo_sema_release(&done);
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };

	nanosleep(&ts, NULL);
}

/* The plain thread: watch the spinners while both calls block, then release. */
static void *watcher(void *arg)
{
	struct watch *w = arg;
	int64_t t0, deadline = now_ns() + SHARE_NS;
	unsigned long c0, c1;

	while (atomic_load(&started) < 2 && now_ns() < deadline)
		sleep_ns(1000000);
	w->nstarted = atomic_load(&started);
	w->both_started = w->nstarted == 2;
	sleep_ns(SETTLE_NS);
	t0 = now_ns();
	c0 = atomic_load(&spins);
	while (atomic_load(&spins) == c0 && now_ns() - t0 < SHARE_NS)
		sleep_ns(1000000);
	w->share_ns = now_ns() - t0;
	w->shared = atomic_load(&spins) != c0;
	c0 = atomic_load(&spins);
	sleep_ns(HOLD_NS);
	c1 = atomic_load(&spins);
	w->held_spins = c1 - c0;
	w->held = c1 != c0;
	w->still_blocked = atomic_load(&finished) == 0;
	w->during = stats_now();
	cur->release();
	return NULL;
}

static void run_case(const struct blocker *b)
{
	struct watch w = { 0 };
	bool ok0, ok1;
	pthread_t t;

	cur = b;
	atomic_store(&started, 0);
	atomic_store(&finished, 0);
	results[0] = results[1] = -12345;
	skip_why = NULL;
	if (b->setup()) {
		b->teardown();
		if (skip_why) {
			tap_skip_case(b->name, skip_why);
		} else {
			snprintf(tap_why, sizeof(tap_why), "setup failed: %s", strerror(errno));
			tap_ok(false, b->name);
		}
		return;
	}
	w.before = stats_now();
	if (pthread_create(&t, NULL, watcher, &w)) {
		tap_ok(false, "pthread_create");
		return;
	}
	kgo_go(blocker_g, (void *)0);
	kgo_go(blocker_g, (void *)1);
	kgo_sema_acquire(&done);
	kgo_sema_acquire(&done);
	pthread_join(t, NULL);
	ok0 = b->result_ok(0, results[0]);
	ok1 = b->result_ok(1, results[1]);
	TAP_CHECK(w.both_started);
	TAP_CHECK(w.shared);
	TAP_CHECK(w.held);
	TAP_CHECK(w.still_blocked);
	TAP_CHECK(ok0);
	TAP_CHECK(ok1);
	tap_ok_fmt(w.both_started && w.shared && w.held && w.still_blocked && ok0 && ok1,
		   "%s: %d of 2 calls started, the spinners ran %.1f ms later, %lu "
		   "counts in the next %lld ms (results %zd, %zd)",
		   b->name, w.nstarted, w.share_ns / 1e6, w.held_spins, HOLD_NS / 1000000,
		   results[0], results[1]);
	printf("# %llu handoffs, %llu exitsyscalls, %llu sysmon wakeps meanwhile; then %u "
	       "Ms (%u asleep), %u idle Ps, %u Gs in the global queue\n",
	       (unsigned long long)(w.during.handoffs - w.before.handoffs),
	       (unsigned long long)(w.during.exitsyscalls - w.before.exitsyscalls),
	       (unsigned long long)(w.during.sysmon_wakeps - w.before.sysmon_wakeps),
	       w.during.nms, w.during.nmidle, w.during.npidle, w.during.gq_len);
	b->teardown();
}

static struct kgo_stats_user st;

static void main_fn(void *arg)
{
	struct kgo_stats_user st0 = stats_now();

	(void)arg;
	kgo_go(spinner, NULL);
	kgo_go(spinner, NULL);
	for (int i = 0; i < NCASES; i++)
		run_case(cases[i]);
	atomic_store(&stop_spin, true);
	kgo_sema_acquire(&done);
	kgo_sema_acquire(&done);
	st = stats_now();
	st.handoffs -= st0.handoffs;
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2, .slice_ns = KGO_SLICE_MIN };
	int rc;

	need_sysmon(NCASES + 1);
	tap_watchdog(300);
	signal(SIGPIPE, SIG_IGN);
	tap_plan(NCASES + 1);
	rc = kgo_main(main_fn, NULL, &cfg);
	printf("# %llu handoffs\n", (unsigned long long)st.handoffs);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
