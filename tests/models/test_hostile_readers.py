"""Crafted inputs against the readers (issue 16, readers): each attack is refused in one line or
becomes counted problems in the import report, never a traceback, a hang or the machine's memory.

Small generated inputs where the attack needs no size; the bombs are written streaming in the
test's own temporary folder.
"""

from __future__ import annotations

import io
import json
import os
import random
import resource
import signal
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jemgui.models import inputs, records, streams
from jemgui.models.export import export_jsonl
from jemgui.models.index import open_index
from jemgui.models.inputs import UnreadableInput
from jemgui.models.text import printable
from tests.models.jobs import failing_python, monitor, shell, write_archive

START = {"kind": "process", "phase": "start", "argv": ["python3", "x.py"], "ppid": 1, "lang": "python"}
DEEP = "[" * 1000 + "]" * 1000


def write_lines(path: Path, records: list) -> Path:
    """One JSON line per record; a str is written as it stands (a crafted line)."""
    with open(path, "w") as f:
        for i, r in enumerate(records):
            if isinstance(r, str):
                f.write(r + "\n")
            else:
                f.write(json.dumps({"seq": i, "ts": 1700000000.0 + i, "pid": 7, **r}) + "\n")
    return path


def cli(*args, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jemgui", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


# -- crafted values: counted, never a traceback ----------------------------------------------------


def line(seq: int, body: str) -> str:
    return f'{{"seq": {seq}, "ts": {1700000000.0 + seq:f}, "pid": 7, {body}}}'


CRAFTED = {
    "nested 1,000 deep": (line(1, f'"kind": "marker", "text": "x", "extra": {DEEP}'), "bad-record"),
    "an unknown field nested 300 deep (msgspec's strict decoding takes it)": (
        line(1, '"kind": "marker", "text": "x", "extra": ' + "[" * 300 + "]" * 300), "bad-record"),
    "a traceback nested 1,000 deep": (line(1, '"kind": "exception", "tid": 1, "fid": 1, "file": "a.py", '
                                             f'"line": 1, "func": "f", "depth": 0, "type": "E", "message": "m", '
                                             f'"traceback": {DEEP}'), "bad-record"),
    "argv not a list": (line(1, '"kind": "process", "phase": "start", "argv": "rm -rf /"'), "bad-field"),
    "a time of 1e308": (line(1, '"kind": "marker", "text": "x"').replace("1700000001.000000", "1e308"), "bad-record"),
    "a metric of 2^63": (line(1, '"kind": "metric", "values": {"rss": 9223372036854775808, "cpu": 5}'), "bad-field"),
    "an exception message that is a list": (line(1, '"kind": "exception", "tid": 1, "fid": 1, "file": "a.py", '
                                                    '"line": 1, "func": "f", "depth": 0, "type": ["E"], '
                                                    '"message": ["a", "b"], "traceback": [[1, 2, 3]]'), "bad-field"),
    "an exit code that is a string": (line(1, '"kind": "process", "phase": "exit", "exit_code": "0"'), "bad-field"),
    "a line number of 2^70": (line(1, '"kind": "command", "file": "r.sh", "line": 1180591620717411303424, '
                                      '"text": "x"'), "bad-field"),
    "a pid of 2^64": (line(1, '"kind": "marker", "text": "x"').replace('"pid": 7', '"pid": 18446744073709551615'),
                      "bad-record"),
    "a vars map that is a list": (line(1, '"kind": "call", "tid": 1, "fid": 1, "file": "a.py", "line": 1, '
                                          '"func": "f", "depth": 0, "args": [1, 2]'), "bad-field"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_a_crafted_value_is_a_counted_problem(tmp_path, case):
    crafted, code = CRAFTED[case]
    path = tmp_path / "7.jsonl"
    path.write_text(json.dumps({"seq": 0, "ts": 1700000000.0, "pid": 7, **START}) + "\n" + crafted + "\n"
                    + line(2, '"kind": "process", "phase": "exit", "exit_code": 1') + "\n")
    ix = open_index(path)
    assert ix.report.counts[code] >= 1, dict(ix.report.counts)
    summary = ix.summary()  # every reader of the index meets only well-typed values
    assert summary["records"] == ix.count >= 2
    for pos in range(ix.count):
        ix.state_at(pos)
    with open(tmp_path / "export.jsonl", "wb") as f:  # re-encoding every kept record works (orjson: 255 deep)
        export_jsonl(ix, f)
    r = cli("summary", path, env={"JEMGUI_CACHE_DIR": str(tmp_path / "cache")})
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert f"1 {code}" in r.stdout or f"{code}" in r.stdout


def test_a_crafted_manifest_is_a_counted_problem(tmp_path):
    root = write_archive(tmp_path / "job", [failing_python()])
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["job"].update(started=1e308, ended=-5, exit_code=2**63, argv="not a list", name=["x"])
    text = json.dumps(manifest)[:-1] + ', "deep": ' + DEEP[300:-300] + "}"
    (root / "manifest.json").write_text(text)
    ix = open_index(root)
    assert ix.report.counts["bad-manifest"] >= 1
    s = ix.summary()
    assert s["exit_code"] is None and s["job"].get("argv") is None and s["job"].get("name") is None
    r = cli("summary", root, env={"JEMGUI_CACHE_DIR": str(tmp_path / "cache")})
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr


# -- escapes ------------------------------------------------------------------------------------------


def test_printable_escapes_what_a_terminal_would_run():
    assert printable("a\x1b]0;owned\x07b\r\nc\x9b2J\u202e") == "a\\x1b]0;owned\\x07b\\r\\nc\\x9b2J\\u202e"
    assert printable("héllo wörld ✓ 日本") == "héllo wörld ✓ 日本"  # text is text
    assert printable(["x\n"]) == "['x\\n']"


def test_summary_and_inspect_print_no_escape_of_a_crafted_archive(tmp_path):
    py = failing_python()
    for r in py.records:
        if r["kind"] == "exception":
            r["message"] = "42\x1b[2J\x1b]0;pwned\x07\nOutcome   exit code 0"
        if r.get("func") == "g":
            r["func"] = "g\x1b[31m"
    root = write_archive(tmp_path / "job", [monitor(), shell(), py],
                         job={"name": "reco\x1b]0;title\x07", "user": "/CN=Jane\rDoe"})
    env = {"JEMGUI_CACHE_DIR": str(tmp_path / "cache")}
    for args in (["summary", root], ["inspect", root, "--failure"], ["inspect", root, "--at", "1"],
                 ["summary", tmp_path / "no\x1b[2Jsuch"]):
        r = cli(*args, env=env)
        assert "Traceback" not in r.stderr, r.stderr
        for out in (r.stdout, r.stderr):
            assert "\x1b" not in out and "\x07" not in out and "\r" not in out, (args, out)
        assert not any(ln.startswith("Outcome   exit code 0") for ln in r.stdout.splitlines()), r.stdout
    summary = cli("summary", root, env=env).stdout
    assert "42\\x1b[2J\\x1b]0;pwned\\x07\\nOutcome   exit code 0" in summary
    assert "reco\\x1b]0;title\\x07" in summary


# -- many streams -----------------------------------------------------------------------------------


def run_measured(args: list, limit_mb: int, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    """Run jemgui under an address-space cap (it took all 23 GB of the machine); (result, seconds)."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))

    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "jemgui", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, preexec_fn=cap, env={**os.environ, "JEMGUI_INDEX_WORKER": "0"})
    return r, time.perf_counter() - t


def many_pids(path: Path, pids: int, size: int) -> Path:
    """A bare stream of `size` bytes whose lines cycle through `pids` processes."""
    with open(path, "w") as f:
        i = 0
        while f.tell() < size:
            f.write(f'{{"seq":{i // pids},"ts":{1700000000 + i * 1e-4:.4f},"pid":{1000 + i % pids},'
                    '"kind":"marker","text":"heartbeat"}\n')
            i += 1
    return path


def test_a_stream_of_200000_pids_is_read_once_and_capped(tmp_path):
    path = many_pids(tmp_path / "pids.jsonl", 200_000, 15_000_000)
    r, seconds = run_measured(["summary", "--json", path], 1500, 300)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert len(s["streams"]) == inputs.MAX_STREAMS
    assert s["problems"]["counts"]["too-many-streams"] > 100_000
    assert s["records"] + s["problems"]["counts"]["too-many-streams"] == sum(1 for _ in open(path))


def test_streams_read_once_cost_near_linear_time(tmp_path):
    """3,000 processes in one file cost about what 30 do (it took 4.9 GB when each re-read the file)."""
    few, many = many_pids(tmp_path / "few.jsonl", 30, 8_000_000), many_pids(tmp_path / "many.jsonl", 3000, 8_000_000)
    times = {}
    for p in (few, many):
        t = time.perf_counter()
        ix = open_index(p)
        times[p.name] = time.perf_counter() - t
        assert ix.report.counts.get("too-many-streams", 0) == 0
        ix.close()
    assert times["many.jsonl"] < 2.5 * times["few.jsonl"] + 1, times


def test_an_archive_of_5000_streams_merges_and_caps(tmp_path):
    events = tmp_path / "job" / "events"
    events.mkdir(parents=True)
    for p in range(1, 5001):
        (events / f"{p}.jsonl").write_text("".join(
            f'{{"seq":{s},"ts":{1700000000 + s + p * 1e-4:.4f},"pid":{p},"kind":"marker","text":"x"}}\n'
            for s in range(5)))
    ix = open_index(tmp_path / "job")
    assert ix.report.counts["too-many-streams"] == 5000 - inputs.MAX_STREAMS
    assert ix.count == 5 * inputs.MAX_STREAMS
    ts = [ix.time_at(i) for i in range(0, ix.count, 97)]
    assert ts == sorted(ts)


# -- bombs --------------------------------------------------------------------------------------------

GIB = 1 << 30
BLOCK = 1 << 24
#: where runs copy a pack's members (inputs.private_tmp)
RUNS = Path(inputs.tempfile.gettempdir(), f"jemgui-{os.getuid()}")
ZERO = bytes(BLOCK)


class Deflater:
    """zlib's compressor, but a block of zeros costs nothing: after a full flush deflate starts
    afresh, so one block's output stands for every other (a 1 GiB member is written in a second)."""

    def __init__(self):
        self.c = zlib.compressobj(9, zlib.DEFLATED, -15)
        fresh = zlib.compressobj(9, zlib.DEFLATED, -15)
        self.unit = fresh.compress(b"\0" * BLOCK) + fresh.flush(zlib.Z_FULL_FLUSH)

    def compress(self, data: bytes) -> bytes:
        if data is ZERO:
            return self.c.flush(zlib.Z_FULL_FLUSH) + self.unit
        return self.c.compress(data)

    def flush(self, mode: int = zlib.Z_FINISH) -> bytes:
        return self.c.flush(mode)


def write_gzip(path: Path, parts) -> Path:
    """A gzip file of `parts` (bytes, or an int: that many zeros, a multiple of BLOCK). Its
    trailer's CRC is left 0, as an attacker may leave it: a reader never gets that far."""
    d, size = Deflater(), 0
    with open(path, "wb") as f:
        f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
        for part in parts:
            if isinstance(part, int):
                for _ in range(part // BLOCK):
                    f.write(d.compress(ZERO))
                size += part
            else:
                f.write(d.compress(part))
                size += len(part)
        f.write(d.flush())
        f.write(struct.pack("<II", 0, size & 0xFFFFFFFF))
    return path


def tar_parts(members: list[tuple[str, bytes | int]]):
    """A tar stream's parts: each member's header, then its bytes or its count of zeros."""
    for name, data in members:
        info = tarfile.TarInfo(name)
        info.size = data if isinstance(data, int) else len(data)
        yield info.tobuf(format=tarfile.GNU_FORMAT)
        yield data
        if info.size % 512:
            yield b"\0" * (512 - info.size % 512)
    yield b"\0" * 1024


def job_members(tmp_path: Path) -> list[tuple[str, bytes]]:
    root = write_archive(tmp_path / "job", [failing_python()])
    return [(p.relative_to(root.parent).as_posix(), p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()]


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    """The issue's bombs: a .jsonl.gz of 1 GiB of zeros, a .tar.gz and a .zip holding a real job
    beside three members of 1 GiB of zeros each."""
    tmp = tmp_path_factory.mktemp("bombs")
    members = job_members(tmp)
    three = [(f"job/events/{900 + i}.jsonl", GIB) for i in (1, 2, 3)]
    out = {"jsonl.gz": write_gzip(tmp / "7.jsonl.gz", [GIB]),
           "tar.gz": write_gzip(tmp / "job.tar.gz", tar_parts(members + three))}
    z = tmp / "job.zip"
    real = zipfile._get_compressor
    zipfile._get_compressor = lambda *a, **k: Deflater()
    try:
        with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members:
                zf.writestr(name, data)
            for name, n in three:
                with zf.open(name, "w", force_zip64=True) as f:
                    for _ in range(n // BLOCK):
                        f.write(ZERO)
    finally:
        zipfile._get_compressor = real
    out["zip"] = z
    for p in out.values():
        assert p.stat().st_size < 16 << 20
    return out


@pytest.mark.parametrize("kind", ["jsonl.gz", "tar.gz", "zip"])
def test_a_bomb_is_refused_quickly_in_one_line(bombs, tmp_path, kind):
    r, seconds = run_measured(["summary", bombs[kind]], 1500, 120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 3 and len(lines) == 1 and "compression bomb" in lines[0], r.stderr
    assert seconds < 30, seconds
    with pytest.raises(UnreadableInput, match="compression bomb"):
        open_index(bombs[kind])
    assert not list(RUNS.glob(f"run-{os.getpid()}-*"))  # nothing copied stays behind


def test_a_run_killed_while_copying_leaves_nothing_past_the_next_run(tmp_path):
    """A pack's members are copied into a folder of the user's run folder; a run killed with
    SIGKILL cannot remove it, the next run does."""
    big = tmp_path / "job.tar"
    root = write_archive(tmp_path / "job", [failing_python()])
    with tarfile.open(big, "w") as tar:
        tar.add(root, arcname="job")
        info = tarfile.TarInfo("job/events/999.jsonl")
        info.size = 256 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))  # a plain tar: no ratio to refuse it
    parent = RUNS
    proc = subprocess.Popen([sys.executable, "-m", "jemgui", "summary", big], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "JEMGUI_CACHE_DIR": str(tmp_path / "c")})
    deadline = time.monotonic() + 60
    while not list(parent.glob(f"run-{proc.pid}-*/**/999.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(parent.glob(f"run-{proc.pid}-*")), "the killed run left its folder (as SIGKILL must)"
    inputs.open_input(root).close()  # the next run that opens any input (here a folder) removes it
    assert not list(parent.glob(f"run-{proc.pid}-*"))


# -- the caps, over made-up packs --------------------------------------------------------------------

FLOOR = 64 << 10


@st.composite
def pack(draw):
    """A real job's members beside extra event streams: small ones, and some of zeros far past the
    ratio floor (bombs), or of random bytes past the total cap; as a tar, tar.gz or zip."""
    extra = draw(st.lists(st.tuples(st.sampled_from(["small", "zeros", "noise"]), st.integers(0, 3)),
                          max_size=6))
    return draw(st.sampled_from(["tar", "tar.gz", "zip"])), extra


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(pack())
def test_made_up_packs_meet_the_caps(monkeypatch, case):
    kind, extra = case
    monkeypatch.setattr(inputs, "RATIO_FLOOR", FLOOR)
    monkeypatch.setattr(inputs, "MAX_MEMBER_BYTES", 1 << 20)
    monkeypatch.setattr(inputs, "MAX_TOTAL_BYTES", 2 << 20)
    monkeypatch.setattr(inputs, "MAX_STREAMS", 5)
    rng = random.Random(len(extra))
    members = {}
    for i, (what, size) in enumerate(extra):
        name = f"job/events/{900 + i}.jsonl"
        if what == "small":
            members[name] = "".join(json.dumps({"seq": s, "ts": 1700000000.0 + s, "pid": 900 + i, "kind": "marker",
                                                "text": "x"}) + "\n" for s in range(size + 1)).encode()
        elif what == "zeros":
            members[name] = bytes(FLOOR * (4 + size))  # deflate packs zeros ~1000:1
        else:
            members[name] = rng.randbytes(700_000 + size * 1000)  # incompressible: only the total cap
    with tempfile.TemporaryDirectory() as tmp:
        root = write_archive(Path(tmp) / "job", [failing_python(), monitor()])
        for p in sorted(root.rglob("*")):
            if p.is_file():
                members.setdefault(p.relative_to(root.parent).as_posix(), p.read_bytes())
        # what is copied: the first five streams in the pack's order, and the rest of the job
        events = [n for n in members if n.startswith("job/events/")]
        copied = [d for n, d in members.items() if n not in events[5:]]
        bomb = any(len(d) >= 4 * FLOOR and not d.strip(b"\0") for d in copied)
        total = sum(len(d) for d in copied) > 2 << 20
        path = Path(tmp) / f"pack.{kind}"
        if kind == "zip":
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, data in members.items():
                    zf.writestr(name, data)
        else:
            with tarfile.open(path, "w:gz" if kind == "tar.gz" else "w") as tar:
                for name, data in members.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        try:
            ix = open_index(path)
        except UnreadableInput as exc:
            assert "\n" not in str(exc)
            assert (bomb and kind != "tar") or total, str(exc)  # a plain tar has no ratio to exceed
            assert "compression bomb" in str(exc) or "in all" in str(exc), str(exc)
        else:
            # a tar.gz's member is measured by the packed file's position, which moves a read-ahead
            # at a time: at this test's 64 KiB floor a zeros member between incompressible ones can
            # fit in one read; at the real floor (64 MiB) it cannot
            assert not (bomb and kind == "zip") and not total, dict(ix.report.counts)
            assert ix.report.counts.get("too-many-streams", 0) == max(0, len(events) - 5)
            ix.close()
    assert not list(RUNS.glob(f"run-{os.getpid()}-*"))  # no copy outlives its open


# -- made-up values in every field the spec names ----------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
                    | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=12)
FIELDS = sorted({*records.FIELDS, "ts", "kind"} - {"seq", "pid"})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(records.KINDS), st.dictionaries(st.sampled_from(FIELDS), JSON,
                                                                          max_size=4)), min_size=1, max_size=8))
def test_made_up_field_values_are_kept_or_counted(recs):
    """Whatever a known field holds, opening, summarising, replaying and exporting work, and
    every line is kept or counted."""
    lines = []
    for seq, (kind, fields) in enumerate(recs):
        rec = {"kind": kind, "tid": 1, "fid": 1, "file": "a.py", "line": 1, "func": "f", "depth": 0, **fields,
               "seq": seq, "pid": 7}
        rec.setdefault("ts", 1700000000.0 + seq)
        lines.append(json.dumps(rec))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "7.jsonl"
        path.write_text("\n".join(lines) + "\n")
        ix = open_index(path)
        counts = ix.report.counts
        assert ix.count + counts.get("bad-record", 0) + counts.get("bad-json", 0) == len(lines), dict(counts)
        ix.summary()
        for pos in range(ix.count):
            ix.state_at(pos)
            records.describe(ix.record(pos))
        with open(Path(tmp) / "out.jsonl", "wb") as f:
            export_jsonl(ix, f)
        ix.close()


def test_records_that_all_come_late_cost_linear_time(tmp_path):
    """Every even seq first, then every odd one: each late record fills its hole by bisection (a scan of
    the holes made 200,000 such lines run for more than five minutes); past MAX_HOLES a hole is reported
    at once and its late record counted as a repeat."""
    n = 60_000
    path = tmp_path / "7.jsonl"
    with open(path, "w") as f:
        for i, s in enumerate([*range(0, 2 * n, 2), *range(1, 2 * n, 2)]):
            f.write(f'{{"seq":{s},"ts":{1700000000 + i * 1e-3:.3f},"pid":7,"kind":"marker","text":"x"}}\n')
    t = time.perf_counter()
    ix = open_index(path)
    assert time.perf_counter() - t < 60
    kept = min(n - 1, streams.MAX_HOLES)
    assert ix.count == n + kept + 1  # the last odd one comes after the last even one: on time
    assert ix.report.counts["seq-hole"] == n - 1 - kept and ix.report.counts["seq-repeat"] == n - 1 - kept
    assert ix.streams()[0]["holes"] == []


@pytest.mark.parametrize("mode", ["w:bz2", "w:xz"])
def test_bzip2_and_xz_tarballs_open_and_their_bombs_are_refused(tmp_path, mode):
    root = write_archive(tmp_path / "job", [failing_python(), monitor()])
    good, bomb = tmp_path / f"good.tar.{mode[2:]}", tmp_path / f"bomb.tar.{mode[2:]}"
    for path, extra in ((good, 0), (bomb, 80 << 20)):
        with tarfile.open(path, mode) as tar:
            tar.add(root, arcname="job")
            if extra:  # 80 MiB of zeros: bzip2 and xz pack them thousands of times
                info = tarfile.TarInfo("job/events/999.jsonl")
                info.size = extra
                tar.addfile(info, io.BytesIO(bytes(extra)))
    ix = open_index(good)
    assert ix.count == len(failing_python().records) + len(monitor().records)
    ix.close()
    with pytest.raises(UnreadableInput, match="compression bomb"):
        open_index(bomb)
