/* SPDX-License-Identifier: MIT */
/*
 * kgo_signal_notify and kgo_signal_stop: deliver signals to channels (Go's
 * signal.Notify and signal.Stop).
 *
 * A signal handler may interrupt a thread inside any channel's critical
 * section, so it touches no channel: it writes the signal number, one
 * byte, into a non-blocking pipe (write(2) is async-signal-safe; a full
 * pipe drops the signal, as Go drops one for a full channel).  One plain
 * thread (not an M, all signals blocked), started with the first
 * registration and kept for the life of the process, reads the pipe and
 * offers each number to every channel registered for it with a send that
 * never blocks.  The registrations and each signal's previous action,
 * restored when no channel wants the signal any more, are guarded by a
 * pthread mutex the handler never takes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "block.h"

#define KGO_SIG_REGS	64

static struct {
	pthread_mutex_t lock;
	bool started;
	int pipe[2];
	struct {
		int signo;
		struct kgo_chan *c;
	} reg[KGO_SIG_REGS];
	bool installed[NSIG];
	struct sigaction old[NSIG];
} kgo_sig = { .lock = PTHREAD_MUTEX_INITIALIZER, .pipe = { -1, -1 } };

static void kgo_sig_handler(int signo)
{
	int saved = errno;
	unsigned char b = (unsigned char)signo;

	if (write(kgo_sig.pipe[1], &b, 1) < 0) {
		/* Full: dropped. */
	}
	errno = saved;
}

static void *kgo_sig_reader(void *arg)
{
	unsigned char b;

	(void)arg;
	for (;;) {
		int signo;

		if (read(kgo_sig.pipe[0], &b, 1) != 1) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		signo = b;
		pthread_mutex_lock(&kgo_sig.lock);
		for (int i = 0; i < KGO_SIG_REGS; i++)
			if (kgo_sig.reg[i].c && kgo_sig.reg[i].signo == signo)
				(void)kgo_chan_trysend(kgo_sig.reg[i].c, &signo);
		pthread_mutex_unlock(&kgo_sig.lock);
	}
}

/* The pipe and the reader thread, once.  Lock held.  0 or -errno. */
static int kgo_sig_start_locked(void)
{
	pthread_t th;
	int err;

	if (kgo_sig.started)
		return 0;
	if (pipe2(kgo_sig.pipe, O_CLOEXEC))
		return -errno;
	/* Only the writer side is non-blocking: the reader sleeps in read. */
	fcntl(kgo_sig.pipe[1], F_SETFL, O_NONBLOCK);
	err = kgo_thread_start(&th, kgo_sig_reader, NULL, KGO_THREAD_NO_SIGNALS);
	if (err) {
		close(kgo_sig.pipe[0]);
		close(kgo_sig.pipe[1]);
		kgo_sig.pipe[0] = kgo_sig.pipe[1] = -1;
		return err;
	}
	pthread_detach(th);
	kgo_sig.started = true;
	return 0;
}

/* Signals that cannot be caught, or that libkgo needs for itself. */
static bool kgo_sig_reserved(int signo)
{
	return signo == SIGKILL || signo == SIGSTOP || signo == SIGSEGV || signo == SIGBUS;
}

static bool kgo_sig_wanted_locked(int signo)
{
	for (int i = 0; i < KGO_SIG_REGS; i++)
		if (kgo_sig.reg[i].c && kgo_sig.reg[i].signo == signo)
			return true;
	return false;
}

static int kgo_sig_add_locked(int signo, struct kgo_chan *c)
{
	int free_slot = -1;

	for (int i = 0; i < KGO_SIG_REGS; i++) {
		if (kgo_sig.reg[i].c == c && kgo_sig.reg[i].signo == signo)
			return 0;
		if (!kgo_sig.reg[i].c && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return -ENOSPC;
	if (!kgo_sig.installed[signo]) {
		struct sigaction sa = { .sa_handler = kgo_sig_handler, .sa_flags = SA_RESTART };

		sigemptyset(&sa.sa_mask);
		if (sigaction(signo, &sa, &kgo_sig.old[signo]))
			return -errno;
		kgo_sig.installed[signo] = true;
	}
	kgo_sig.reg[free_slot].signo = signo;
	kgo_sig.reg[free_slot].c = c;
	return 0;
}

/* Restore @signo's old action if no channel wants it.  Lock held. */
static void kgo_sig_maybe_restore_locked(int signo)
{
	if (kgo_sig.installed[signo] && !kgo_sig_wanted_locked(signo)) {
		sigaction(signo, &kgo_sig.old[signo], NULL);
		kgo_sig.installed[signo] = false;
	}
}

/*
 * A fork's child: the reader thread is not there and the pipe is shared
 * with the parent, so the child's signals would go to the parent's
 * channels.  Drop every registration, put the old actions back, and let
 * the next kgo_signal_notify start afresh.
 */
void kgo_signal_forget_after_fork(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	kgo_sig.lock = fresh;
	for (int i = 0; i < KGO_SIG_REGS; i++)
		kgo_sig.reg[i].c = NULL;
	for (int s = 1; s < NSIG; s++)
		kgo_sig_maybe_restore_locked(s);
	if (kgo_sig.started) {
		close(kgo_sig.pipe[0]);
		close(kgo_sig.pipe[1]);
		kgo_sig.pipe[0] = kgo_sig.pipe[1] = -1;
		kgo_sig.started = false;
	}
}

int kgo_signal_notify(const sigset_t *set, struct kgo_chan *c)
{
	int err = 0;

	if (!set || !c || kgo_chan_elemsize(c) != sizeof(int))
		return -EINVAL;
	for (int s = 1; s < NSIG; s++)
		if (sigismember(set, s) == 1 && kgo_sig_reserved(s))
			return -EINVAL;
	pthread_mutex_lock(&kgo_sig.lock);
	err = kgo_sig_start_locked();
	for (int s = 1; s < NSIG && !err; s++)
		if (sigismember(set, s) == 1)
			err = kgo_sig_add_locked(s, c);
	if (err) {
		/* All or nothing: take back what this call added. */
		for (int i = 0; i < KGO_SIG_REGS; i++)
			if (kgo_sig.reg[i].c == c && sigismember(set, kgo_sig.reg[i].signo) == 1)
				kgo_sig.reg[i].c = NULL;
		for (int s = 1; s < NSIG; s++)
			kgo_sig_maybe_restore_locked(s);
	}
	pthread_mutex_unlock(&kgo_sig.lock);
	return err;
}

void kgo_signal_stop(struct kgo_chan *c)
{
	pthread_mutex_lock(&kgo_sig.lock);
	for (int i = 0; i < KGO_SIG_REGS; i++)
		if (kgo_sig.reg[i].c == c)
			kgo_sig.reg[i].c = NULL;
	for (int s = 1; s < NSIG; s++)
		kgo_sig_maybe_restore_locked(s);
	pthread_mutex_unlock(&kgo_sig.lock);
}
