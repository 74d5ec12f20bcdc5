"""`jemgui triage PATH... [--json | --csv] [--workers N] [--scheduler ADDRESS] [--window]`:
many jobs at once, their failures grouped by signature, per site and per hour."""

from __future__ import annotations

import argparse
import csv
import sys

from jemgui.commands.common import fmt_bytes, fmt_duration, fmt_time, print_json
from jemgui.models.text import printable

HELP = "group many jobs' failures: the site's or the task's, and where they cluster"
EXIT_UNREADABLE, EXIT_COMPONENT = 3, 4
CSV_COLUMNS = ("path", "job", "id", "task", "site", "host", "outcome", "class", "signature", "reason",
               "exit_code", "exit_acronym", "pilot_error", "started", "ended", "duration", "peak_rss", "peak_pss",
               "cpu_efficiency", "error")
SPARK = " ▁▂▃▄▅▆▇█"
SPARK_HOURS = 72


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="job archives, pilot log tarballs, folders (searched) or glob patterns")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the whole triage as JSON")
    out.add_argument("--csv", action="store_true", help="print one CSV row per job")
    out.add_argument("--window", action="store_true", help="show the jobs in the Jobs window")
    parser.add_argument("--workers", type=int, metavar="N", help="processes to read with (default: every core)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on a Dask cluster (tcp://host:8786); needs pip install 'jemgui[dask]'")


def run(args: argparse.Namespace) -> int:
    from jemgui.cli import UsageError
    from jemgui.models.cache import CacheUnusable
    from jemgui.models.triage import report
    from jemgui.models.triage.run import NoDask, triage_paths

    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be 1 or more")
    if args.window:
        from jemgui.views.jobs_view import run_jobs_window

        return run_jobs_window(args.paths, args.workers, args.scheduler)
    progress = _progress if sys.stderr.isatty() else None
    try:
        facts = triage_paths(args.paths, args.workers, args.scheduler, progress)
    except NoDask as exc:
        return _fail(str(exc), EXIT_COMPONENT)
    except CacheUnusable as exc:
        return _fail(f"{exc.strerror}: {exc.filename}", EXIT_COMPONENT)
    finally:
        if progress:
            print("\r\033[K", end="", file=sys.stderr)
    result = report.build(facts)
    if not result["jobs"]:
        return _fail("no job archive or log tarball found in " + " ".join(args.paths), EXIT_UNREADABLE)
    if args.json:
        print_json(result)
    elif args.csv:
        write_csv(result["jobs"], sys.stdout)
    else:
        print("\n".join(map(printable, render(result))))  # what the jobs' archives wrote, escaped
    for u in result["unreadable"][:5]:
        print(f"jemgui triage: {printable(u['error'])}", file=sys.stderr)
    return EXIT_UNREADABLE if result["unreadable"] else 0


def _fail(message: str, code: int) -> int:
    print(f"jemgui triage: {printable(' '.join(message.split()))}", file=sys.stderr)
    return code


def _progress(done: int, total: int) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    print(f"\rtriage [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} inputs", end="",
          file=sys.stderr, flush=True)


def write_csv(jobs: list[dict], out) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for j in jobs:
        perr = j.get("pilot_error") or {}
        row = {**j, "pilot_error": perr.get("code") if perr else None}
        w.writerow(["" if row.get(c) is None else row[c] for c in CSV_COLUMNS])


def _when(g: dict) -> str:
    if g["first"] is None:
        return "time unknown"
    a, b = fmt_time(g["first"])[:16], fmt_time(g["last"])[:16]
    return f"{a} UTC" if a == b else f"{a} – {b[11:] if a[:10] == b[:10] else b} UTC"


def _counts(d: dict, n: int = 4) -> str:
    items = list(d.items())
    text = ", ".join(f"{k} {v}" for k, v in items[:n])
    return text + (f", {len(items) - n} more" if len(items) > n else "")


def render(r: dict) -> list[str]:
    """The triage as text: the groups first, biggest first, then sites, clusters, timeline, outliers."""
    t = r["totals"]
    out = [f"{t['jobs']:,} jobs: {t['failed']:,} failed ({t['site']} site, {t['task']} task, "
           f"{t['unclear']} unclear), {t['jobs'] - t['failed']:,} ok"
           + (f", {t['unreadable']} unreadable" if t["unreadable"] else ""), ""]
    out.append("Failure groups, biggest first" if r["groups"] else "No failures.")
    for g in r["groups"]:
        out.append(f"{g['count']:>6}  {g['class']:<7}  {g['signature']}")
        out.append(f"{'':>17}sites: {_counts(g['sites'])} · {len(g['hosts'])} host(s) · {_when(g)}")
        ex = g["example"]
        out.append(f"{'':>17}e.g. job {ex['job']}: {(ex.get('headline') or ex.get('reason') or '')[:110]}")
    out += ["", "Sites", f"  {'site':<28}{'jobs':>7}{'failed':>8}{'site':>7}{'task':>7}{'unclear':>9}"]
    for s in r["sites"]:
        out.append(f"  {s['site'][:27]:<28}{s['jobs']:>7}{s['failed']:>8}{s['site_problems']:>7}"
                   f"{s['task_problems']:>7}{s['unclear']:>9}")
    if r["clusters"]:
        out += ["", "Site-side clusters (hours when a site's own failures were most of its jobs)"]
        for c in r["clusters"]:
            out.append(f"  {c['site']}: {c['from'][:13].replace('T', ' ')}:00 – {c['to'][11:16]} UTC, "
                       f"{c['site_problems']} site failures among {c['jobs']} jobs")
    if r["timeline"]:
        first = next(iter(r["timeline"].values()))[-SPARK_HOURS:]  # the last three days at most
        out += ["", f"Failures per hour from {first[0]['hour'][:13].replace('T', ' ')}:00 UTC "
                    f"(site problems | all failures)"]
        for site, rows in r["timeline"].items():
            top = max([row["failed"] for row in rows] + [1])
            line = "".join(SPARK[min(8, -(-8 * row["site"] // top))] for row in rows[-SPARK_HOURS:])
            line2 = "".join(SPARK[min(8, -(-8 * row["failed"] // top))] for row in rows[-SPARK_HOURS:])
            out.append(f"  {site[:27]:<28}{line} | {line2}")
    if r["outliers"]:
        out += ["", "Outliers within a task"]
        for o in r["outliers"][:50]:
            out.append(f"  task {o['task']}: job {o['job']} ({o['site']}) {o['metric']} {_value(o['metric'], o['value'])}"
                       f", {o['factor']}× {'above' if o['side'] == 'high' else 'below'} the median "
                       f"{_value(o['metric'], o['median'])}")
    if r["unreadable"]:
        out += ["", f"Unreadable ({len(r['unreadable'])})"] + [f"  {u['error']}" for u in r["unreadable"][:20]]
    return out


def _value(metric: str, v: float) -> str:
    if metric.startswith("peak_"):
        return fmt_bytes(v)
    if metric == "duration":
        return fmt_duration(v).split(".")[0]
    return f"{v:.2f}"
