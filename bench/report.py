#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the benchmark guest's output (bench/guest.sh) into the results.

    report.py LOG... --csv FILE [--plots DIR] [--md FILE] [--host-load "a b c;..."]

Each LOG is one guest boot (bench/run.sh runs BENCH_RUNS of them) and holds
RESULT, SYSCALLS, STAT, SKIP, FAIL and INFO lines among others.  Writes the
CSV (workload,nprocs,impl,boot,median,min,max,samples,unit: one row per
boot, and one with boot "all" for every sample of every boot), prints the
table, optionally writes it as Markdown, and draws the scaling curves with
gnuplot into DIR.

The table gives, for each workload and nprocs, the median of all samples
of each implementation, then the kgo/Go ratio of each boot (the ratio of
that boot's medians) and the worst of them.  A target is met only when
the WORST boot meets it: the highest ratio for a ratio target, the highest
of kgo's per-boot medians for an absolute one.  Exits 1 if any benchmark
program failed.

echo differs in two ways.  Its main figure, round trips per second, is
better when higher: its ratio targets are "at least" (kgo/go >= 1), and
the worst boot is the one with the LOWEST ratio.  And it is also compared
with a fourth implementation, epoll (a hand-written event loop): a second
row per nprocs, "echo vs epoll", gives kgo/epoll.  The epoll column is
there only when some figure has one.
"""
import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile

# workload: (ratio target kgo/go, absolute target for kgo).  A ratio
# target is an upper bound (kgo at most that many times Go's figure:
# times, lower is better), except in HIGHER_IS_BETTER workloads.
TARGETS = {
    "yield": (0.5, None),
    "yield-global": (0.5, None),
    "spawn": (0.7, None),
    "pingpong": (0.7, None),
    "skynet": (0.8, None),
    "skynet-chan": (0.8, None),
    "preempt": (0.5, None),
    "blocked": (0.1, None),
    "mem": (None, 8192),
    "mem-1m": (None, 8192),     # the same bound with a million parked
    "syscalls-yield": (None, 0.01),
    "syscalls-spawn": (None, 0.01),
    "syscalls-pingpong": (None, 0.01),
    "echo": (1.0, None),        # kgo's round trips per second at least Go's
    "echo-p99": (1.0, None),    # kgo's p99 latency at most Go's
}
# Figures where more is better: a ratio target is a lower bound, and the
# worst boot is the one with the lowest ratio.
HIGHER_IS_BETTER = {"echo"}
# Ratio targets of kgo against another implementation than Go; each is a
# row of its own, "<workload> vs <impl>", beside the kgo/Go row.
# "Within 20% of the epoll loop": at least 0.8 of its round trips per
# second, at most 1.2 times its p99 latency.
OTHER_TARGETS = {
    "echo": [("epoll", 0.8)],
    "echo-p99": [("epoll", 1.2)],
}
# What a row compares, where the implementations do not do the same thing.
NOTES = {
    "yield": "not like with like: kgo_yield puts the G at the tail of its P's local "
             "ring, Go's Gosched on the global run queue (under a lock); yield-global "
             "is the like-with-like comparison",
    "yield-global": "like with like: kgo through its global run queue (the internal "
                    "kgo_yield_global: a READY ioctl, then the G comes back through "
                    "the scheduler's look at the global queue), Go's Gosched; "
                    "pthreads have no global queue",
    "syscalls-yield-global": "kgo's global run queue is in the kernel: an ioctl per "
                             "put (Go's is a lock in user space)",
}
ORDER = ["yield", "yield-global", "spawn", "pingpong", "skynet", "skynet-chan", "fib", "mem",
         "mem-1m", "preempt", "blocked", "echo", "echo-p99", "syscalls-yield",
         "syscalls-yield-global", "syscalls-spawn", "syscalls-pingpong", "ioctls-yield",
         "ioctls-yield-global", "ioctls-spawn", "ioctls-pingpong", "ioctls-echo"]
IMPLS = ["kgo", "go", "pthread", "epoll"]
WHAT = {
    "yield": "ns per switch",
    "yield-global": "ns per switch",
    "spawn": "ns per G",
    "pingpong": "ns per round trip",
    "skynet": "ms",
    "skynet-chan": "ms",
    "fib": "ms",
    "mem": "bytes per parked G",
    "mem-1m": "bytes per parked G, a million parked",
    "preempt": "ms worst lateness",
    "blocked": "ms worst stall",
    "echo": "round trips per second (higher is better)",
    "echo-p99": "us, p99 latency of a round trip",
}


class Boot:
    """What one guest boot's log holds."""

    def __init__(self, path):
        self.path = path
        self.samples = collections.defaultdict(list)  # (workload, nprocs, impl) -> [values]
        self.units = {}
        self.info, self.skips, self.fails, self.bad = {}, [], [], []
        with open(path, errors="replace") as f:
            for line in f:
                self.line(line.split())

    def add(self, key, value, unit):
        self.samples[key].append(value)
        self.units[key] = unit

    def line(self, w):
        if not w:
            return
        if w[0] == "RESULT" and len(w) == 6:
            self.add((w[1], int(w[2]), w[3]), float(w[5]), w[4])
        elif w[0] == "STAT" and len(w) == 6 and w[4] == "ioctls_per_op":
            self.add(("ioctls-" + w[1], int(w[2]), w[3]), float(w[5]), "ioctls/op")
        elif w[0] == "SYSCALLS" and len(w) == 8:
            c1, o1, c2, o2 = (int(x) for x in w[4:8])
            if o2 > o1:
                # No clamp: a negative difference (the scale-1 run made
                # more calls than the scale-2 one) is noise, and shows.
                self.add(("syscalls-" + w[1], int(w[2]), w[3]), (c2 - c1) / (o2 - o1),
                         "syscalls/op")
            else:
                self.bad.append("%s: %s (no more operations at scale 2)"
                                % (os.path.basename(self.path), " ".join(w)))
        elif w[0] == "INFO" and len(w) >= 2:
            self.info[w[1]] = " ".join(w[2:])
        elif w[0] == "SKIP":
            if " ".join(w[1:]) not in self.skips:
                self.skips.append(" ".join(w[1:]))
        elif w[0] == "FAIL":
            self.fails.append("%s: %s" % (os.path.basename(self.path), " ".join(w[1:])))

    def medians(self):
        return {k: statistics.median(v) for k, v in self.samples.items()}


def sort_key(key):
    w, n, impl = key
    return (ORDER.index(w) if w in ORDER else len(ORDER), w, n,
            IMPLS.index(impl) if impl in IMPLS else 9)


def pooled(boots):
    """(workload, nprocs, impl) -> (median, min, max, samples) over every boot."""
    allv = collections.defaultdict(list)
    for b in boots:
        for k, v in b.samples.items():
            allv[k].extend(v)
    return {k: (statistics.median(v), min(v), max(v), len(v)) for k, v in allv.items()}


def write_csv(boots, rows, units, path):
    with open(path, "w") as f:
        f.write("workload,nprocs,impl,boot,median,min,max,samples,unit\n")
        for key in sorted(rows, key=sort_key):
            for i, b in enumerate(boots, 1):
                v = b.samples.get(key)
                if v:
                    f.write("%s,%d,%s,%d,%.6g,%.6g,%.6g,%d,%s\n" % (
                        key[0], key[1], key[2], i, statistics.median(v), min(v), max(v),
                        len(v), units[key]))
            med, lo, hi, n = rows[key]
            f.write("%s,%d,%s,all,%.6g,%.6g,%.6g,%d,%s\n" % (key[0], key[1], key[2], med, lo,
                                                              hi, n, units[key]))


def fmt(v):
    if v is None:
        return "-"
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 1:
        return "%.3g" % v
    return "%.2g" % v


def boot_ratios(boots, w, n, base="go"):
    """The kgo/base ratio of each boot's medians (None where one is missing)."""
    out = []
    for b in boots:
        m = b.medians()
        k, g = m.get((w, n, "kgo")), m.get((w, n, base))
        out.append(k / g if k is not None and g else None)
    return out


def comparisons(w):
    """The rows of a workload: (base, ratio target or None), Go's first."""
    return [("go", TARGETS.get(w, (None, None))[0])] + OTHER_TARGETS.get(w, [])


def verdicts(boots, rows):
    """(workload, nprocs, base) -> (per-boot figures, worst, target text, met)."""
    out = {}
    for w, n in {(k[0], k[1]) for k in rows}:
        at = TARGETS.get(w, (None, None))[1]
        higher = w in HIGHER_IS_BETTER
        for base, rt in comparisons(w):
            if base == "go" and at is not None:
                per = [b.medians().get((w, n, "kgo")) for b in boots]
                target = "kgo <= %g" % at
                limit = at
            else:
                per = boot_ratios(boots, w, n, base)
                op = ">=" if higher else "<="
                target = "kgo/%s %s %g" % (base, op, rt) if rt is not None else "-"
                limit = rt
            have = [x for x in per if x is not None]
            worst = (min(have) if higher else max(have)) if have else None
            if limit is None or worst is None:
                met = "-"
            elif len(have) < len(boots):
                met = "NO (a boot has no figure)"
            else:
                met = "yes" if (worst >= limit if higher else worst <= limit) else "NO"
            out[(w, n, base)] = (per, worst, target, met)
    return out


def table(boots, rows, units):
    """Lines of the results table, as (cells) lists; the first is the header.
    The epoll column only if some figure has one (echo's)."""
    impls = [i for i in IMPLS if i != "epoll" or any(k[2] == i for k in rows)]
    vs = any(base != "go" and any(k[0] == w and k[2] == base for k in rows)
             for w in {k[0] for k in rows} for base, _ in comparisons(w))
    out = [["workload", "nprocs", "unit"] + impls
           + ["kgo/go by boot" + (" (vs X: kgo/X)" if vs else ""), "worst", "target",
              "met (worst boot)"]]
    seen = sorted({(k[0], k[1]) for k in rows}, key=lambda wn: sort_key((wn[0], wn[1], "kgo")))
    fib1 = {impl: rows.get(("fib", 1, impl)) for impl in IMPLS}
    ver = verdicts(boots, rows)
    for w, n in seen:
        med = {impl: rows[(w, n, impl)][0] if (w, n, impl) in rows else None for impl in IMPLS}
        unit = next(units[(w, n, i)] for i in IMPLS if (w, n, i) in rows)
        for base, _ in comparisons(w):
            if base != "go" and med[base] is None:
                continue
            per, worst, target, met = ver[(w, n, base)]
            ratios = boot_ratios(boots, w, n, base)
            spread = (" ".join(fmt(r) for r in ratios)
                      if any(r is not None for r in ratios) else "-")
            if base == "go" and TARGETS.get(w, (None, None))[1] is not None:
                spread += " (kgo: %s)" % " ".join(fmt(x) for x in per)
            name = w + (" vs " + base if base != "go" else "") + (" *" if w in NOTES else "")
            cells = ([name, str(n), unit] + [fmt(med[i]) for i in impls]
                     + [spread, fmt(worst), target, met])
            if w == "fib" and n > 1:
                sp = []
                for impl in IMPLS:
                    if fib1[impl] and med[impl]:
                        sp.append("%s x%.2f" % (impl, fib1[impl][0] / med[impl]))
                cells[-2] = "speedup: " + ", ".join(sp)
            out.append(cells)
    return out


def print_table(t, out):
    widths = [max(len(r[i]) for r in t) for i in range(len(t[0]))]
    for j, r in enumerate(t):
        out.write("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() + "\n")
        if j == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def markdown_table(t):
    lines = ["| " + " | ".join(t[0]) + " |", "|" + "---|" * len(t[0])]
    for r in t[1:]:
        lines.append("| " + " | ".join(r) + " |")
    return "\n".join(lines) + "\n"


def plots(boots, rows, units, outdir, stem, title):
    """One PNG per scaling workload (median with min-max bars against
    nprocs, per implementation, every sample of every boot), fib's
    speedup, and the kgo/Go ratios of the boots against the targets."""
    made = []
    colors = {"kgo": "#1f77b4", "go": "#2ca02c", "pthread": "#d62728", "epoll": "#9467bd"}
    with tempfile.TemporaryDirectory() as tmp:
        for w in ["spawn", "pingpong", "skynet", "skynet-chan", "fib", "echo", "echo-p99"]:
            series = []
            for impl in IMPLS:
                pts = sorted((k[1], v) for k, v in rows.items() if k[0] == w and k[2] == impl)
                if len(pts) < 2:
                    continue
                data = os.path.join(tmp, "%s-%s.dat" % (w, impl))
                with open(data, "w") as f:
                    for n, (med, lo, hi, _) in pts:
                        f.write("%d %g %g %g\n" % (n, med, lo, hi))
                series.append((impl, data, pts))
            if not series:
                continue
            unit = units[next(k for k in rows if k[0] == w)]
            png = os.path.join(outdir, "%s-%s.png" % (stem, w))
            xs = sorted({n for _, _, pts in series for n, _ in pts})
            gp = [
                "set terminal pngcairo size 720,480 font 'sans,10'",
                "set output '%s'" % png,
                "set title \"%s: %s against nprocs (median, min-max bars, log scale)\\n%s\""
                % (w, WHAT.get(w, unit), title),
                "set xlabel 'nprocs'",
                "set ylabel '%s'" % unit,
                "set xtics (%s)" % ", ".join("'%d' %d" % (n, n) for n in xs),
                "set xrange [%g:%g]" % (xs[0] - 0.5, xs[-1] + 0.5),
                "set logscale y",
                "set grid",
                "set key top left",
            ]
            plot = []
            for impl, data, _ in series:
                c = colors[impl]
                plot.append("'%s' using 1:2:3:4 with yerrorlines lw 2 pt 7 lc rgb '%s' title '%s'"
                            % (data, c, impl))
            gp.append("plot " + ", ".join(plot))
            subprocess.run(["gnuplot"], input="\n".join(gp) + "\n", text=True, check=True)
            made.append(png)
        # fib: speedup over nprocs 1, and the ideal line.
        series = []
        for impl in IMPLS:
            pts = sorted((k[1], v[0]) for k, v in rows.items() if k[0] == "fib" and k[2] == impl)
            if len(pts) >= 2 and pts[0][0] == 1:
                data = os.path.join(tmp, "fibsp-%s.dat" % impl)
                with open(data, "w") as f:
                    for n, med in pts:
                        f.write("%d %g\n" % (n, pts[0][1] / med))
                series.append((impl, data, pts))
        if series:
            png = os.path.join(outdir, "%s-fib-speedup.png" % stem)
            xs = sorted({n for _, _, pts in series for n, _ in pts})
            gp = [
                "set terminal pngcairo size 720,480 font 'sans,10'",
                "set output '%s'" % png,
                "set title \"fib(39) fork-join: speedup over nprocs 1 (medians)\\n%s\"" % title,
                "set xlabel 'nprocs'",
                "set ylabel 'speedup'",
                "set xtics (%s)" % ", ".join("'%d' %d" % (n, n) for n in xs),
                "set xrange [%g:%g]" % (xs[0] - 0.5, xs[-1] + 0.5),
                "set yrange [0:%g]" % (xs[-1] + 0.5),
                "set grid",
                "set key top left",
                "plot x with lines dt 2 lc rgb 'gray' title 'ideal', "
                + ", ".join("'%s' using 1:2 with linespoints lw 2 pt 7 lc rgb '%s' title '%s'"
                            % (d, colors[i], i) for i, d, _ in series),
            ]
            subprocess.run(["gnuplot"], input="\n".join(gp) + "\n", text=True, check=True)
            made.append(png)
        # The ratios against their targets: each boot's, the worst as the bar.
        # Lower is better on this plot: where higher is better (echo's round
        # trips per second), the bar is the inverse, base/kgo, against the
        # inverse of the target.
        bars = []
        for w in ORDER:
            for base, rt in comparisons(w):
                if rt is None:
                    continue
                for n in sorted({k[1] for k in rows if k[0] == w}):
                    rs = [r for r in boot_ratios(boots, w, n, base) if r]
                    if not rs:
                        continue
                    if w in HIGHER_IS_BETTER:
                        rs, rt_shown, what = [1 / r for r in rs], 1 / rt, "%s/kgo" % base
                    else:
                        rt_shown, what = rt, "kgo/%s" % base
                    label = "%s/%d" % (w, n) + ("" if what == "kgo/go" else " " + what)
                    bars.append((label, max(rs), min(rs), rt_shown))
        if bars:
            data = os.path.join(tmp, "ratios.dat")
            with open(data, "w") as f:
                for i, (label, worst, best, t) in enumerate(bars):
                    f.write("%d \"%s\" %g %g %g\n" % (i, label, worst, best, t))
            png = os.path.join(outdir, "%s-ratios.png" % stem)
            gp = [
                "set terminal pngcairo size 820,480 font 'sans,10'",
                "set output '%s'" % png,
                "set title \"kgo/Go: the worst of %d boots (bar) and the best (dot); "
                "lower is better\\n%s\"" % (len(boots), title),
                "set style fill solid 0.6",
                "set boxwidth 0.6",
                "set logscale y",
                "set grid ytics",
                "set ylabel 'kgo / Go (or as labelled)'",
                "set xtics rotate by -30",
                "set xrange [-0.7:%g]" % (len(bars) - 0.3),
                "plot '%s' using 1:3:xtic(2) with boxes lc rgb '#1f77b4' title 'worst boot', "
                "'' using 1:4 with points pt 7 ps 1 lc rgb '#000000' title 'best boot', "
                "'' using 1:5 with points pt 9 ps 2 lc rgb '#d62728' title 'target', "
                "1 with lines dt 2 lc rgb 'gray' title 'parity'" % data,
            ]
            subprocess.run(["gnuplot"], input="\n".join(gp) + "\n", text=True, check=True)
            made.append(png)
    return made


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("logs", nargs="+", metavar="LOG")
    ap.add_argument("--csv", required=True)
    ap.add_argument("--plots")
    ap.add_argument("--md")
    ap.add_argument("--host-load", default="", help="each boot's, separated by ';'")
    a = ap.parse_args()

    boots = [Boot(p) for p in a.logs]
    rows = pooled(boots)
    units = {}
    for b in boots:
        units.update(b.units)
    write_csv(boots, rows, units, a.csv)
    t = table(boots, rows, units)
    info = boots[0].info
    head = []
    head.append("guest: kernel %s, CPU '%s', %s CPUs, %s MiB, clocksource %s"
                % (info.get("kernel", "?"), info.get("cpu", "?"), info.get("cpus", "?"),
                   int(info.get("mem_kb", "0")) // 1024, info.get("clocksource", "?")))
    kernels = sorted({b.info.get("kernel", "?") for b in boots})
    if len(kernels) > 1:
        head.append("WARNING: the boots ran different kernels: %s" % ", ".join(kernels))
    head.append("host: %s; %s" % (info.get("host_cpu", "?"), info.get("accel", "?")))
    if a.host_load:
        head.append("host load average at the start of each boot: %s"
                    % " | ".join(x.strip() for x in a.host_load.split(";")))
    per_boot = sorted({len(v) for b in boots for v in b.samples.values()})
    head.append("%d separate guest boot%s; in each, the implementations interleaved, "
                "%s measured repetition%s per figure and boot (one per fresh process)"
                % (len(boots), "s" if len(boots) > 1 else "",
                   "/".join(str(r) for r in per_boot), "s" if per_boot != [1] else ""))
    head.append("kgo, go, pthread%s: the median of every sample of every boot; "
                "kgo/go by boot: the ratio of each boot's medians; a target is met "
                "only when the worst boot meets it"
                % (", epoll" if any(k[2] == "epoll" for k in rows) else ""))
    sys.stdout.write("\n".join(head) + "\n\n")
    print_table(t, sys.stdout)
    notes = ["* %s: %s" % (w, NOTES[w]) for w in ORDER
             if w in NOTES and any(k[0] == w for k in rows)]
    skips = []
    for b in boots:
        skips.extend(s for s in b.skips if s not in skips)
    fails = [f for b in boots for f in b.fails]
    bad = [x for b in boots for x in b.bad]
    for n in notes:
        sys.stdout.write(n + "\n")
    for s in skips:
        sys.stdout.write("skipped: %s\n" % s)
    for s in bad:
        sys.stdout.write("unusable syscall count: %s\n" % s)
    for s in fails:
        sys.stdout.write("FAILED: %s\n" % s)
    if a.md:
        with open(a.md, "w") as f:
            f.write("\n".join("- " + h for h in head) + "\n\n")
            f.write(markdown_table(t))
            f.write("\n")
            for n in notes:
                f.write("- %s\n" % n.lstrip("* "))
            for s in skips:
                f.write("- skipped: %s\n" % s)
            for s in bad:
                f.write("- unusable syscall count: %s\n" % s)
            for s in fails:
                f.write("- FAILED: %s\n" % s)
    if a.plots:
        stem = os.path.splitext(os.path.basename(a.csv))[0]
        title = "kgo, Go 1.23, pthreads; Linux %s guest, %s, %s vCPUs; %d boots" % (
            info.get("kernel", "?"), "TCG" if "TCG" in info.get("cpu", "") else "KVM",
            info.get("cpus", "?"), len(boots))
        for png in plots(boots, rows, units, a.plots, stem, title):
            sys.stdout.write("plot: %s\n" % png)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
