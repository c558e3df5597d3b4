/* SPDX-License-Identifier: GPL-2.0 */
/*
 * When kgo needed which CPU, read from the kernel's own trace events
 * (for timing_util.h's verdicts).
 *
 * A witness probe that wakes late shows that its CPU was gone for that
 * long, but not whether kgo wanted that CPU then: with two CPUs and one
 * stopped, kgo may have been running on the other all along.  So while a
 * timing test measures, the kernel records sched_switch, sched_wakeup,
 * sched_migrate_task, hrtimer_start and hrtimer_expire_entry (clock mono,
 * with thread group ids), and afterwards they become, per CPU, the spans during which kgo
 * needed that CPU.  kgo's threads are the measured process's threads but
 * the witnesses, and kgo_sysmon.  One of them needs CPU c:
 *  - while it runs on c;
 *  - from when it is woken to run on c (sched_wakeup's target_cpu), or
 *    is preempted on c (switched out runnable), or is moved to c's queue
 *    while it waits (sched_migrate_task: a real-time thread pushed away
 *    from a CPU a higher one took), until it runs;
 *  - from the expiry of a timer it set (hrtimer_start's expires) until
 *    that timer fires on c, when it fires late: a sleep that ends on a
 *    timer (sysmon's passes, a poller's timeout) needs the CPU whose
 *    timer interrupt wakes it.
 * A CPU's stop delayed kgo only inside those spans.  They are a little
 * generous: a thread running on c needs c even when its progress is not
 * what the measurement waits for (a spinner inside its own slice), so a
 * stop of c then is excused too; that is bounded by the time kgo's
 * threads hold a CPU in the window.
 *
 * The events must have been enabled at boot (scripts/kgo-vm does): enabling
 * a tracepoint live patches the kernel's code, which QEMU's TCG can race
 * with (scripts/kgo-vm says more).  Here only tracing_on, the clock, the
 * buffer size and record-tgid are written, none of which patches code.
 * Without the events, or when the buffer lost any, nothing is known
 * (sched_trace_finish says why) and the verdicts fall back to the witnesses
 * alone.
 */
#ifndef KGO_TESTS_SCHED_TRACE_UTIL_H
#define KGO_TESTS_SCHED_TRACE_UTIL_H

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"
#include "spans_util.h"

#define TRACEFS		"/sys/kernel/tracing"
#define NEED_CPUS	64		/* CPUs followed */
#define NEED_THREADS	4096		/* kgo threads followed (a hash table) */
#define NEED_TIMERS	1024		/* timers followed (a hash table) */
#define NEED_BUFFER_KB	16384		/* per CPU: about 200,000 events */

enum need_state { NEED_ASLEEP, NEED_RUNNING, NEED_QUEUED };

struct need_thread {
	int tid;			/* 0: empty slot */
	enum need_state state;
	int cpu;
	int64_t since;
};

struct need_timer {
	uint64_t addr;			/* 0: empty slot */
	int64_t expires;		/* 0: not armed by a kgo thread */
};

/* The events read, as tracefs names them; need_line's cases in this order. */
enum {
	NEED_EV_SWITCH, NEED_EV_WAKEUP, NEED_EV_MIGRATE, NEED_EV_TIMER_START, NEED_EV_TIMER_FIRE,
};
static const char *const need_events[] = {
	"sched/sched_switch", "sched/sched_wakeup", "sched/sched_migrate_task",
	"timer/hrtimer_start", "timer/hrtimer_expire_entry",
};

static struct spans need_spans[NEED_CPUS];
static struct need_thread need_threads[NEED_THREADS];
static struct need_timer need_timers[NEED_TIMERS];
static char need_old_clock[32];
static long need_old_tgid = -1;
static long need_events_read;

/* The bracketed word of a tracefs choice list ("local [mono] ..."). */
static inline void need_chosen(const char *list, char *out, size_t size)
{
	const char *a = strchr(list, '['), *b = a ? strchr(a, ']') : NULL;

	out[0] = 0;
	if (a && b && (size_t)(b - a) < size) {
		memcpy(out, a + 1, (size_t)(b - a - 1));
		out[b - a - 1] = 0;
	}
}

/*
 * Recording on, from empty: NULL, or why it cannot be (then nothing is
 * known of kgo's CPUs).
 */
static inline const char *sched_trace_start(void)
{
	char path[160], buf[512];

	for (size_t i = 0; i < sizeof(need_events) / sizeof(need_events[0]); i++) {
		snprintf(path, sizeof(path), TRACEFS "/events/%s/enable", need_events[i]);
		if (file_long(path) != 1)
			return "the scheduler and timer events were not enabled at boot";
	}
	if (file_read(TRACEFS "/trace_clock", buf, sizeof(buf)) <= 0)
		return "no " TRACEFS "/trace_clock";
	need_chosen(buf, need_old_clock, sizeof(need_old_clock));
	need_old_tgid = file_long(TRACEFS "/options/record-tgid");
	if (file_long(TRACEFS "/buffer_size_kb") < NEED_BUFFER_KB) {
		snprintf(buf, sizeof(buf), "%d", NEED_BUFFER_KB);
		file_write(TRACEFS "/buffer_size_kb", buf);
	}
	if (file_write(TRACEFS "/trace_clock", "mono") ||
	    file_write(TRACEFS "/options/record-tgid", "1") ||
	    file_write(TRACEFS "/trace", "") ||
	    file_write(TRACEFS "/tracing_on", "1"))
		return "tracefs refused the settings";
	return NULL;
}

static inline struct need_thread *need_thread(int tid, bool add)
{
	unsigned int h = (unsigned int)tid * 2654435761u;

	if (tid <= 0)		/* the idle task, or no pid at all */
		return NULL;
	for (int i = 0; i < NEED_THREADS; i++) {
		struct need_thread *t = &need_threads[(h + (unsigned int)i) % NEED_THREADS];

		if (t->tid == tid)
			return t;
		if (!t->tid) {
			if (!add)
				return NULL;
			t->tid = tid;
			t->state = NEED_ASLEEP;
			return t;
		}
	}
	return NULL;
}

static inline struct need_timer *need_timer(uint64_t addr)
{
	unsigned int h = (unsigned int)(addr >> 4) * 2654435761u;

	if (!addr)
		return NULL;
	for (int i = 0; i < NEED_TIMERS; i++) {
		struct need_timer *t = &need_timers[(h + (unsigned int)i) % NEED_TIMERS];

		if (t->addr == addr || !t->addr) {
			t->addr = addr;
			return t;
		}
	}
	return NULL;
}

/* A number after @key in @s, or @dflt. */
static inline long long need_field(const char *s, const char *key, int base, long long dflt)
{
	const char *p = strstr(s, key);

	return p ? strtoll(p + strlen(key), NULL, base) : dflt;
}

/*
 * A trace line's head: "comm-pid (tgid) [cpu] flags secs.frac: event:".
 * @ev points at ": event:"; the task's pid, the CPU, the time (ns) and
 * whether the event came from an interrupt come back.
 */
static inline bool need_head(const char *line, const char *ev, int *pid, int *cpu, int64_t *ts,
			     bool *irq)
{
	const char *p = ev, *dot = NULL, *close;
	int64_t sec = 0, frac = 0, scale = 1;

	while (p > line && (isdigit((unsigned char)p[-1]) || p[-1] == '.')) {
		p--;
		if (*p == '.')
			dot = p;
	}
	if (!dot || dot == p)
		return false;
	for (const char *q = p; q < dot; q++)
		sec = sec * 10 + (*q - '0');
	for (const char *q = dot + 1; q < ev && scale < 1000000000; q++) {
		frac = frac * 10 + (*q - '0');
		scale *= 10;
	}
	*ts = sec * 1000000000 + frac * (1000000000 / scale);
	/* Back over the flags (when shown; the third says irq context) to "[cpu]". */
	*irq = false;
	for (int tok = 0; tok < 2; tok++) {
		while (p > line && p[-1] == ' ')
			p--;
		if (p > line && p[-1] == ']')
			break;
		while (p > line && p[-1] != ' ')
			p--;
		*irq = p[0] && p[1] && p[2] && p[2] != '.' && p[2] != ' ';
	}
	if (p <= line || p[-1] != ']')
		return false;
	close = --p;
	while (p > line && isdigit((unsigned char)p[-1]))
		p--;
	if (p == close || p <= line || p[-1] != '[')
		return false;
	*cpu = atoi(p);
	/* Then "(tgid)" when recorded, and "comm-pid". */
	p--;
	while (p > line && p[-1] == ' ')
		p--;
	if (p > line && p[-1] == ')') {
		while (p > line && p[-1] != '(')
			p--;
		if (p > line)
			p--;
		while (p > line && p[-1] == ' ')
			p--;
	}
	close = p;
	while (p > line && isdigit((unsigned char)p[-1]))
		p--;
	*pid = p < close && p > line && p[-1] == '-' ? atoi(p) : -1;
	return *cpu >= 0 && *cpu < NEED_CPUS;
}

/* @t stops needing what it needed, at @ts. */
static inline void need_end(struct need_thread *t, int64_t ts)
{
	if (t->state != NEED_ASLEEP)
		spans_push(&need_spans[t->cpu], t->since, ts);
	t->state = NEED_ASLEEP;
}

static inline void need_begin(struct need_thread *t, enum need_state state, int cpu, int64_t ts)
{
	t->state = state;
	t->cpu = cpu;
	t->since = ts;
}

/* kgo_sysmon is a kgo thread too: met by name in an event's comm field. */
static inline void need_note_sysmon(const char *line, const char *comm_key, const char *pid_key)
{
	char want[64];

	snprintf(want, sizeof(want), "%skgo_sysmon ", comm_key);
	if (strstr(line, want))
		need_thread((int)need_field(line, pid_key, 10, 0), true);
}

/* @t waits to run on @cpu from @ts (woken there, or moved to its queue). */
static inline void need_queue(struct need_thread *t, int cpu, int64_t ts)
{
	if (cpu < 0 || cpu >= NEED_CPUS)
		return;
	need_end(t, ts);
	need_begin(t, NEED_QUEUED, cpu, ts);
}

/* need_events[@e] as it appears in a trace line: ": sched_switch: ". */
static inline const char *need_tag(size_t e)
{
	static char tags[sizeof(need_events) / sizeof(need_events[0])][48];

	if (!tags[e][0])
		snprintf(tags[e], sizeof(tags[e]), ": %s: ", strchr(need_events[e], '/') + 1);
	return tags[e];
}

static inline void need_line(const char *line, int64_t *last)
{
	const char *ev = NULL;
	struct need_thread *t;
	struct need_timer *tm;
	int pid, cpu;
	int64_t ts;
	bool irq;
	size_t e;

	for (e = 0; e < sizeof(need_events) / sizeof(need_events[0]); e++)
		if ((ev = strstr(line, need_tag(e))))
			break;
	if (!ev || !need_head(line, ev, &pid, &cpu, &ts, &irq))
		return;
	switch (e) {
	case NEED_EV_SWITCH:
		need_note_sysmon(line, "prev_comm=", " prev_pid=");
		need_note_sysmon(line, "next_comm=", " next_pid=");
		t = need_thread((int)need_field(line, " prev_pid=", 10, 0), false);
		if (t) {
			const char *st = strstr(line, " prev_state=");

			need_end(t, ts);
			if (st && st[12] == 'R')
				need_begin(t, NEED_QUEUED, cpu, ts);
		}
		t = need_thread((int)need_field(line, " next_pid=", 10, 0), false);
		if (t) {
			need_end(t, ts);
			need_begin(t, NEED_RUNNING, cpu, ts);
		}
		break;
	case NEED_EV_WAKEUP:
		need_note_sysmon(line, " comm=", " pid=");
		t = need_thread((int)need_field(line, " pid=", 10, 0), false);
		if (t && t->state == NEED_ASLEEP)
			need_queue(t, (int)need_field(line, " target_cpu=", 10, -1), ts);
		break;
	case NEED_EV_MIGRATE:
		/* A woken or preempted thread moved to another CPU's queue (RT push, balancing). */
		t = need_thread((int)need_field(line, " pid=", 10, 0), false);
		if (t && t->state == NEED_QUEUED)
			need_queue(t, (int)need_field(line, " dest_cpu=", 10, -1), ts);
		break;
	case NEED_EV_TIMER_START:
		tm = need_timer((uint64_t)need_field(line, "hrtimer=", 16, 0));
		/* Set by a kgo thread, not by an interrupt that came while it ran. */
		if (tm)
			tm->expires = !irq && need_thread(pid, false) ?
				      need_field(line, " expires=", 10, 0) : 0;
		break;
	case NEED_EV_TIMER_FIRE:
		tm = need_timer((uint64_t)need_field(line, "hrtimer=", 16, 0));
		if (tm && tm->expires) {
			spans_push(&need_spans[cpu], tm->expires, ts);
			tm->expires = 0;
		}
		break;
	}
	need_events_read++;
	*last = ts;
}

/*
 * The spans, from a saved_tgids listing and a trace (tracefs's format),
 * for the threads of process @tgid but the @nexclude in @exclude, and
 * kgo_sysmon.  NULL when they are known, else why not.
 */
static inline const char *sched_need_parse(FILE *tgids, FILE *trace, int tgid,
					   const int *exclude, int nexclude)
{
	char *line = NULL;
	size_t cap = 0;
	int64_t last = 0;

	for (int c = 0; c < NEED_CPUS; c++)
		spans_free(&need_spans[c]);
	memset(need_threads, 0, sizeof(need_threads));
	memset(need_timers, 0, sizeof(need_timers));
	need_events_read = 0;
	while (getline(&line, &cap, tgids) > 0) {
		int pid, tg;
		bool skip = false;

		if (sscanf(line, "%d %d", &pid, &tg) != 2 || tg != tgid)
			continue;
		for (int i = 0; i < nexclude; i++)
			skip |= exclude[i] == pid;
		if (!skip)
			need_thread(pid, true);
	}
	while (getline(&line, &cap, trace) > 0) {
		if (strstr(line, "[LOST ")) {
			free(line);
			return "the trace lost events";
		}
		need_line(line, &last);
	}
	free(line);
	for (int i = 0; i < NEED_THREADS; i++)
		if (need_threads[i].tid)
			need_end(&need_threads[i], last);
	for (int c = 0; c < NEED_CPUS; c++)
		spans_merge(&need_spans[c]);
	if (!need_events_read)
		return "the trace is empty";
	return NULL;
}

/*
 * After a sched_trace_start that returned NULL: recording off,
 * sched_need_parse on what was recorded, then the clock and record-tgid
 * as they were (setting the clock empties the buffer, so not before).
 */
static inline const char *sched_trace_finish(int tgid, const int *exclude, int nexclude)
{
	static char why[160];
	const char *err = NULL;
	char path[96], buf[256];
	FILE *tgids, *trace;

	file_write(TRACEFS "/tracing_on", "0");
	for (int c = 0; c < NEED_CPUS && !err; c++) {
		snprintf(path, sizeof(path), TRACEFS "/per_cpu/cpu%d/stats", c);
		if (file_read(path, buf, sizeof(buf)) <= 0)
			break;
		if (need_field(buf, "overrun: ", 10, 0) > 0) {
			snprintf(why, sizeof(why), "CPU %d's trace buffer overran", c);
			err = why;
		}
	}
	tgids = fopen(TRACEFS "/saved_tgids", "r");
	trace = fopen(TRACEFS "/trace", "r");
	if (!err && tgids && trace)
		err = sched_need_parse(tgids, trace, tgid, exclude, nexclude);
	else if (!err)
		err = "no " TRACEFS "/saved_tgids or trace";
	if (tgids)
		fclose(tgids);
	if (trace)
		fclose(trace);
	if (need_old_clock[0])
		file_write(TRACEFS "/trace_clock", need_old_clock);
	if (need_old_tgid == 0)
		file_write(TRACEFS "/options/record-tgid", "0");
	return err;
}

/* The part of [@a, @b) in which kgo needed @cpu, pushed onto @out. */
static inline void sched_need_clip(int cpu, int64_t a, int64_t b, struct spans *out)
{
	if (cpu >= 0 && cpu < NEED_CPUS)
		spans_clip(&need_spans[cpu], a, b, out);
}

#endif /* KGO_TESTS_SCHED_TRACE_UTIL_H */
