"""A PanDA job's log tarball (or any folder of a batch job's text logs) as JEM records.

Streams (spec section 1 keys them by pid; the logs name few processes, so):
- pid 1, the pilot: each `pilotlog.txt` line as a `log` record, its phases as
  `state` records (STARTED, STAGE_IN, RUNNING, STAGE_OUT, LOG_CREATION, KILLED,
  then DONE or FAILED at its last line), tracebacks it logged.
- the payload's real pid (from `started -- pid=`; 2 when the pilot log does not
  say): its `process` start and exit, `payload.stdout`/`payload.stderr` lines
  merged by time, prmon's samples as `metric` records, tracebacks in its output.
- pids 10, 11, ... in name order: every other text log (`log.<substep>`,
  `setup.stdout`, AthenaMP worker logs, ...), one stream per file.
A folder with no pilot or payload log but a batch job's text logs (`*.out`,
`*.err`, `*.log`, `*.stdout`, `*.stderr`) opens the same way, as "batch job
logs": its files on pids 10, 11, ..., no process records.

Every log record keeps where it came from (`logfile`, `logline`) and its `level`;
pilot lines also `module` and `function`. Each traceback becomes, in a thread of
its own per exception, a `call` record per frame it shows (outermost first, so
the stack is there to inspect) then `exception` records innermost first, the
first with the `traceback`; chained exceptions follow one another in their
printed order, each later one saying `chain` ("cause" or "context"). Both carry
the code line the traceback printed as `code`. Each frame's exception is
followed by its `return` without a value, as settrace reports an unwinding, so
the thread ends with the traceback. A traceback the program logged and went on
after (introduced by a DEBUG/INFO/WARNING line and followed by more lines
with a level in its file, any in the pilot's own log, or any when the payload
exited 0) has a `line` record of its outermost frame before that frame's
return: that frame caught it and went on, so it is not the failure.
The exception records come just before the traceback's text, so the failure
finder sees the fatal one printed, as Python prints an escaped exception.
"""

from __future__ import annotations

import bisect
import heapq
import os
import re
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import orjson

from jemgui.models.converted import Converted
from jemgui.models.gridlogs import jobreport, prmon, verdict
from jemgui.models.gridlogs.pilotlog import Reader
from jemgui.models.gridlogs.textlog import Clock, full_date, level_of, local_offset
from jemgui.models.gridlogs.tracebacks import HEADERS, Chain, Frame, Scanner
from jemgui.models.records import MAX_LINE_BYTES
from jemgui.models.report import ImportReport

SOURCE_PILOT, SOURCE_LOGS = "pilot log tarball", "batch job logs"
PILOT_PID = 1
DEFAULT_PAYLOAD_PID = 2
FIRST_LOG_PID = 10
#: files that make a folder a grid job's work directory
MARKERS = ("pilotlog.txt", "payload.stdout", "payload.stderr", "jobReport.json", "memory_monitor_output.txt")
PRMON_FILES = re.compile(r"^(memory_monitor_output\.txt|prmon\.full\.[\w.-]+|mem\.full\.[\w.-]+)$")
#: text logs read besides the pilot's and the payload's
TEXT_LOG = re.compile(r"^(log\.[\w.-]+|setup\.std(out|err)|[\w.-]+\.(stdout|stderr|log|out|err))$")
NOT_TEXT = re.compile(r"\.(json|py|pyc|sh|xml|root|tgz|gz|tar)$")
#: log records kept of one file: the records are built in memory before they are written out for the
#: indexer (200,000 lines of payload.stdout open in 230 MB, measured), so a 1 GB payload.stdout would
#: not fit; later lines are only searched for tracebacks
MAX_LOG_LINES = 200_000
HANDLED_LEVELS = frozenset(("DEBUG", "INFO", "WARNING", "VERBOSE"))


def grid_root(names: list[PurePosixPath]) -> PurePosixPath | None:
    """The shallowest folder holding a pilot or payload log, else one holding a batch job's
    text logs (`*.out`, `*.err`, `*.log`, ...), or None when there is none."""
    roots = [n.parent for n in names if n.name in MARKERS] or [n.parent for n in names if TEXT_LOG.match(n.name)]
    return min(roots, key=lambda p: (len(p.parts), str(p))) if roots else None


def wanted(rel: PurePosixPath) -> bool:
    """Members of the work directory worth copying out of a pack (relative to it)."""
    n = rel.name
    if len(rel.parts) > 3:
        return False
    return (n in MARKERS or n in ("memory_monitor_summary.json", "payload_error_report.json",
                                  "workernode_map.json", "pilot_heartbeat.json", "JEM_LOG.tgz")
            or PRMON_FILES.match(n) is not None or (TEXT_LOG.match(n) is not None and not NOT_TEXT.search(n)))


class _Streams:
    """Records waiting for their `seq`: (ts, sort key, record) per pid, sorted on disk.

    Records come file by file, not in time order, so each pid's records are
    sorted: a run of SPILL records at a time is sorted and written to a file in
    `spill`, and `write` merges the runs. Memory stays bounded whatever the logs' size.
    """

    SPILL = 20_000

    def __init__(self, spill: Path):
        self.spill = spill
        self.buffer: dict[int, list] = {}
        self.runs: dict[int, list[Path]] = {}
        self.held = 0

    def add(self, pid: int, ts: float, key: tuple, rec: dict) -> None:
        self.buffer.setdefault(pid, []).append((ts, key, rec))
        self.held += 1
        if self.held >= self.SPILL:
            self._spill()

    @property
    def pids(self) -> set[int]:
        return set(self.buffer) | set(self.runs)

    def _spill(self) -> None:
        self.spill.mkdir(parents=True, exist_ok=True)
        for pid, items in self.buffer.items():
            if not items:
                continue
            items.sort(key=lambda it: (it[0], it[1]))
            runs = self.runs.setdefault(pid, [])
            path = self.spill / f"run-{pid}-{len(runs)}.jsonl"
            with open(path, "wb") as out:
                for it in items:
                    out.write(orjson.dumps(it) + b"\n")
            runs.append(path)
        self.buffer, self.held = {}, 0

    def _merged(self, pid: int):
        def read(path: Path):
            with open(path, "rb") as f:
                for line in f:
                    ts, key, rec = orjson.loads(line)
                    yield ts, key, rec

        items = self.buffer.pop(pid, [])
        items.sort(key=lambda it: (it[0], it[1]))
        sources = [read(p) for p in self.runs.pop(pid, [])] + [iter(items)]
        return heapq.merge(*sources, key=lambda it: (it[0], list(it[1])))

    def write(self, dest: Path, renumber: dict[int, int] | None = None, feed=None) -> dict[int, Path]:
        """Each pid's records, in time order with their `seq`, as `dest/<pid>.jsonl` (a pid in
        `renumber` written as its new pid); `feed` sees every record. The files by pid."""
        dest.mkdir(parents=True, exist_ok=True)
        out_paths = {}
        for pid in sorted(self.pids):
            new = (renumber or {}).get(pid, pid)
            path = dest / f"{new}.jsonl"
            with open(path, "wb") as out:
                for i, (ts, _, rec) in enumerate(self._merged(pid)):
                    full = {"seq": i, "ts": ts, "pid": new, **rec}
                    if feed is not None:
                        feed(full)
                    out.write(orjson.dumps(full) + b"\n")
            out_paths[new] = path
        for runs in self.runs.values():
            for p in runs:
                p.unlink(missing_ok=True)
        return out_paths


def _decode(raw: bytes, name: str, n: int, report: ImportReport, bad: list[int]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        bad[0] += 1
        if bad[0] == 1:
            report.add(name, n, "bad-utf8", "line is not UTF-8, read as Latin-1 (and any later such lines)")
        else:
            report.count("bad-utf8")
        return raw.decode("latin-1")


def _lines_of(f, name: str, report: ImportReport):
    """(number, text) of the lines of an open file; non-UTF-8 lines read as Latin-1, reported once."""
    from jemgui.models.inputs import iter_lines

    bad = [0]
    for n, raw, ended in iter_lines(f, name, report, MAX_LINE_BYTES):
        if not ended and raw.strip():
            report.add(name, n, "cut-line", "the last line ends without a newline: cut short?")
        yield n, _decode(raw.rstrip(b"\r\n"), name, n, report, bad)


def _lines(path: Path, name: str, report: ImportReport):
    """(number, text) of a text file's lines."""
    with open(path, "rb") as f:
        yield from _lines_of(f, name, report)


#: what makes a line past the cap worth a look: a traceback's header, or a word the verdict weighs
TAIL_WORDS = tuple(h.encode() for h in HEADERS) + tuple(w.encode() for w in verdict.WORDS)
TAIL_CHUNK = 8 << 20
#: lines read around a line of interest past the cap (before it for its time and level, after it for
#: a traceback's frames and whether the log went on)
TAIL_BEFORE, TAIL_AFTER = 20, 400


class _Job:
    def __init__(self, root: Path, report: ImportReport, spill: Path):
        self.root, self.report = root, report
        self.streams = _Streams(spill)
        self.evidence = verdict.Evidence()
        self.job: dict = {}
        self.source = 0
        self.tids: dict[int, int] = {}
        #: (pid, file, chain, ts, source, whether the file has a line with a level after it)
        self.chains: list[tuple[int, str, Chain, float, int, bool]] = []
        self.payload_ok: bool | None = None
        #: the exception line of each traceback in the payload's logs not logged as handled
        self.raised: list[dict] = []

    def next_source(self) -> int:
        self.source += 1
        return self.source

    # --- text logs -------------------------------------------------------------------

    def text_log(self, path: Path, name: str, pid: int, stream: str, start: float, offset: int = 0) -> Clock:
        src = self.next_source()
        clock = Clock(start, offset)
        scanner = Scanner()
        line_ts: dict[int, float] = {}
        leveled = [0]  # the last line with a level

        def look(n: int, text: str, ts: float) -> str | None:
            level = level_of(text)
            scanner.feed(n, text, level)
            if level and not scanner.inside:
                leveled[0] = n
            if scanner.inside:
                line_ts[n] = ts
            return level

        with open(path, "rb") as f:
            for n, text in _lines_of(f, name, self.report):
                ts, _ = clock.stamp(text)
                level = look(n, text, ts)
                rec = {"kind": "log", "stream": stream, "text": text + "\n", "logfile": name, "logline": n}
                if level:
                    rec["level"] = level
                self.streams.add(pid, ts, (src, n, 1, 0), rec)
                if n == MAX_LOG_LINES:
                    self.report.add(name, n + 1, "too-large", f"more than {MAX_LOG_LINES} lines: the rest are "
                                    "searched for tracebacks and telling lines but not kept as log records")
                    self._tail(f, n + 1, name, pid, stream, clock, look)
                    break
        for chain in scanner.finish():
            self.chains.append((pid, name, chain, line_ts.get(chain.start, start), src, leveled[0] > chain.end))
        return clock

    def _tail(self, f, n: int, name: str, pid: int, stream: str, clock: Clock, look) -> None:
        """The lines past the cap, `n` the first: read a chunk at a time; only the lines around a
        traceback header or a word the verdict weighs are read one by one (for their time, the
        traceback and the evidence). The last lines of each chunk keep the clock going."""
        carry, bad = b"", [0]
        upto = n - 1  # the last line already looked at
        while True:
            data = f.read(TAIL_CHUNK)
            block = carry + data
            if not data:
                if not block:
                    return
                block += b"\n"
            cut = block.rfind(b"\n") + 1
            if cut == 0:  # one line longer than the chunk: keep the last part only
                carry = block[-MAX_LINE_BYTES:]
                continue
            block, carry = block[:cut], block[cut:]
            lines = None
            hits = sorted({i for w in TAIL_WORDS for i in _finds(block, w)})
            if hits:
                lines = block.split(b"\n")
                starts = [0]
                for ln in lines:
                    starts.append(starts[-1] + len(ln) + 1)
                wanted: set[int] = set()
                for pos in hits:
                    k = bisect.bisect_right(starts, pos) - 1
                    wanted.update(range(max(0, k - TAIL_BEFORE), min(len(lines) - 1, k + TAIL_AFTER)))
                for k in sorted(wanted):
                    line_n = n + k
                    if line_n <= upto:
                        continue
                    text = _decode(lines[k].rstrip(b"\r"), name, line_n, self.report, bad)
                    ts, _ = clock.stamp(text)
                    level = look(line_n, text, ts)
                    upto = line_n
                    self.evidence.feed({"kind": "log", "pid": pid, "ts": ts, "text": text, "logfile": name,
                                        "logline": line_n, "level": level})
            for text in block[-4096:].split(b"\n")[-6:-1]:  # keep the clock near the chunk's end
                clock.stamp(text.decode("latin-1"))
            n += block.count(b"\n")
            if not data:
                return


    def pilot_log(self, path: Path) -> None:
        reader = Reader()
        src = self.next_source()
        scanner = Scanner()
        line_ts: dict[int, float] = {}
        early: list[tuple[int, dict]] = []
        for n, text in _lines(path, "pilotlog.txt", self.report):
            line = reader.feed(n, text)  # every line, for the facts near the end
            scanner.feed(n, text, line.level if line.prefixed else None)
            if scanner.inside:
                line_ts[n] = line.ts
            if n > MAX_LOG_LINES:
                if n == MAX_LOG_LINES + 1:
                    self.report.add("pilotlog.txt", n, "too-large", f"more than {MAX_LOG_LINES} lines: the rest "
                                    "are read for the job's facts and tracebacks but not kept as log records")
                continue
            rec = {"kind": "log", "stream": "stdout", "text": text + "\n", "logfile": "pilotlog.txt", "logline": n}
            for key, value in (("level", line.level), ("module", line.module), ("function", line.func)):
                if value:
                    rec[key] = value
            if line.level is None and not line.prefixed:  # before any timed line: held until one comes
                self.report.add("pilotlog.txt", n, "bad-record", "line before the first timed pilot line; "
                                "placed at the log's start")
                early.append((n, rec))
                continue
            for m, held in early:
                self.streams.add(PILOT_PID, line.ts, (src, m, 1, 0), held)
            early.clear()
            self.streams.add(PILOT_PID, line.ts, (src, n, 1, 0), rec)
        for m, held in early:  # no timed line at all
            self.streams.add(PILOT_PID, _reference_time(self.root, None), (src, m, 1, 0), held)
        if reader.result.first is None:
            self.report.add("pilotlog.txt", 0, "bad-member", "pilotlog.txt is empty")
        self.pilot = res = reader.finish()
        for chain in scanner.finish():
            self.chains.append((PILOT_PID, "pilotlog.txt", chain, line_ts.get(chain.start, 0.0), src, True))
        for ts, state, n in res.phases:
            self.streams.add(PILOT_PID, ts, (src, n, 0, 0), {"kind": "state", "state": state})
        self.job.update({k: v for k, v in res.job.items() if k != "last_reported_state"})

    # --- tracebacks ----------------------------------------------------------------

    def traceback_records(self) -> None:
        for pid, name, chain, ts, src, went_on in self.chains:
            handled = (pid == PILOT_PID or (chain.logged_at in HANDLED_LEVELS and went_on)
                       or (self.payload_ok is True and pid != PILOT_PID))
            last = chain.last
            if not handled and last.type:
                self.raised.append({"file": name, "line": last.end_line,
                                    "text": f"{last.type}: {last.message}" if last.message else last.type})
            k = 0
            for exc in chain.excs:
                if not exc.frames and not exc.type:  # a header and nothing after it
                    continue
                tid = self.tids[pid] = self.tids.get(pid, 0) + 1
                # a traceback printed without frames still gets one, in the log that printed it
                frames = exc.frames or [Frame(name, exc.header_line, "<unknown frame>")]
                for depth, f in enumerate(frames):
                    rec = {"kind": "call", "tid": tid, "fid": depth + 1, "file": f.file, "line": f.line,
                           "func": f.func, "depth": depth}
                    if f.code:
                        rec["code"] = f.code
                    self.streams.add(pid, ts, (src, chain.start, 0, k), rec)
                    k += 1
                where = [(d, f) for d, f in enumerate(frames)] or [(0, None)]
                for i, (depth, f) in enumerate(reversed(where)):
                    rec = {"kind": "exception", "tid": tid, "fid": depth + 1,
                           "file": f.file if f else name, "line": f.line if f else exc.header_line,
                           "func": f.func if f else "<log>", "depth": depth, "type": exc.type or "<unreadable>",
                           "message": exc.message}
                    if f is not None and f.code:
                        rec["code"] = f.code
                    if i == 0:
                        rec["traceback"] = [[fr.file, fr.line, fr.func] for fr in frames]
                        rec["logged"] = {"file": name, "line": exc.header_line, "to": exc.end_line}
                        if exc.relation:
                            rec["chain"] = exc.relation
                    self.streams.add(pid, ts, (src, chain.start, 0, k), rec)
                    k += 1
                    if f is None:
                        continue
                    if depth == 0 and handled:
                        self.streams.add(pid, ts, (src, chain.start, 0, k),
                                         {"kind": "line", "tid": tid, "fid": 1, "file": f.file, "line": f.line,
                                          "func": f.func, "depth": 0,
                                          "handled": "the traceback was logged and the program went on"})
                        k += 1
                    # the frame is left (as settrace reports an unwinding: a return without a value)
                    self.streams.add(pid, ts, (src, chain.start, 0, k),
                                     {"kind": "return", "tid": tid, "fid": depth + 1, "file": f.file,
                                      "line": f.line, "func": f.func, "depth": depth})
                    k += 1


def _finds(block: bytes, word: bytes):
    """Every position of `word` in `block`."""
    at = block.find(word)
    while at >= 0:
        yield at
        at = block.find(word, at + 1)


def _first_date(path: Path) -> float | None:
    """The first full date in the first lines of a log, or None."""
    if not path.is_file():
        return None
    with open(path, "rb") as f:
        for raw in f.readlines(1 << 20)[:2000]:
            ts = full_date(raw.decode("latin-1"))
            if ts is not None:
                return ts
    return None


def _reference_time(root: Path, pilot_ts: float | None) -> float:
    """Where untimed lines start when nothing better is known: the first full date in a payload
    log, else the file's modification time (kept by tar)."""
    if pilot_ts is not None:
        return pilot_ts
    for name in ("payload.stdout", "payload.stderr"):
        ts = _first_date(root / name)
        if ts is not None:
            return ts
    dated = [ts for p in _text_logs(root) if (ts := _first_date(p)) is not None]
    if dated:
        return min(dated)
    try:
        return min(p.stat().st_mtime for p in root.iterdir() if p.is_file())
    except (OSError, ValueError):
        return 0.0


@dataclass
class Written:
    """A converted job whose streams are JSONL files: `files` maps each pid to its file."""

    job: dict
    files: dict[int, Path]


def convert_folder(root: Path, report: ImportReport) -> Converted:
    """Read the work directory `root` (pilot log, payload output, logs, reports, prmon) as one job,
    its records in memory (for small jobs and tests; `convert_to_files` keeps memory bounded)."""
    with tempfile.TemporaryDirectory(prefix="jemgui-grid-") as tmp:
        out = convert_to_files(root, report, Path(tmp))
        streams = {pid: [orjson.loads(line) for line in open(path, "rb")] for pid, path in out.files.items()}
    return Converted(job=out.job, streams=streams)


def convert_to_files(root: Path, report: ImportReport, dest: Path, avoid: set[int] = frozenset()) -> Written:
    """Read the work directory `root` as one job and write its streams as `dest/events/<pid>.jsonl`.

    Records are sorted on disk, never held together, so a log of any size fits
    in bounded memory. A pid in `avoid` (one a JEM archive beside it uses) is
    written as the next pid free.
    """
    job = _Job(root, report, dest / "spill")
    pilot = None
    if (root / "pilotlog.txt").is_file():
        job.pilot_log(root / "pilotlog.txt")
        pilot = job.pilot
    else:
        report.add("pilotlog.txt", 0, "no-manifest", "no pilotlog.txt: job facts and the payload's pid unknown")
    payload = pilot.payload if pilot else {}
    pid = payload.get("pid", DEFAULT_PAYLOAD_PID)
    first_pilot = pilot.first.ts if pilot and pilot.first else None
    start = payload.get("started", _reference_time(root, first_pilot))

    facts = {}
    rep = jobreport.load(root / "jobReport.json", report) if (root / "jobReport.json").is_file() else None
    if rep is not None:
        facts = jobreport.job_report(rep)
    perr = root / "payload_error_report.json"
    wrapper = jobreport.load(perr, report) if perr.is_file() else None
    wn = jobreport.load(root / "workernode_map.json", report) if (root / "workernode_map.json").is_file() else None
    beat = root / "pilot_heartbeat.json"
    heartbeat = jobreport.load(beat, report) if beat.is_file() else None
    exit_code = facts.get("exit_code", payload.get("exit_code"))
    if isinstance(exit_code, int):
        job.payload_ok = exit_code == 0 and not (pilot and pilot.error_codes)

    offset = local_offset(_first_date(root / "payload.stdout"), payload.get("started"))
    if offset:
        report.add("payload.stdout", 0, "local-time", f"the payload's times are the node's local time, UTC"
                   f"{offset / 3600:+g} h by the pilot's clock; placed in UTC")
    clocks = []
    for name, stream in (("payload.stdout", "stdout"), ("payload.stderr", "stderr")):
        if (root / name).is_file():
            clocks.append(job.text_log(root / name, name, pid, stream, start, offset))
    logs = sorted(p for p in _text_logs(root))
    for i, p in enumerate(logs):
        rel = p.relative_to(root).as_posix()
        stream = "stderr" if rel.endswith(("stderr", ".err")) else "stdout"
        clocks.append(job.text_log(p, rel, FIRST_LOG_PID + i, stream, start, offset))

    monitors = sorted(p for p in root.iterdir() if p.is_file() and PRMON_FILES.match(p.name))
    # the pilot's prmon watches the whole payload; a transform's own one only its substep
    chosen = next((p for p in monitors if p.name == "memory_monitor_output.txt"), monitors[0] if monitors else None)
    samples = prmon.read_samples(_lines(chosen, chosen.name, report), chosen.name, report) if chosen else []
    for n, (ts, values) in enumerate(samples):
        job.streams.add(pid, ts, (0, n, 1, 0), {"kind": "metric", "values": values})
    summ = root / "memory_monitor_summary.json"
    mm = jobreport.load(summ, report) if summ.is_file() else None

    job.traceback_records()
    # the payload's process: as the pilot logged it, else from its output's first and last times
    last = max([c.last for c in clocks] + [start])
    proc_start = {"kind": "process", "phase": "start", "argv": [payload.get("executable") or "payload"],
                  "lang": "other", "cwd": str(root.name)}
    has_payload = pilot is not None or any((root / n).is_file() for n in MARKERS)
    if has_payload:  # a folder of other logs names no process
        job.streams.add(pid, start, (-1, 0, 0, 0), proc_start)
    if has_payload and ("exit_code" in payload or exit_code is not None):
        end = {"kind": "process", "phase": "exit",
               "exit_code": payload.get("exit_code", exit_code if isinstance(exit_code, int) else -1)}
        sig = pilot.signal if pilot else None
        if sig and end["exit_code"] < 0 and isinstance(num := getattr(signal, sig, None), int):
            end["signal"] = int(num)
        job.streams.add(pid, max(payload.get("ended", last), start), (1 << 30, 0, 0, 0), end)

    out_job = _facts(job.job, pilot, facts, exit_code, wn, heartbeat, wrapper, mm)
    out_job["started"] = first_pilot if first_pilot is not None else start
    out_job["ended"] = max(last, pilot.last.ts if pilot and pilot.last else last)
    out_job["source"] = SOURCE_PILOT if has_payload else SOURCE_LOGS
    if pilot:
        final = "KILLED" if pilot.signal else ("DONE" if job.payload_ok else "FAILED")
        if job.payload_ok is not None or pilot.signal:
            job.streams.add(PILOT_PID, out_job["ended"], (1 << 30, 0, 0, 0), {"kind": "state", "state": final})
    out_job["log_clock"] = {"start": start, "offset": offset}
    pids = job.streams.pids
    free = max(pids | set(avoid) | {0}) + 1
    renumber = {}
    for old in sorted(pids):
        if old in avoid:
            renumber[old], free = free, free + 1
    files = job.streams.write(dest / "events", renumber, job.evidence.feed)
    out_job["verdict"] = verdict.decide(out_job, job.evidence, job.raised)
    return Written(job={k: v for k, v in out_job.items() if v is not None}, files=files)


def _facts(pilot_job: dict, pilot, report: dict, exit_code, wn, heartbeat, wrapper, mm) -> dict:
    """The manifest's job object: the pilot's facts, the transform report's, the small JSON files'."""
    out = dict(pilot_job)
    if pilot and pilot.error_codes:
        out["pilot_error_codes"] = pilot.error_codes
    out.update({k: v for k, v in report.items() if k != "machine"})
    if exit_code is not None:
        out["exit_code"] = exit_code
    if wn:
        out.setdefault("host", wn.get("host_name"))
        out["worker_node"] = wn
    machine = report.get("machine") or {}
    if isinstance(machine.get("node"), str):
        out.setdefault("host", machine["node"])
    if heartbeat:
        out["pilot_heartbeat"] = heartbeat
    if wrapper:
        out["wrapper_error"] = {"code": wrapper.get("error_code"), "diag": wrapper.get("error_diag")}
    if mm:
        out["memory_peak"] = prmon.peaks(mm)
    out.setdefault("site", out.get("queue"))
    if out.get("transformation"):
        out.setdefault("argv", [out["transformation"]])
    return out


def _text_logs(root: Path):
    """The text logs besides pilotlog.txt and payload.std*: at the top, and AthenaMP workers' logs."""
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = [d for d in dirnames if depth < 2 and not os.path.islink(os.path.join(dirpath, d))]
        for f in filenames:
            if f in MARKERS or f == "pilotlog.txt" or NOT_TEXT.search(f) or PRMON_FILES.match(f):
                continue
            if TEXT_LOG.match(f) and (depth == 0 or f == "AthenaMP.log"):
                yield Path(dirpath) / f
