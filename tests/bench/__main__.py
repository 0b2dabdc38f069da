"""`make bench`: run tests/bench/bench_*.py and record the figures in RESULTS.md.

Each bench module exposes BENCHMARKS, a list of callables; each callable returns
one result row or a list of them:

    {"name": str, "unit": str, "samples": [float, ...], "budget": float | None, "note": str}

A row may add "budget_stat": "median" when its budget is on the median; by
default the budget is checked against the p95. A module may also expose
teardown(), called once its benchmarks have run.

    python -m tests.bench            every module
    python -m tests.bench transfer   only modules whose name contains "transfer"

Being over budget is reported, never a failure: the exit status is non-zero
only when a benchmark crashes (or no module matches NAME).
"""
import datetime as dt
import importlib
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = HERE / "RESULTS.md"
KEEP_RUNS = 10
RUN_MARK = "<!-- bench run -->"
INTRO = f"""# Benchmark results

Written by `make bench` (`python -m tests.bench [NAME]`); newest run first, the last {KEEP_RUNS} runs kept.
Budgets are DESIGN.md's "Budgets". p95 interpolates linearly between the closest ranks;
"within budget?" compares the p95 with the budget unless the row says otherwise.
Being over budget is reported here, not failed.
"""
COLUMNS = ["what", "median", "p95", "unit", "budget", "within budget?", "samples"]


# ------------------------------------------------------------------ figures

def percentile(samples, q):
    """The q-th percentile (0–100), interpolating between closest ranks."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def number(x):
    if x is None:
        return "—"
    if x == int(x):
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def samples_text(samples):
    if len(set(samples)) == 1:
        return number(samples[0]) if len(samples) == 1 else f"{len(samples)} × {number(samples[0])}"
    if len(samples) <= 10:
        return ", ".join(number(s) for s in samples)
    return f"n={len(samples)}, min {number(min(samples))}, max {number(max(samples))}"


def summarise(row):
    samples = [float(s) for s in row["samples"]]
    median = statistics.median(samples)
    p95 = percentile(samples, 95)
    budget = row.get("budget")
    stat = row.get("budget_stat", "p95")
    if budget is None:
        verdict = "no budget"
    else:
        value = median if stat == "median" else p95
        verdict = "yes" if value <= budget else f"**no** ({number(value / budget)}×)"
        if stat == "median":
            verdict += " (on median)"
    return {
        "what": row["name"], "median": number(median), "p95": number(p95), "unit": row["unit"],
        "budget": number(budget) if budget is not None else "—", "within budget?": verdict,
        "samples": samples_text(samples), "note": row.get("note", ""),
    }


def check_row(row):
    for key, kind in (("name", str), ("unit", str), ("samples", (list, tuple))):
        if not isinstance(row.get(key), kind):
            raise TypeError(f"result row needs {key!r} as {kind}: {row!r}")
    if not row["samples"]:
        raise ValueError(f"result row {row['name']!r} has no samples")
    if row.get("budget") is not None and not isinstance(row["budget"], (int, float)):
        raise TypeError(f"budget of {row['name']!r} must be a number or None")
    return row


# ------------------------------------------------------------------ the machine

def cpu_model():
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    for key in ("model name", "Hardware", "cpu model", "Processor"):
        match = re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    return platform.processor() or "unknown CPU"


def memory():
    try:
        match = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        return f"{int(match.group(1)) / 1024 ** 2:.1f} GiB"
    except (OSError, AttributeError):
        return "unknown memory"


def cores():
    total = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        return f"{total} cores"
    return f"{total} cores" if usable == total else f"{usable} of {total} cores usable"


def git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "uncommitted"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "uncommitted"


def machine():
    return (f"{platform.platform()}; {cpu_model()}; {cores()}; {memory()}; "
            f"Python {platform.python_version()}")


# ------------------------------------------------------------------ running

def discover(only=None):
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if only:
        names = [n for n in names if only in n]
    return names


def run_module(name):
    """Run one module's benchmarks; return (rows, crashes)."""
    rows, crashes = [], []
    try:
        module = importlib.import_module(f"tests.bench.{name}")
        benchmarks = list(module.BENCHMARKS)
    except Exception:
        traceback.print_exc()
        return [], [(name, "import failed")]
    try:
        for bench in benchmarks:
            label = f"{name}.{getattr(bench, '__name__', repr(bench))}"
            print(f"  {label} …", file=sys.stderr, flush=True)
            started = time.perf_counter()
            try:
                result = bench()
                result = [result] if isinstance(result, dict) else list(result)
                rows += [check_row(r) for r in result]
            except Exception as exc:
                traceback.print_exc()
                crashes.append((label, f"{type(exc).__name__}: {exc}"))
            print(f"  {label} done in {time.perf_counter() - started:.1f} s", file=sys.stderr,
                  flush=True)
    finally:
        teardown = getattr(module, "teardown", None)
        if teardown:
            try:
                teardown()
            except Exception:
                traceback.print_exc()
                crashes.append((f"{name}.teardown", "teardown failed"))
    return rows, crashes


def escape(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(summaries, crashes):
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for s in summaries:
        lines.append("| " + " | ".join(escape(s[c]) for c in COLUMNS) + " |")
    for label, why in crashes:
        lines.append(f"| {escape(label)} | — | — | — | — | **crashed** | {escape(why)} |")
    notes = [(s["what"], s["note"]) for s in summaries if s["note"]]
    if notes:
        lines.append("")
        lines += [f"- *{escape(what)}*: {note}" for what, note in notes]
    return "\n".join(lines)


def write_results(run_text):
    earlier = []
    if RESULTS.exists():
        earlier = [part.strip() for part in RESULTS.read_text(encoding="utf-8").split(RUN_MARK)[1:]]
    runs = [run_text.strip()] + [r for r in earlier if r][:KEEP_RUNS - 1]
    body = INTRO + "".join(f"\n{RUN_MARK}\n{run}\n" for run in runs)
    RESULTS.write_text(body, encoding="utf-8")


def main(argv):
    only = argv[0] if argv else None
    names = discover(only)
    if not names:
        print(f"no bench module matches {only!r} in {HERE}", file=sys.stderr)
        return 2
    from tests.bench import _clock
    _clock.pin()  # every bench reads the same business moment (tests/bench/_clock.py)
    started = dt.datetime.now(dt.UTC)
    summaries, crashes = [], []
    for name in names:
        print(f"{name}:", file=sys.stderr, flush=True)
        rows, failed = run_module(name)
        summaries += [summarise(r) for r in rows]
        crashes += failed
    took = (dt.datetime.now(dt.UTC) - started).total_seconds()
    heading = (f"## {started.isoformat(timespec='seconds').replace('+00:00', 'Z')} · "
               f"commit {git_commit()}")
    details = [f"Machine: {machine()}.",
               f"Modules: {', '.join(names)}{f' (only {only!r})' if only else ''}; took {took:.0f} s.",
               f"Business clock pinned at {_clock.MOMENT} (Asia/Shanghai business time)."]
    run_text = "\n".join([heading, "", *details, "", table(summaries, crashes)])
    write_results(run_text)
    print(run_text)
    print(f"\nwritten to {RESULTS}", file=sys.stderr)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
