"""Read prmon's samples (`memory_monitor_output.txt`, `prmon.full.<substep>`) and the older MemoryMonitor's.

The first line is the header, `Time` and the column names in an order that
varies (HSF/prmon writes them from an unordered map), so columns are found by
name. Units (HSF/prmon `*mon.h`): Time epoch s; wtime/utime/stime cumulative s;
pss/rss/swap/vmem kB; I/O and network cumulative bytes. MemoryMonitor's header
is `Time VMEM PSS RSS Swap rchar wchar rbytes wbytes` (pilot3
`pilot/user/atlas/utilities.py`). Samples become the spec's metric names where
one exists: memory in bytes (`rss`, `pss`, `swap`, `vms` from vmem),
`threads`, `read_bytes`/`write_bytes`, and `cpu` (percent of one core) from the
growth of utime+stime over the wall time between two samples; the cumulative
byte counters also give rates (`read_bytes_per_s`, ...) over that time; other
columns keep their own names.
"""

from __future__ import annotations

import re

from jemgui.models.report import ImportReport

KB = {"pss", "rss", "swap", "vmem"}
#: cumulative byte counters (after renaming) that also give a rate
COUNTERS = ("read_bytes", "write_bytes", "rchar", "wchar", "rx_bytes", "tx_bytes")
RENAME = {"vmem": "vms", "nthreads": "threads", "rbytes": "read_bytes", "wbytes": "write_bytes"}
_SPLIT = re.compile(r"[\t ]+")


def read_samples(lines, name: str, report: ImportReport) -> list[tuple[float, dict]]:
    """(time, values) of every readable row; a bad row is reported and skipped."""
    header: list[str] | None = None
    out: list[tuple[float, dict]] = []
    prev = None
    for n, text in lines:
        cells = _SPLIT.split(text.strip())
        if not cells or cells == [""]:
            continue
        if header is None:
            header = [c.lower() for c in cells]
            if "time" not in header:
                report.add(name, n, "bad-record", "no Time column in the header; samples not read")
                return out
            continue
        if len(cells) != len(header):
            report.add(name, n, "bad-record", f"{len(cells)} cells for {len(header)} columns, skipped")
            continue
        try:
            row = {h: float(c) for h, c in zip(header, cells, strict=True)}
        except ValueError:
            report.add(name, n, "bad-record", "a cell is not a number, row skipped")
            continue
        ts = row.pop("time")
        values: dict[str, float] = {}
        for key, v in row.items():
            values[RENAME.get(key, key)] = v * 1024 if key in KB else v
        cpu_s = row.get("utime", 0.0) + row.get("stime", 0.0)
        if prev is not None:
            wall = (row["wtime"] - prev[1]) if "wtime" in row and prev[1] is not None else ts - prev[0]
            if wall > 0:
                if "utime" in row or "stime" in row:
                    values["cpu"] = max(0.0, (cpu_s - prev[2]) / wall * 100)
                for key in COUNTERS:
                    if key in values and key in prev[3]:
                        values[f"{key}_per_s"] = max(0.0, (values[key] - prev[3][key]) / wall)
        prev = (ts, row.get("wtime"), cpu_s, values)
        out.append((ts, values))
    return out


def peaks(summary: dict) -> dict:
    """Peak memory in bytes from a prmon or MemoryMonitor JSON summary's `Max`."""
    top = summary.get("Max") if isinstance(summary, dict) else None
    if not isinstance(top, dict):
        return {}
    out = {}
    for key in ("rss", "pss", "swap", "vmem"):
        v = top.get(key, top.get("max" + key.upper(), top.get("max" + key.capitalize())))
        if isinstance(v, (int, float)):
            out[RENAME.get(key, key)] = v * 1024
    return out
