#!/usr/bin/env python3
"""Turns the benchmark guest's output (bench/guest.sh) into the results.

    report.py LOG --csv FILE [--plots DIR] [--md FILE] [--host-load "a b c"]

LOG holds RESULT, SYSCALLS, STAT, SKIP, FAIL and INFO lines among others.
Writes the CSV (workload,nprocs,impl,median,min,max,unit), prints the table
with the kgo/Go ratios against the targets, optionally writes the same
table as Markdown, and draws the scaling curves with gnuplot into DIR.
Exits 1 if any benchmark program failed.
"""
import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile

# workload: (ratio target kgo/go, absolute target for kgo, unit of the absolute)
TARGETS = {
    "yield": (0.5, None),
    "spawn": (0.7, None),
    "pingpong": (0.7, None),
    "skynet": (0.8, None),
    "preempt": (0.5, None),
    "blocked": (0.1, None),
    "mem": (None, 8192),
    "syscalls-yield": (None, 0.01),
    "syscalls-spawn": (None, 0.01),
    "syscalls-pingpong": (None, 0.01),
}
ORDER = ["yield", "spawn", "pingpong", "skynet", "fib", "mem", "preempt", "blocked",
         "syscalls-yield", "syscalls-spawn", "syscalls-pingpong",
         "ioctls-yield", "ioctls-spawn", "ioctls-pingpong"]
IMPLS = ["kgo", "go", "pthread"]
WHAT = {
    "yield": "ns per switch",
    "spawn": "ns per G",
    "pingpong": "ns per round trip",
    "skynet": "ms",
    "fib": "ms",
    "mem": "bytes per parked G",
    "preempt": "ms worst lateness",
    "blocked": "ms worst stall",
}


def parse(path):
    samples = collections.defaultdict(list)   # (workload, nprocs, impl) -> [values]
    units = {}
    info, skips, fails = {}, [], []
    with open(path, errors="replace") as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "RESULT" and len(w) == 6:
                key = (w[1], int(w[2]), w[3])
                samples[key].append(float(w[5]))
                units[key] = w[4]
            elif w[0] == "STAT" and len(w) == 6 and w[4] == "ioctls_per_op":
                key = ("ioctls-" + w[1], int(w[2]), w[3])
                samples[key].append(float(w[5]))
                units[key] = "ioctls/op"
            elif w[0] == "SYSCALLS" and len(w) == 8:
                c1, o1, c2, o2 = (int(x) for x in w[4:8])
                if o2 > o1:
                    key = ("syscalls-" + w[1], int(w[2]), w[3])
                    samples[key].append(max(c2 - c1, 0) / (o2 - o1))
                    units[key] = "syscalls/op"
            elif w[0] == "INFO" and len(w) >= 2:
                info[w[1]] = " ".join(w[2:])
            elif w[0] == "SKIP":
                if " ".join(w[1:]) not in skips:
                    skips.append(" ".join(w[1:]))
            elif w[0] == "FAIL":
                fails.append(" ".join(w[1:]))
    return samples, units, info, skips, fails


def summarise(samples):
    rows = {}
    for key, vals in samples.items():
        rows[key] = (statistics.median(vals), min(vals), max(vals), len(vals))
    return rows


def sort_key(key):
    w, n, impl = key
    return (ORDER.index(w) if w in ORDER else len(ORDER), w, n,
            IMPLS.index(impl) if impl in IMPLS else 9)


def write_csv(rows, units, path):
    with open(path, "w") as f:
        f.write("workload,nprocs,impl,median,min,max,unit\n")
        for key in sorted(rows, key=sort_key):
            med, lo, hi, _ = rows[key]
            f.write("%s,%d,%s,%.6g,%.6g,%.6g,%s\n" % (key[0], key[1], key[2], med, lo, hi,
                                                       units[key]))


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


def table(rows, units):
    """Lines of the results table, as (cells) lists; the first is the header."""
    out = [["workload", "nprocs", "unit", "kgo", "go", "pthread", "kgo/go", "target", "met"]]
    seen = sorted({(k[0], k[1]) for k in rows}, key=lambda wn: sort_key((wn[0], wn[1], "kgo")))
    fib1 = {impl: rows.get(("fib", 1, impl)) for impl in IMPLS}
    for w, n in seen:
        med = {impl: rows[(w, n, impl)][0] if (w, n, impl) in rows else None for impl in IMPLS}
        unit = next(units[(w, n, i)] for i in IMPLS if (w, n, i) in rows)
        kgo, go = med["kgo"], med["go"]
        ratio = kgo / go if kgo is not None and go else None
        rt, at = TARGETS.get(w, (None, None))
        target = met = "-"
        if rt is not None:
            target = "ratio <= %g" % rt
            met = "-" if ratio is None else ("yes" if ratio <= rt else "NO")
        elif at is not None:
            target = "kgo <= %g" % at
            met = "-" if kgo is None else ("yes" if kgo <= at else "NO")
        cells = [w, str(n), unit, fmt(kgo), fmt(go), fmt(med["pthread"]), fmt(ratio), target, met]
        if w == "fib" and n > 1:
            sp = []
            for impl in IMPLS:
                if fib1[impl] and med[impl]:
                    sp.append("%s x%.2f" % (impl, fib1[impl][0] / med[impl]))
            cells[7] = "speedup: " + ", ".join(sp)
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


def plots(rows, units, outdir, stem, title):
    """One PNG per scaling workload (median with min-max bars against
    nprocs, per implementation), and fib's speedup."""
    made = []
    colors = {"kgo": "#1f77b4", "go": "#2ca02c", "pthread": "#d62728"}
    with tempfile.TemporaryDirectory() as tmp:
        for w in ["spawn", "pingpong", "skynet", "fib"]:
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
                "set title \"fib(27) fork-join: speedup over nprocs 1 (medians)\\n%s\"" % title,
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
        # The ratios against their targets.
        bars = []
        for w in ORDER:
            rt = TARGETS.get(w, (None, None))[0]
            if rt is None:
                continue
            for n in sorted({k[1] for k in rows if k[0] == w}):
                k, g = rows.get((w, n, "kgo")), rows.get((w, n, "go"))
                if k and g and g[0]:
                    bars.append(("%s/%d" % (w, n), k[0] / g[0], rt))
        if bars:
            data = os.path.join(tmp, "ratios.dat")
            with open(data, "w") as f:
                for i, (label, r, t) in enumerate(bars):
                    f.write("%d \"%s\" %g %g\n" % (i, label, r, t))
            png = os.path.join(outdir, "%s-ratios.png" % stem)
            gp = [
                "set terminal pngcairo size 820,480 font 'sans,10'",
                "set output '%s'" % png,
                "set title \"kgo/Go, median against median (lower is better), and the targets\\n%s\""
                % title,
                "set style fill solid 0.6",
                "set boxwidth 0.6",
                "set logscale y",
                "set grid ytics",
                "set ylabel 'kgo / Go'",
                "set xtics rotate by -30",
                "set xrange [-0.7:%g]" % (len(bars) - 0.3),
                "plot '%s' using 1:3:xtic(2) with boxes lc rgb '#1f77b4' title 'kgo/Go', "
                "'' using 1:4 with points pt 9 ps 2 lc rgb '#d62728' title 'target', "
                "1 with lines dt 2 lc rgb 'gray' title 'parity'" % data,
            ]
            subprocess.run(["gnuplot"], input="\n".join(gp) + "\n", text=True, check=True)
            made.append(png)
    return made


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--csv", required=True)
    ap.add_argument("--plots")
    ap.add_argument("--md")
    ap.add_argument("--host-load", default="")
    a = ap.parse_args()

    samples, units, info, skips, fails = parse(a.log)
    rows = summarise(samples)
    write_csv(rows, units, a.csv)
    t = table(rows, units)
    head = []
    head.append("guest: kernel %s, CPU '%s', %s CPUs, %s MiB, clocksource %s"
                % (info.get("kernel", "?"), info.get("cpu", "?"), info.get("cpus", "?"),
                   int(info.get("mem_kb", "0")) // 1024, info.get("clocksource", "?")))
    if a.host_load:
        head.append("host load average at start: %s" % a.host_load)
    reps = sorted({v[3] for v in rows.values()})
    head.append("repetitions per figure: %s; medians, kgo/go ratio of medians"
                % "/".join(str(r) for r in reps))
    sys.stdout.write("\n".join(head) + "\n\n")
    print_table(t, sys.stdout)
    for s in skips:
        sys.stdout.write("skipped: %s\n" % s)
    for s in fails:
        sys.stdout.write("FAILED: %s\n" % s)
    if a.md:
        with open(a.md, "w") as f:
            f.write("\n".join("- " + h for h in head) + "\n\n")
            f.write(markdown_table(t))
            for s in skips:
                f.write("\n- skipped: %s" % s)
            for s in fails:
                f.write("\n- FAILED: %s" % s)
            f.write("\n")
    if a.plots:
        stem = os.path.splitext(os.path.basename(a.csv))[0]
        title = "kgo, Go 1.23, pthreads; Linux %s guest, %s, %s vCPUs" % (
            info.get("kernel", "?"), "TCG" if "TCG" in info.get("cpu", "") else "KVM",
            info.get("cpus", "?"))
        for png in plots(rows, units, a.plots, stem, title):
            sys.stdout.write("plot: %s\n" % png)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
