/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo_signal_notify / kgo_signal_stop.  Without kgo_main (runs on the
 * host): SIGUSR1 raised reaches a channel, and main blocks on it as a
 * plain thread; SIGUSR2 reaches both of two channels; a full channel
 * drops, nothing blocks; stop restores the action the signal had before
 * (SIG_IGN here); bad arguments are -EINVAL.  Under kgo_main on 2 Ps: a
 * goroutine parked in a receive gets the SIGINT another goroutine sends
 * to the process.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <kgo.h>

#include "tap.h"

#define MS	1000000ull

static int got_in_goroutine;
static struct kgo_waitgroup wg;

static void sig_receiver(void *arg)
{
	int s = 0;

	if (kgo_chan_recv_deadline(arg, &s, kgo_nanotime() + 5000 * MS) == 1)
		got_in_goroutine = s;
	kgo_waitgroup_done(&wg);
}

static void main_g(void *arg)
{
	struct kgo_chan *c = kgo_chan_new(sizeof(int), 1);
	sigset_t set;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	kgo_signal_notify(&set, c);
	kgo_waitgroup_add(&wg, 1);
	kgo_go(sig_receiver, c);
	kgo_sleep(10 * MS);
	kill(getpid(), SIGINT);
	kgo_waitgroup_wait(&wg);
	kgo_signal_stop(c);
	kgo_chan_free(c);
	tap_ok_fmt(got_in_goroutine == SIGINT, "a parked goroutine receives SIGINT (%d)",
		   got_in_goroutine);
}

int main(void)
{
	struct kgo_chan *a = kgo_chan_new(sizeof(int), 4), *b = kgo_chan_new(sizeof(int), 1);
	struct kgo_chan *bad = kgo_chan_new(1, 1);
	struct kgo_config cfg = { .nprocs = 2 };
	struct sigaction now;
	sigset_t set;
	int s = 0, s2 = 0, r1, r2, rc;

	tap_watchdog(60);
	tap_plan(7);
	signal(SIGUSR2, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	r1 = kgo_signal_notify(&set, a);
	raise(SIGUSR1);
	tap_ok(r1 == 0 && kgo_chan_recv(a, &s) == 1 && s == SIGUSR1,
	       "a raised SIGUSR1 arrives on the channel (main blocked in recv)");

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	r1 = kgo_signal_notify(&set, b);
	raise(SIGUSR2);
	r2 = kgo_chan_recv(b, &s2);
	tap_ok(r1 == 0 && r2 == 1 && s2 == SIGUSR2 && kgo_chan_recv(a, &s) == 1 && s == SIGUSR2,
	       "SIGUSR2 reaches both channels that asked for it");

	raise(SIGUSR2);
	raise(SIGUSR2);		/* b holds one: the second is dropped for b */
	kgo_chan_recv(a, &s);
	kgo_chan_recv(a, &s);
	tap_ok(kgo_chan_len(b) == 1 && kgo_chan_len(a) == 0, "a full channel drops, nothing blocks");

	kgo_signal_stop(a);
	kgo_signal_stop(b);
	sigaction(SIGUSR2, NULL, &now);
	tap_ok(now.sa_handler == SIG_IGN, "after stop SIGUSR2 is ignored again, as before");

	sigemptyset(&set);
	sigaddset(&set, SIGSEGV);
	r1 = kgo_signal_notify(&set, a);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	r2 = kgo_signal_notify(&set, bad);
	tap_ok_fmt(r1 == -EINVAL && r2 == -EINVAL && kgo_signal_notify(NULL, a) == -EINVAL,
		   "SIGSEGV, a channel of bytes, a NULL set: -EINVAL (%d, %d)", r1, r2);
	kgo_chan_free(a);
	kgo_chan_free(b);
	kgo_chan_free(bad);

	if (access("/dev/kgo", F_OK)) {
		for (int i = 0; i < 2; i++)
			tap_skip_case("under kgo_main", "/dev/kgo missing: is kgo.ko loaded?");
		return tap_done();
	}
	rc = kgo_main(main_g, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
