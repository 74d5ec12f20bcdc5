"""The summary fields a shifter needs for a job read from its pilot log tarball.

`amend(ix, summary)` adds to `summarize`'s result, for such a job only:
`exit_acronym` and `exit_message` (the transform's report), `pilot_error`
(`code`, `name`: the first code the pilot reports), `peak.pss` (and `peak.rss`
when no sample gave one) in bytes, and replaces the hint of a failed job by
the verdict of `verdict.py`: `class` ("site", "task" or "unclear"), `reason`,
`evidence` (the deciding lines as `{file, line, text}`) and `based_on` (the
first of them, for the text summary). Any other job's summary is left as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jemgui.models.gridlogs.verdict import pilot_error

if TYPE_CHECKING:
    from jemgui.models.index import Index

SOURCES = ("pilot log tarball", "batch job logs")


def amend(ix: Index, summary: dict) -> dict:
    job = ix.job
    if job.get("source") not in SOURCES:
        return summary
    summary["exit_acronym"] = job.get("exit_acronym")
    summary["exit_message"] = job.get("exit_message")
    summary["pilot_error"] = pilot_error(job.get("pilot_error_codes"))
    peak = summary.setdefault("peak", {})
    recorded = ix.meta.get("peak") or {}
    report = job.get("memory_peak") if isinstance(job.get("memory_peak"), dict) else {}
    for key in ("rss", "pss"):
        if peak.get(key) is None:
            peak[key] = recorded.get(key, report.get(key))
    verdict = job.get("verdict")
    if isinstance(verdict, dict):
        evidence = verdict.get("evidence") or []
        first = evidence[0] if evidence else None
        based_on = f"{first['file']}:{first['line']}: {first['text']}" if first else verdict.get("reason", "")
        summary["hint"] = {**verdict, "based_on": based_on}
    return summary


def text_lines(s: dict, fmt_bytes) -> list[str]:
    """The grid fields for `jemgui summary`'s text: the pilot's error, the transform's exit, peak PSS."""
    if "pilot_error" not in s:
        return []
    pe = s.get("pilot_error")
    out = ["Pilot     " + (f"error {pe['code']} ({pe.get('name') or 'unknown code'})" if pe else "no error code")]
    if s.get("exit_acronym") or s.get("exit_message"):
        out.append(f"Transform {s.get('exit_acronym') or '?'}: {s.get('exit_message') or ''}".rstrip(": "))
    pss = (s.get("peak") or {}).get("pss")
    if pss is not None:
        out.append(f"Peak PSS  {fmt_bytes(pss)} (prmon)")
    return out
