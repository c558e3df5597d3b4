/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The error convention (kgo(7) ERRORS).  Programming errors are fatal
 * with a "kgo: fatal:" message, each checked in a forked child: a second
 * close of a channel, unlocking an unlocked mutex or rwmutex (for writing
 * or reading), a negative waitgroup.
 * Recoverable conditions return an error instead: a NULL value sent on a
 * channel of non-empty elements (send, trysend, select) is -EINVAL and
 * no receiver is woken with garbage; kgo_sleep returns 0.  And a program
 * that makes such errors prints nothing on stderr without KGO_DEBUG.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kgo.h>

#include "tap.h"

/* ---- fatal errors, each in a child ---- */

static void double_close(void)
{
	struct kgo_chan *c = kgo_chan_new(sizeof(int), 1);

	kgo_chan_close(c);
	kgo_chan_close(c);
}

static void unlock_unlocked(void)
{
	struct kgo_mutex mu = KGO_MUTEX_INIT;

	kgo_mutex_unlock(&mu);
}

static void negative_waitgroup(void)
{
	struct kgo_waitgroup wg = KGO_WAITGROUP_INIT;

	kgo_waitgroup_add(&wg, 1);
	kgo_waitgroup_done(&wg);
	kgo_waitgroup_done(&wg);
}

static void unlock_unlocked_rw(void)
{
	struct kgo_rwmutex rw = KGO_RWMUTEX_INIT;

	kgo_rwmutex_unlock(&rw);
}

static void runlock_unlocked_rw(void)
{
	struct kgo_rwmutex rw = KGO_RWMUTEX_INIT;

	kgo_rwmutex_rlock(&rw);
	kgo_rwmutex_runlock(&rw);
	kgo_rwmutex_runlock(&rw);
}

/*
 * Runs fn in a child with stderr on a pipe: whether it died of SIGABRT
 * and its message contains @want.
 */
static bool dies_with(void (*fn)(void), const char *want, char *msg, size_t size)
{
	int p[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	if (pipe(p))
		return false;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		fn();
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], msg + got, size - 1 - (size_t)got)) > 0)
		got += n;
	msg[got] = 0;
	close(p[0]);
	waitpid(pid, &status, 0);
	if (strchr(msg, '\n'))
		*strchr(msg, '\n') = 0;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(msg, want);
}

/* ---- recoverable errors, under kgo_main ---- */

static atomic_int got_value;

static void receiver(void *arg)
{
	int v = 0;

	if (kgo_chan_recv(arg, &v) == 1 && v == 42)
		atomic_store(&got_value, 1);
	else
		atomic_store(&got_value, -1);
}

static void main_g(void *arg)
{
	struct kgo_chan *c = kgo_chan_new(sizeof(int), 0);
	struct kgo_chan *sig = kgo_chan_new(0, 1);
	struct kgo_select_case cs[1] = { { .chan = c, .dir = KGO_SELECT_SEND, .elem = NULL } };
	int v = 42, r1, r2, r3;
	bool ok = true;

	(void)arg;
	kgo_go(receiver, c);
	kgo_sleep(5 * 1000000);		/* the receiver is waiting now */
	r1 = kgo_chan_send(c, NULL);
	r2 = kgo_chan_trysend(c, NULL);
	r3 = kgo_select(cs, 1, true);
	ok &= TAP_CHECK(atomic_load(&got_value) == 0);
	tap_ok_fmt(ok && r1 == -EINVAL && r2 == -EINVAL && r3 == -EINVAL,
		   "NULL on an int channel: send %d, trysend %d, select %d (-EINVAL), receiver not woken",
		   r1, r2, r3);
	ok = TAP_CHECK(kgo_chan_send(c, &v) == 0);
	while (!atomic_load(&got_value))
		kgo_yield();
	tap_ok(ok && atomic_load(&got_value) == 1, "the receiver then gets the real value");

	ok = TAP_CHECK(kgo_chan_send(sig, NULL) == 0);
	ok &= TAP_CHECK(kgo_chan_recv(sig, NULL) == 1);
	tap_ok(ok, "NULL is fine on a channel of empty elements");
	tap_ok(kgo_sleep(1000000) == 0 && kgo_sleep(0) == 0, "kgo_sleep returns 0");
	kgo_chan_free(c);
	kgo_chan_free(sig);
}

int main(void)
{
	char msg[512], path[] = "/tmp/kgo-api-errors-XXXXXX";
	struct kgo_config cfg = { .nprocs = 2 };
	int fd, saved, rc;
	ssize_t n;

	tap_watchdog(120);
	tap_plan(11);
	unsetenv("KGO_DEBUG");
	tap_ok_fmt(dies_with(double_close, "kgo: fatal: kgo_chan_close: close of closed channel",
			     msg, sizeof(msg)), "a second close is fatal: %s", msg);
	tap_ok_fmt(dies_with(unlock_unlocked, "kgo: fatal: kgo_mutex_unlock of an unlocked mutex",
			     msg, sizeof(msg)), "unlocking an unlocked mutex is fatal: %s", msg);
	tap_ok_fmt(dies_with(unlock_unlocked_rw, "kgo: fatal: kgo_rwmutex_unlock of an unlocked",
			     msg, sizeof(msg)), "unlocking an unlocked rwmutex is fatal: %s", msg);
	tap_ok_fmt(dies_with(runlock_unlocked_rw, "kgo: fatal: kgo_rwmutex_runlock of an unlocked",
			     msg, sizeof(msg)), "runlocking an unlocked rwmutex is fatal: %s", msg);
	tap_ok_fmt(dies_with(negative_waitgroup, "negative count", msg, sizeof(msg)),
		   "a negative waitgroup is fatal: %s", msg);

	if (access("/dev/kgo", F_OK)) {
		for (int i = 0; i < 6; i++)
			tap_skip_case("under kgo_main", "/dev/kgo missing: is kgo.ko loaded?");
		return tap_done();
	}
	/* Everything under kgo_main runs with stderr captured. */
	fd = mkstemp(path);
	unlink(path);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	rc = kgo_main(main_g, NULL, &cfg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, msg, sizeof(msg) - 1, 0);
	msg[n > 0 ? n : 0] = 0;
	close(fd);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	tap_ok_fmt(n == 0, "nothing on stderr without KGO_DEBUG (\"%s\")", msg);
	return tap_done();
}
