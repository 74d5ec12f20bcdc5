"""`jemgui summary ARCHIVE [--json]`: what the job did, how it ended, where and why it failed."""

from __future__ import annotations

import argparse

from jemgui.commands.common import (
    add_input_arguments,
    fmt_bytes,
    fmt_duration,
    fmt_time,
    open_for_cli,
    print_json,
    run_guarded,
)
from jemgui.models.gridlogs.summary import text_lines as grid_lines
from jemgui.models.text import printable

HELP = "print what a job did and where it failed"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def run(args: argparse.Namespace) -> int:
    def body() -> int:
        s = open_for_cli(args).summary()
        if args.json:
            print_json(s)
        else:
            print("\n".join(map(printable, render(s))))  # a crafted archive's escapes are shown, not run
        return 0

    return run_guarded("summary", body)


def hint_text(hint: dict | None, exit_code=None) -> str:
    """`task problem: bad input (...)`; a job without a problem (no hint) says so plainly."""
    if hint is None:
        return f"no problem: the job succeeded (exit code {exit_code})"
    cls = hint["class"]
    label = {"unknown": "outcome unknown"}.get(cls, f"{cls} problem")
    return f"{label}: {hint['reason']} ({hint['based_on']})"


def _short(value: str, limit: int = 100) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def render(s: dict) -> list[str]:
    """The summary as text for a terminal."""
    job = s["job"]
    out = [f"Job {job.get('id', '?')}" + (f" ({job['name']})" if job.get("name") else "")
           + f"  site {job.get('site') or '?'}  host {job.get('host') or '?'}",
           f"User      {job.get('user') or '?'}",
           f"Command   {' '.join(map(str, job.get('argv') or [])) or '?'}",
           f"Ran       {fmt_time(s['started'])} for {fmt_duration(s['duration'])}",
           f"Outcome   exit code {s['exit_code']}, state {s['final_state'] or '?'}"
           + ("  (ended abruptly)" if s["ended_abruptly"] else ""),
           "Hint      " + hint_text(s["hint"], s["exit_code"])]
    out += grid_lines(s, fmt_bytes)  # a pilot log tarball's pilot error, transform exit and peak PSS
    f = s["failure"]
    if f:
        doubt = "" if f.get("certain", True) else "  (uncertain: " + f.get("why", "") + ")"
        if f.get("kind") == "command":
            out.append(f"Failure   command `{f['message']}` ended the shell with {f['type']}{doubt}")
        else:
            out.append(f"Failure   {f['type']}: {f['message']}{doubt}")
        where = f"at {f['file']}:{f['line']} in {f['func']}" if f["file"] else "outside any traced frame"
        out.append(f"          {where} (record {f['pid']}:{f['seq']})")
        if f["stack"]:
            out.append("Stack (outermost first):")
        for fr in f["stack"]:
            out.append(f"  {fr['file']}:{fr['line']} in {fr['func']}")
            if fr.get("locals_at") and fr is not f["stack"][-1]:  # the frames the exception passed on its way out
                out += [f"      {name} = {_short(val)}" for name, (_, val) in fr["locals"].items()]
        if f["stack"]:
            top = f["stack"][-1]
            out.append("Locals of the failing frame" + (" (at the exception):" if top.get("locals_at") else ":"))
            for name, (typ, val) in top["locals"].items():
                out.append(f"  {name}: {typ} = {val}")
    p = s["peak"]
    load = f"{p['load1']:.2f}" if p["load1"] is not None else "?"
    out.append(f"Peak      rss {fmt_bytes(p['rss'])}, vms {fmt_bytes(p['vms'])}, load1 {load}")
    out.append(f"Records   {s['records']:,}: " + ", ".join(f"{k} {n:,}" for k, n in sorted(s["kinds"].items())))
    out.append("Processes")
    for pr in s["processes"]:
        end = f"signal {pr['signal']}" if pr.get("signal") else f"exit {pr.get('exit_code')}"
        out.append(f"  {pr['pid']:>7} {pr.get('lang') or '':<7} {end:<10} {' '.join(map(str, pr.get('argv') or []))[:80]}")
    holes = [(st["name"], h) for st in s["streams"] for h in st["holes"]]
    out.append(f"Holes     {len(holes)}")
    out += [f"  {n}: seq {a}..{b} missing" for n, (a, b) in holes[:20]]
    probs = s["problems"]
    total = sum(probs["counts"].values())
    out.append(f"Import    {total} problem(s)" + (": " + ", ".join(f"{n} {c}" for c, n in sorted(probs["counts"].items()))
                                                  if total else ""))
    for p in probs["problems"][:20]:
        where = f"{p['file']}:{p['line']}" if p["line"] else p["file"]
        out.append(f"  {where}: {p['message']}")
    return out
