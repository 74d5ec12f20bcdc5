"""JEM 2 `.jmd` logs become well-formed JEM records, whatever state the log is in."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jemgui.models.index import open_index
from jemgui.models.legacy_jmd import convert_jmd, parse_time, split_line, unescape
from jemgui.models.records import check
from jemgui.models.report import ImportReport

DATA = Path(__file__).parent / "data" / "legacy"
JMD = (DATA / "JEM_MON.jmd").read_bytes()
RECO = "/scratch/job4711/reco.py"


def convert(data: bytes):
    report = ImportReport()
    return convert_jmd(io.BytesIO(data), "JEM_MON.jmd", report), report


def assert_well_formed(streams: dict[int, list[dict]]) -> None:
    """Every record is valid, `seq` has no holes, time never goes back, and frames nest.

    Replaying each thread: a call is one deeper than the frames open, a return
    ends the innermost frame, and every other record of a frame is in the
    innermost open one.
    """
    for pid, recs in streams.items():
        stacks: dict[int, list[int]] = {}
        last = float("-inf")
        for seq, rec in enumerate(recs):
            assert check(rec) is None, rec
            assert (rec["seq"], rec["pid"]) == (seq, pid), rec
            assert rec["ts"] >= last, rec
            last = rec["ts"]
            kind = rec["kind"]
            if kind not in ("call", "return", "line", "exception", "command"):
                continue
            stack = stacks.setdefault(rec["tid"], [])
            if kind == "call":
                assert rec["depth"] == len(stack), rec
                assert rec["fid"] not in stack, rec
                stack.append(rec["fid"])
                continue
            assert stack, f"{kind} outside any frame: {rec}"
            assert rec["depth"] == len(stack) - 1, rec
            if kind != "command":
                assert rec["fid"] == stack[-1], rec
            if kind == "return":
                stack.pop()


def test_fixture_converts_to_three_streams():
    conv, _ = convert(JMD)
    assert sorted(conv.streams) == [1, 2, 3]
    kinds = {pid: Counter(r["kind"] for r in recs) for pid, recs in conv.streams.items()}
    assert kinds[1] == {"log": 54, "metric": 7, "state": 2, "marker": 1}
    assert kinds[2] == {"process": 1, "call": 2, "command": 13, "return": 1}
    assert kinds[3]["call"] == 156 and kinds[3]["exception"] == 5
    assert conv.streams[3][0] == {"seq": 0, "ts": conv.streams[3][0]["ts"], "pid": 3, "kind": "process",
                                  "phase": "start", "lang": "python"}
    assert conv.streams[2][0]["lang"] == "shell"
    assert conv.job == {"started": 1296564449.950123, "host": "wn042.grid.physik.uni-wuppertal.de",
                        "ended": conv.streams[1][-1]["ts"]}
    assert_well_formed(conv.streams)


def test_escapes_multiline_values_and_time():
    assert unescape("echo _&1_a_&2_b_&3_ c_&1_") == "echo 'a=b; c'"
    assert split_line("Type=OUTPEEKLINE;M1=x_&2_1;junk") == {"Type": "OUTPEEKLINE", "M1": "x_&2_1;junk"}
    assert split_line("no pairs here") == {}
    # ExactTS carries unpadded microseconds after the dot, as the Ganga client read it.
    assert parse_time({"ExactTS": "1296564449.950123"}) == 1296564449.950123
    assert parse_time({"ExactTS": "1296564450.87397"}) == 1296564450.087397
    assert parse_time({"ExactTS": "1296564450"}) == 1296564450.0
    assert parse_time({"ExactTS": "???", "TS": "2011-02-01 12:47:29"}) == 1296564449.0
    assert parse_time({"ExactTS": '"???"'}) is None


def test_calls_commands_and_the_failure_as_the_spec_maps_them():
    conv, _ = convert(JMD)
    shell, python = conv.streams[2], conv.streams[3]
    cd = shell[2]
    assert cd == {"seq": 2, "ts": cd["ts"], "pid": 2, "kind": "command", "tid": 2,
                  "file": "/scratch/job4711/run.sh", "line": 3, "func": "main", "depth": 0,
                  "text": "cd /scratch/job4711"}
    setup = next(r for r in shell if r["kind"] == "call" and r["func"] == "setup_env")
    assert setup["depth"] == 1 and setup["args"] == {"1": ["", "17.0.4"], "2": ["", "x86_64-slc5-gcc43-opt"]}
    assert [r["text"] for r in shell if r["kind"] == "command" and r["func"] == "setup_env"][-1] == \
        "echo 'environment 17.0.4 ready'"

    first = python[1]
    assert (first["kind"], first["func"], first["depth"], first["file"], first["line"]) == \
        ("call", "<module>", 0, RECO, 131)
    load = next(r for r in python if r["kind"] == "call" and r["func"] == "load_calibration")
    assert load["args"] == {"path": ["str", "'calib.db'"]}

    errors = [r for r in python if r["kind"] == "exception" and r["type"] == "ZeroDivisionError"]
    assert [(r["func"], r["depth"], r["line"]) for r in errors] == [
        ("fit_track", 3, 53), ("process_event", 2, 63), ("main", 1, 112), ("<module>", 0, 131)]
    inner = errors[0]
    assert inner["message"] == "float division by zero"
    # Vars become the frame's locals: only what its call's arguments do not already say
    assert inner["changed"] == {"n": ["", "6"]}
    call = next(r for r in python if r["kind"] == "call" and r["fid"] == inner["fid"])
    assert call["args"] == {"hits": ["list", "[0.9, 9.2, 5.8, 1.5, 0.6, 4.2]"], "width": ["float", "0.0"]}
    assert inner["traceback"] == [[RECO, 131, "<module>"], [RECO, 112, "main"],
                                  [RECO, 63, "process_event"], [RECO, 53, "fit_track"]]
    assert inner["code"][3] == "    slope = (hits[-1] - hits[0]) / width"
    assert ["traceback" in r for r in errors] == [True, False, False, False]  # first of the chain only
    # replayed up to the failure, every frame stands on the line it was running
    stack: list[list] = []
    for r in python[: python.index(inner) + 1]:
        if r["kind"] == "call":
            stack.append([r["fid"], r["func"], r["line"]])
        elif r["kind"] in ("line", "exception", "return"):
            frame = next(f for f in stack if f[0] == r["fid"])
            frame[2] = r["line"]
            if r["kind"] == "return":
                stack.remove(frame)
    assert [(func, line) for _, func, line in stack] == [
        ("<module>", 131), ("main", 112), ("process_event", 63), ("fit_track", 53)]
    handled = next(r for r in python if r["kind"] == "exception" and r["type"] == "KeyError")
    assert handled["func"] == "calibrate" and "changed" not in handled  # Vars = the arguments


def test_resources_states_and_output():
    conv, _ = convert(JMD)
    job = conv.streams[1]
    first = next(r for r in job if r["kind"] == "metric")
    assert first["values"] == {"load1": 2.32, "Mem": 1840, "NetR": 495.3, "NetT": 101.6, "Workdir": 18043,
                               "Tmp": 5120, "Home": 712, "Swap": 2047}
    assert [r["state"] for r in job if r["kind"] == "state"] == ["STARTED", "FINISHED"]
    assert [r["text"] for r in job if r["kind"] == "marker"] == ["full file systems: /tmp"]
    logs = [(r["stream"], r["text"]) for r in job if r["kind"] == "log"]
    assert ("stdout", "environment 17.0.4 ready\n") in logs
    assert ("stderr", "ZeroDivisionError: float division by zero\n") in logs


def test_damage_is_reported_and_the_lines_around_it_kept():
    conv, report = convert(JMD)
    problems = [(p.line, p.code) for p in report.problems]
    assert problems == [(15, "legacy"), (50, "legacy"), (69, "legacy"), (109, "legacy"), (137, "bad-utf8"),
                        (166, "legacy"), (174, "legacy"), (280, "legacy")]
    texts = [r["text"] for r in conv.streams[1] if r["kind"] == "log"]
    assert "Müller-Lyer cut flow: ok\n" in texts  # Latin-1 line, read as Latin-1
    assert "raw semicolon; left unescaped\n" in texts  # an unescaped ';' stays in its value
    assert "event 9: no timestamp on this line\n" in texts
    assert any(r["kind"] == "marker" and r["text"].startswith("return from cleanup") for r in conv.streams[3])
    # the call whose arguments are cut is kept, without arguments
    call_27 = [r for r in conv.streams[3] if r["kind"] == "call" and r["func"] == "calibrate"][27]
    assert "args" not in call_27


def test_job_log_tarball_opens_at_its_failure():
    """What a shifter holds: JEM_LOG.tgz. Indexed, it shows the failing line, its stack and locals."""
    index = open_index(DATA / "JEM_LOG.tgz")
    failure = index.summary()["failure"]
    index.close()
    assert (failure["type"], failure["func"], failure["line"]) == ("ZeroDivisionError", "fit_track", 53)
    assert [(f["func"], f["line"]) for f in failure["stack"]] == [
        ("<module>", 131), ("main", 112), ("process_event", 63), ("fit_track", 53)]
    assert failure["stack"][-1]["locals"] == {
        "hits": ["list", "[0.9, 9.2, 5.8, 1.5, 0.6, 4.2]"], "width": ["float", "0.0"], "n": ["", "6"]}


def test_killed_job_has_no_end_and_its_cut_line_is_reported():
    conv, report = convert((DATA / "killed.jmd").read_bytes())
    assert "ended" not in conv.job
    assert [(p.line, p.code) for p in report.problems] == [(147, "cut-line"), (147, "legacy")]
    assert_well_formed(conv.streams)
    stack = []
    for rec in conv.streams[3]:
        if rec["kind"] == "call":
            stack.append(rec["func"])
        elif rec["kind"] == "return":
            stack.pop()
    assert stack == ["<module>", "main", "process_event", "fit_track"]  # the cut call is kept


def test_frames_are_opened_for_records_in_unseen_frames():
    log = (
        b"Type=EXCEPTION;ExactTS=100.5;Lang=PYTHON;Error=IOError;Reason=disk full;Frame=write_out;"
        b"Script=job.py;Line=7;Vars=path: _&1_/tmp/x_&1_<br>size: 12\n"
        b"Type=EXCEPTION;ExactTS=100.6;Lang=PYTHON;Error=IOError;Reason=disk full;Frame=?;Script=job.py;Line=30\n"
        b"Type=COMMAND;ExactTS=101;SubType=EXTERNAL;Lang=BASH;Frame=???;Script=run.sh;Line=4;M1=ls\n"
        b"Type=COMMAND;ExactTS=102;SubType=CALL;PID=4242;Lang=PYTHON;Frame=f;Script=b.py;Line=1;M2=?;M3=b.py:9\n"
    )
    conv, report = convert(log)
    assert not report.problems
    assert_well_formed(conv.streams)
    python = conv.streams[3]
    assert [(r["kind"], r.get("func"), r.get("depth")) for r in python[1:]] == [
        ("call", "<module>", 0), ("call", "write_out", 1), ("exception", "write_out", 1),
        ("return", "write_out", 1), ("exception", "<module>", 0)]
    assert python[3]["changed"] == {"path": ["", "'/tmp/x'"], "size": ["", "12"]}
    assert python[1]["file"] == "job.py"  # learned from the module-level record
    assert conv.streams[2][-1]["func"] == "main"
    assert [(r["kind"], r.get("func"), r.get("file")) for r in conv.streams[4242][1:]] == [
        ("call", "<module>", "b.py"), ("call", "f", "b.py")]


def test_empty_and_garbage_inputs():
    conv, report = convert(b"")
    assert conv.streams == {} and conv.job == {} and report.total == 0
    conv, report = convert(b"\x00\xff\xfe garbage\n\n;;;\n=x\n")
    assert conv.streams == {}
    assert report.counts == {"bad-utf8": 1, "legacy": 3}


def _intact(original: bytes, corrupted: bytes) -> list[bytes]:
    """Lines of the original that are still whole lines of the corrupted copy."""
    kept = set(corrupted.split(b"\n")[:-1]) | ({corrupted.rsplit(b"\n", 1)[-1]} if corrupted else set())
    return [line for line in original.split(b"\n") if line in kept]


@st.composite
def corrupted(draw):
    data = JMD
    how = draw(st.sampled_from(["truncate", "flip", "insert"]))
    if how == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if how == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            out[draw(st.integers(0, len(out) - 1))] ^= draw(st.integers(1, 255))
        return bytes(out)
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted())
def test_fuzz_corrupted_logs_never_fail_and_keep_good_lines(data):
    conv, _ = convert(data)
    assert_well_formed(conv.streams)
    intact = _intact(JMD, data)
    texts = Counter(r["text"] for recs in conv.streams.values() for r in recs if r["kind"] == "log")
    calls = Counter((r["func"], r["line"]) for recs in conv.streams.values() for r in recs
                    if r["kind"] == "call" and "line" in r)
    wanted_texts, wanted_calls = Counter(), Counter()
    for line in intact:
        try:
            fields = split_line(line.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        if fields.get("Type") == "OUTPEEKLINE" and "M1" in fields:
            wanted_texts[unescape(fields["M1"]) + "\n"] += 1
        if fields.get("SubType") == "CALL":
            wanted_calls[(fields["Frame"], int(fields["Line"]))] += 1
    assert not wanted_texts - texts
    assert not wanted_calls - calls
