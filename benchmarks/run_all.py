#!/usr/bin/env python
"""Run every benchmark script, one after another, and write one Markdown table of their headline
figures with the machine, the date and the git commit they were measured on.

Each script prints its headline figures as lines ``HEADLINE | figure | value | goal``; this
script runs them (as separate processes, so one's imports and caches do not help another), keeps
their full output next to the table, and collects those lines. The figures quoted in the docs come
from this table: regenerate it, do not retype it.

Usage::

    python benchmarks/run_all.py                     # every script in its quick mode, then the quick suite
    python benchmarks/run_all.py --only harness,md   # a subset (names as in SCRIPTS); with --update,
                                                     # the other scripts' rows of the table are kept
    python benchmarks/run_all.py --no-suite          # without the quick-suite timings (saves ~5 min)
    python benchmarks/run_all.py --out benchmarks/results/headlines.md

The quick suite is timed twice: with an empty dataset cache (generation included, a fresh
``MATSCIBENCH_CACHE``) and again with the cache warm (``--new``, a new run id), both into a
temporary results folder; the time is the command's wall time.

On a shared machine the numbers move with the load: the table records the load average before and
after each script; rerun it on a quiet machine before quoting it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: name -> (script, arguments): each in its quick mode where it has one
SCRIPTS: dict[str, tuple[str, list[str]]] = {
    "harness": ("bench_harness_overhead.py", ["--repeats", "9"]),
    "dask": ("bench_dask_scaling.py", []),
    "md": ("bench_md_overhead.py", ["--quick"]),
    "graph": ("bench_graph_construction.py", ["--quick", "--models", "emt"]),
    "crystal_graph": ("bench_crystal_graph.py", ["--n-perov", "200"]),
    "magpie": ("bench_magpie_featurizer.py", ["--n", "1000", "--n-structures", "200", "--repeats", "3"]),
    "coulomb": ("bench_coulomb_matrix.py", ["--n", "2000", "--repeats", "3"]),
    "xrd": ("bench_xrd_simulation.py", ["--n", "30", "--rounds", "5"]),
    "generation": ("bench_generation_metrics.py", ["--quick"]),
    "report": ("bench_report.py", ["--tasks", "5", "--models", "10", "--folds", "5"]),
}


def parse_headlines(text: str) -> list[tuple[str, str, str]]:
    """(figure, value, goal) of every ``HEADLINE | figure | value | goal`` line of ``text``."""
    out = []
    for line in text.splitlines():
        if line.startswith("HEADLINE |"):
            parts = [p.strip() for p in line.split("|")[1:]]
            parts += [""] * (3 - len(parts))
            out.append((parts[0], parts[1], parts[2]))
    return out


def meets(value: str, goal: str) -> str:
    """"yes" / "no" when ``goal`` is ``<= x`` or ``>= x`` and ``value`` a number, else "–"."""
    try:
        v = float(value)
        op, x = goal.split()
        x = float(x)
    except ValueError:
        return "–"
    return "yes" if (v <= x if op == "<=" else v >= x if op == ">=" else False) else "no"


def machine() -> str:
    from matscibench.cost.sysinfo import system_info

    si = system_info()
    return (f"{si.get('cpu_model')}, {si.get('cpu_logical_cores')} logical cores, {si.get('memory_GiB')} GiB, "
            f"Python {si.get('python')} (fingerprint {str(si.get('fingerprint'))[:12]})")


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        return sha + (" (with uncommitted changes)" if dirty else "")
    except Exception:  # noqa: BLE001 - not a git checkout
        return "unknown"


def load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def run_script(script: str, args: list[str], log_dir: Path, timeout: float) -> tuple[str, float, int]:
    t = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    try:
        proc = subprocess.run([sys.executable, str(HERE / script), *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout, env=env)
        text, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        text = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        text += f"\n(timed out after {timeout:.0f} s)"
        rc = 124
    (log_dir / f"{Path(script).stem}.txt").write_text(text, encoding="utf-8")
    return text, time.perf_counter() - t, rc


def time_quick_suite(log_dir: Path, timeout: float) -> list[tuple[str, str, str]]:
    """Wall time of ``matscibench run --suite quick`` with an empty cache, then warm (``--new``)."""
    tmp = Path(tempfile.mkdtemp(prefix="matscibench-quick-"))
    env = {**os.environ, "MATSCIBENCH_CACHE": str(tmp / "cache")}
    rows = []
    try:
        for label, extra, goal in (("quick suite, empty dataset cache (s)", [], "<= 180"),
                                   ("quick suite, warm cache, --new (s)", ["--new"], "<= 45")):
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "matscibench", "run", "--suite", "quick", "-r", str(tmp / "results"),
                                   "-q", *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
            wall = time.perf_counter() - t
            name = "quick_suite_cold" if not extra else "quick_suite_warm"
            (log_dir / f"{name}.txt").write_text(proc.stdout + proc.stderr, encoding="utf-8")
            rows.append((label, f"{wall:.0f}" if proc.returncode == 0 else f"failed (exit {proc.returncode})", goal))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated script names (%s)" % ", ".join(SCRIPTS))
    ap.add_argument("--no-suite", action="store_true", help="leave out the quick-suite timings")
    ap.add_argument("--out", default=str(HERE / "results" / "headlines.md"))
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per script")
    ap.add_argument("--update", action="store_true",
                    help="keep the rows of the scripts not run now from the existing table (each row says when it was measured)")
    args = ap.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SCRIPTS)
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        ap.error(f"unknown script name(s) {unknown}; known: {', '.join(SCRIPTS)}")
    out = Path(args.out)
    log_dir = out.with_suffix("")
    log_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    rows: list[tuple[str, str, str, str, str]] = []  # script, figure, value, goal, load
    for name in names:
        script, sargs = SCRIPTS[name]
        before = load()
        print(f"[run_all] {script} {' '.join(sargs)} (load {before}) ...", flush=True)
        text, wall, rc = run_script(script, sargs, log_dir, args.timeout)
        heads = parse_headlines(text)
        span = f"{before} → {load()}"
        if rc != 0:
            rows.append((script, f"exit code {rc} (see {log_dir.name}/{Path(script).stem}.txt)", "–", "–", span))
        elif not heads:
            rows.append((script, f"no headline; ran in {wall:.0f} s (see {log_dir.name}/{Path(script).stem}.txt)", "–", "–",
                         span))
        rows += [(script, f, v, g, span) for f, v, g in heads]
        for f, v, g in heads:
            print(f"[run_all]   {f}: {v} (goal {g or '–'})", flush=True)
    if not args.no_suite:
        before = load()
        print(f"[run_all] quick suite, cold then warm (load {before}) ...", flush=True)
        for f, v, g in time_quick_suite(log_dir, args.timeout):
            rows.append(("matscibench run --suite quick", f, v, g, f"{before} → {load()}"))
            print(f"[run_all]   {f}: {v}", flush=True)
    stamp = f"{started:%Y-%m-%d %H:%M} UTC, {git_commit()}"
    rows = [(*r, stamp) for r in rows]
    if args.update and out.is_file():
        ran = {SCRIPTS[n][0] for n in names} | ({"matscibench run --suite quick"} if not args.no_suite else set())
        kept = [tuple(c.strip() for c in ln.strip().strip("|").split("|")) for ln in out.read_text().splitlines()
                if ln.startswith("| bench_") or ln.startswith("| matscibench run")]
        m = re.search(r" on (\S+ \S+ UTC), commit (\S+)", out.read_text())
        old_stamp = f"{m.group(1)}, {m.group(2)}" if m else "?"
        kept = [(k[0], k[1], k[2], k[3], k[5], k[6] if len(k) > 6 else old_stamp) for k in kept if k[0] not in ran]
        rows = kept + rows
    lines = [
        "# Headline figures of the benchmarks",
        "",
        f"Measured by `python benchmarks/run_all.py{' --only ' + args.only if args.only else ''}"
        f"{' --no-suite' if args.no_suite else ''}{' --update' if args.update else ''}` on {started:%Y-%m-%d %H:%M} UTC, "
        f"commit {git_commit()}" + ("; rows of scripts not run then are kept from the earlier table, with their own "
                                   "date and commit." if args.update else "."),
        "",
        f"Machine: {machine()}.",
        "",
        "Each script's full output is in the folder next to this file. Load is the 1-minute load average "
        "before → after the script (the machine's other users).",
        "",
        "| script | figure | value | goal | met | load | measured |",
        "|---|---|---:|---|---|---|---|",
    ]
    lines += [f"| {s} | {f} | {v} | {g or '–'} | {meets(v, g)} | {ld} | {when} |" for s, f, v, g, ld, when in rows]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"[run_all] table: {out}")


if __name__ == "__main__":
    main()
