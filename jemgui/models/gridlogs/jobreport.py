"""Facts from the JSON files of a job's tarball: `jobReport.json`, `payload_error_report.json`,
`workernode_map.json`, `memory_monitor_summary.json`.

`jobReport.json` is the transform's report (PyJobTransforms, reportVersion 2.0.x;
runGen's user-code reports too): `exitCode`, `exitAcronym`, `exitMsg`, one
`executor[]` per substep with `rc`, `statusOK`, `errMsg` and its
`resource.executor.<name>` CPU, wall time and memory (kB), `files`, and
`resource.machine`. Every key is optional: what is missing stays out.
"""

from __future__ import annotations

import orjson

from jemgui.models.report import ImportReport

#: a JSON file larger than this is not read (a report is kilobytes)
MAX_JSON = 64 * 1024 * 1024


def load(path, report: ImportReport) -> dict | None:
    """The JSON object in `path`, or None (reported) when it is not one."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_JSON + 1)
    except OSError as exc:
        report.add(path.name, 0, "bad-member", f"cannot read ({exc.strerror or exc})")
        return None
    if len(data) > MAX_JSON:
        report.add(path.name, 0, "too-large", "JSON file over 64 MB, not read")
        return None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        report.add(path.name, 0, "bad-json", f"not valid JSON ({exc}); facts in it not read")
        return None
    if not isinstance(obj, dict):
        report.add(path.name, 0, "bad-json", "not a JSON object; facts in it not read")
        return None
    return obj


def _d(obj, *keys):
    for k in keys:
        obj = obj.get(k) if isinstance(obj, dict) else None
    return obj


def job_report(rep: dict) -> dict:
    """The report's outcome, executors, files and machine, in the manifest job object's words."""
    out: dict = {}
    if type(rep.get("exitCode")) is int:
        out["exit_code"] = rep["exitCode"]
    for key, name in (("exitAcronym", "exit_acronym"), ("exitMsg", "exit_message"), ("name", "transform")):
        if isinstance(rep.get(key), str):
            out[name] = rep[key]
    res = _d(rep, "resource", "executor") or {}
    executors = []
    for ex in rep.get("executor") or []:
        if not isinstance(ex, dict):
            continue
        name = ex.get("name")
        e = {k: ex.get(k) for k in ("name", "rc", "statusOK", "errMsg") if k in ex}
        r = res.get(name) if isinstance(res, dict) and isinstance(name, str) else None
        if isinstance(r, dict):
            e.update({k: r.get(k) for k in ("cpuTime", "wallTime") if k in r})
            e["memory"] = {"max": _d(r, "memory", "Max"), "avg": _d(r, "memory", "Avg")}
        executors.append(e)
    if executors:
        out["executors"] = executors
    files = rep.get("files")
    if isinstance(files, dict):
        out["files"] = {io: [s.get("name") for f in files.get(io) or [] if isinstance(f, dict)
                             for s in f.get("subFiles") or [] if isinstance(s, dict)]
                        for io in ("input", "output")}
    machine = _d(rep, "resource", "machine")
    if isinstance(machine, dict):
        out["machine"] = machine
    return out
