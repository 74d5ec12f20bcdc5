"""Many jobs' facts as a shifter reads them: failure groups, a table per site, failures per hour
per site (and the hours where one site's own failures cluster), and outliers within a task.

`build(facts)` is deterministic for the same facts in any order, so a run on
a process pool and one on a Dask cluster give the same result.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict

FAILED = ("failed", "unknown")
CLASS_ORDER = ("site", "task", "unclear")
#: an hour at a site is "hot" when it has at least this many site-class failures ...
HOT_MIN = 3
#: ... and they are at least this share of the site's jobs ended in that hour
HOT_SHARE = 0.5
#: tasks need this many jobs with a value before one of them can be an outlier
OUTLIER_MIN_JOBS = 5
#: an outlier is this many robust standard deviations (1.4826 MAD) from the task's median ...
OUTLIER_SIGMAS = 5.0
#: ... and at least this factor above or below it
OUTLIER_FACTOR = 1.5
#: peak memory is PSS when known (shared pages counted once), else RSS
OUTLIER_METRICS = ("peak_memory", "duration", "cpu_efficiency")
MAX_GROUP_JOBS = 10_000
MAX_TIMELINE_HOURS = 24 * 62


def job_name(f: dict) -> str:
    """The job's id, else its file name (and the job inside it)."""
    if f.get("id"):
        return str(f["id"])
    name = str(f.get("path", "?")).rstrip("/").rsplit("/", 1)[-1]
    return f"{name}#{f['job']}" if f.get("job") else name


def hour_of(ts: float) -> str:
    return dt.datetime.fromtimestamp(int(ts) // 3600 * 3600, dt.timezone.utc).strftime("%Y-%m-%dT%H:00Z")


def _hour_start(ts: float) -> int:
    return int(ts) // 3600 * 3600


def _sort_key(f: dict) -> tuple:
    return (str(f.get("path", "")), str(f.get("job") or ""))


def groups(facts: list[dict]) -> list[dict]:
    by_sig: dict[str, list[dict]] = defaultdict(list)
    for f in facts:
        if f.get("outcome") in FAILED and f.get("signature"):
            by_sig[f["signature"]].append(f)
    out = []
    for sig, jobs in by_sig.items():
        classes = Counter(j.get("class") or "unclear" for j in jobs)
        top = classes.most_common()
        cls = top[0][0] if len(top) == 1 or top[0][1] > top[1][1] else "unclear"
        times = [j["ended"] for j in jobs if isinstance(j.get("ended"), (int, float))]
        example = jobs[0]
        out.append({
            "signature": sig, "class": cls, "classes": dict(sorted(classes.items())), "count": len(jobs),
            "sites": dict(Counter(j.get("site") or "?" for j in jobs).most_common()),
            "hosts": dict(Counter(j.get("host") or "?" for j in jobs).most_common()),
            "tasks": dict(Counter(j.get("task") or "?" for j in jobs).most_common()),
            "jobs": [job_name(j) for j in jobs[:MAX_GROUP_JOBS]],
            "first": min(times) if times else None, "last": max(times) if times else None,
            "example": {"job": job_name(example), "path": example.get("path"), "site": example.get("site"),
                        "host": example.get("host"), "reason": example.get("reason"),
                        "headline": example.get("headline")},
        })
    out.sort(key=lambda g: (-g["count"], g["signature"]))
    return out


def sites(facts: list[dict]) -> list[dict]:
    table: dict[str, Counter] = defaultdict(Counter)
    for f in facts:
        if f.get("outcome") == "unreadable":
            continue
        row = table[f.get("site") or "?"]
        row["jobs"] += 1
        if f.get("outcome") in FAILED:
            row["failed"] += 1
            row[f.get("class") or "unclear"] += 1
    return [{"site": s, "jobs": c["jobs"], "failed": c["failed"], "site_problems": c["site"],
             "task_problems": c["task"], "unclear": c["unclear"]}
            for s, c in sorted(table.items(), key=lambda kv: (-kv[1]["failed"], kv[0]))]


def timeline(facts: list[dict]) -> dict[str, list[dict]]:
    """Per site, one row per hour (UTC) from the corpus's first to its last: jobs ended, failed, by class."""
    hours: dict[str, dict[int, Counter]] = defaultdict(lambda: defaultdict(Counter))
    stamps = []
    for f in facts:
        ts = f.get("ended")
        if f.get("outcome") == "unreadable" or not isinstance(ts, (int, float)):
            continue
        h = _hour_start(ts)
        stamps.append(h)
        c = hours[f.get("site") or "?"][h]
        c["jobs"] += 1
        if f.get("outcome") in FAILED:
            c["failed"] += 1
            c[f.get("class") or "unclear"] += 1
    if not stamps:
        return {}
    lo, hi = min(stamps), max(stamps)
    every = range(lo, hi + 1, 3600) if (hi - lo) // 3600 <= MAX_TIMELINE_HOURS else None
    out = {}
    for site in sorted(hours):
        rows = hours[site]
        keys = every if every is not None else sorted(rows)
        out[site] = [{"hour": hour_of(h), "start": h, "jobs": rows[h]["jobs"] if h in rows else 0,
                      **{k: rows[h][k] if h in rows else 0 for k in ("failed", *CLASS_ORDER)}} for h in keys]
    return out


def clusters(tl: dict[str, list[dict]]) -> list[dict]:
    """Runs of consecutive hours at one site where its own (site-class) failures are many and most
    of its jobs: where a site killed jobs, not where a task's bug failed everywhere alike."""
    out = []
    for site, rows in tl.items():
        run: list[dict] = []
        for row in [*rows, None]:
            hot = row is not None and row["site"] >= HOT_MIN and row["site"] >= HOT_SHARE * row["jobs"]
            if hot and (not run or row["start"] - run[-1]["start"] == 3600):
                run.append(row)
                continue
            if run:
                out.append({"site": site, "from": run[0]["hour"], "to": hour_of(run[-1]["start"] + 3600),
                            "hours": len(run), "site_problems": sum(r["site"] for r in run),
                            "jobs": sum(r["jobs"] for r in run)})
            run = [row] if hot else []
    out.sort(key=lambda c: (-c["site_problems"], c["site"], c["from"]))
    return out


def outliers(facts: list[dict]) -> list[dict]:
    """Jobs far from the rest of their task in peak memory, duration or CPU efficiency (robust z)."""
    by_task: dict[str, list[dict]] = defaultdict(list)
    for f in facts:
        if f.get("task") and f.get("outcome") != "unreadable":
            by_task[f["task"]].append(f)
    out = []
    for task, jobs in sorted(by_task.items()):
        for metric in OUTLIER_METRICS:
            vals = [(j, j[metric]) for j in jobs if isinstance(j.get(metric), (int, float))]
            if len(vals) < OUTLIER_MIN_JOBS:
                continue
            med = statistics.median(v for _, v in vals)
            mad = statistics.median(abs(v - med) for _, v in vals) * 1.4826
            for j, v in vals:
                far = abs(v - med) > OUTLIER_SIGMAS * mad
                factor = (v / med if med else float("inf")) if v >= med else (med / v if v else float("inf"))
                if far and factor >= OUTLIER_FACTOR:
                    out.append({"job": job_name(j), "path": j.get("path"), "task": task, "site": j.get("site"),
                                "metric": metric, "value": v, "median": med,
                                "side": "high" if v > med else "low", "factor": round(factor, 2)})
    out.sort(key=lambda o: (o["task"], o["metric"], -o["factor"], o["job"]))
    return out


def build(facts: list[dict]) -> dict:
    """The whole triage of these jobs' facts (see the module doc); `jobs` sorted by path."""
    facts = sorted(facts, key=_sort_key)
    tl = timeline(facts)
    readable = [f for f in facts if f.get("outcome") != "unreadable"]
    failed = [f for f in readable if f.get("outcome") in FAILED]
    return {
        "totals": {"jobs": len(readable), "failed": len(failed), "unreadable": len(facts) - len(readable),
                   **{c: sum(1 for f in failed if (f.get("class") or "unclear") == c) for c in CLASS_ORDER}},
        "jobs": facts,
        "groups": groups(facts),
        "sites": sites(facts),
        "timeline": tl,
        "clusters": clusters(tl),
        "outliers": outliers(facts),
        "unreadable": [{"path": f.get("path"), "error": f.get("error")} for f in facts
                       if f.get("outcome") == "unreadable"],
    }
