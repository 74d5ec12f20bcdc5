"""A PanDA pilot's log tarball opens as one job: pilot lines, payload output, tracebacks, prmon, reports.

Fixtures: tests/models/gridlogs_fixtures.py, text shaped like the public formats (sources named there).
"""

from __future__ import annotations

import calendar
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from jemgui.models.gridlogs.job import convert_folder
from jemgui.models.gridlogs.pilotlog import Reader
from jemgui.models.gridlogs.textlog import Clock
from jemgui.models.gridlogs.tracebacks import Scanner
from jemgui.models.index import open_index
from jemgui.models.inputs import list_jobs, open_input
from jemgui.models.report import ImportReport
from jemgui.models.summary import summarize
from tests.models import gridlogs_fixtures as fx
from tests.models.test_legacy_jmd import assert_well_formed


def utc(text: str) -> float:
    date, clock = text.split(" ")
    return calendar.timegm((*map(int, date.split("-")), *map(int, clock.split(":")), 0, 0, 0))


def convert(tmp_path, files):
    report = ImportReport()
    return convert_folder(fx.unpack(tmp_path, files), report), report


def logs_of(conv, name):
    return [r for recs in conv.streams.values() for r in recs if r["kind"] == "log" and r.get("logfile") == name]


# --- parts ----------------------------------------------------------------------------------


def scan(text: str, levels=None):
    s = Scanner()
    for n, line in enumerate(text.splitlines(), 1):
        s.feed(n, line, (levels or {}).get(n))
    return s.finish()


def test_a_chained_traceback_keeps_both_exceptions_their_frames_and_code_lines():
    [chain] = scan("output before\n" + fx.USER_TRACEBACK + "after\n")
    first, last = chain.excs
    assert (first.type, first.message, first.relation) == ("KeyError", "'jet_pt_min'", None)
    assert [(f.file, f.line, f.func, f.code) for f in first.frames] == [
        ("/srv/workDir/analysis.py", 41, "load_config", "return table[key]")]  # the ~~~^^^ marker is no code
    assert (last.type, last.message, last.relation) == ("RuntimeError", "config key jet_pt_min missing", "cause")
    assert [(f.line, f.func) for f in last.frames] == [(88, "<module>"), (80, "main"), (43, "load_config")]
    assert (chain.start, chain.end) == (2, 17)


def test_handling_chain_syntax_error_and_a_cut_traceback():
    text = ("Traceback (most recent call last):\n  File \"a.py\", line 3, in f\n    x()\nValueError: bad\n\n"
            "During handling of the above exception, another exception occurred:\n\n"
            "Traceback (most recent call last):\n  File \"b.py\", line 1\n    def (\n        ^\n"
            "SyntaxError: invalid syntax\nnext\n"
            "Traceback (most recent call last):\n  File \"c.py\", line 9, in g\n")
    first, cut = scan(text)
    assert [e.relation for e in first.excs] == [None, "context"]
    assert (first.excs[1].type, first.excs[1].frames[0].func, first.excs[1].frames[0].code) == \
        ("SyntaxError", "<module>", "def (")
    assert cut.excs[0].type == "" and cut.excs[0].frames[0].line == 9


def test_the_pilots_signal_stack_dump_is_not_an_exception():
    text = fx.pilotlog(fx.T0, -1, "failed", codes=[1201], signal=True)
    assert scan(text) == []


def test_clock_reads_full_dates_athena_times_across_midnight_and_holds_untimed_lines():
    clock = Clock(utc("2026-08-17 23:50:00"))
    assert clock.stamp("untimed")[0] == utc("2026-08-17 23:50:00")
    assert clock.stamp("23:59:58 AthenaEventLoopMgr   INFO start")[0] == utc("2026-08-17 23:59:58")
    assert clock.stamp("00:00:03 G4SimTimer   ERROR x")[0] == utc("2026-08-18 00:00:03")
    assert clock.stamp("no time here") == (utc("2026-08-18 00:00:03"), False)
    assert clock.stamp("Py.x 2026-08-18 00:01:00,250 INFO y")[0] == utc("2026-08-18 00:01:00") + 0.25
    assert clock.stamp("Py.x 2026-08-17 10:00:00,000 INFO clock went back")[0] == utc("2026-08-18 00:01:00") + 0.25


def test_pilot_reader_keeps_level_module_function_and_the_jobs_facts():
    r = Reader()
    lines = [r.feed(n, t) for n, t in enumerate(fx.pilotlog(fx.T0, 1, "failed", codes=[1305]).splitlines(), 1)]
    res = r.finish()
    started = next(x for x in lines if "started -- pid" in x.text)
    assert (started.level, started.module, started.func) == ("INFO", "pilot.control.payloads.generic", "run_payload")
    assert lines[1].text.startswith("***  PanDA Pilot") and lines[1].ts == lines[0].ts and not lines[1].prefixed
    assert res.job == {"queue": fx.QUEUE, "id": fx.PANDA_ID, "task": fx.TASK, "transformation": "Sim_tf.py",
                       "log_file": f"log.{fx.TASK}._000123.job.log.tgz.1", "label": "managed", "host": fx.NODE,
                       "site": fx.QUEUE, "last_reported_state": "starting",
                       "user": "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=jdoe/CN=123456/CN=Jane Doe"}
    assert (res.payload["pid"], res.payload["exit_code"], res.payload["state"]) == (fx.PID, 1, "failed")
    assert res.error_codes == [1305]
    assert [p[1] for p in res.phases] == ["STARTED", "STAGE_IN", "RUNNING", "STAGE_OUT", "LOG_CREATION"]


# --- whole jobs -----------------------------------------------------------------------------


def test_user_job_records_follow_the_spec_with_pids_for_pilot_payload_and_logs(tmp_path):
    files = fx.user_job_python_exception()
    # pilot3 pilot/util/workernode.py and pilot/util/heartbeat.py keys
    files["workernode_map.json"] = json.dumps({"site": fx.QUEUE, "host_name": fx.NODE, "cpu_model": "AMD EPYC 7402",
                                               "n_logical_cpus": 96, "total_memory": 515_000_000}).encode()
    files["pilot_heartbeat.json"] = json.dumps({"last_pilot_update": 1786957900, "last_server_update": 1786957800,
                                                "max_diff_time": 60, "time_since_detection": 0}).encode()
    conv, report = convert(tmp_path, files)
    assert conv.job["worker_node"]["cpu_model"] == "AMD EPYC 7402"
    assert conv.job["pilot_heartbeat"]["last_server_update"] == 1786957800
    assert_well_formed(conv.streams)
    assert sorted(conv.streams) == [1, fx.PID]
    pilot = conv.streams[1]
    assert Counter(r["kind"] for r in pilot) == {"log": 17, "state": 6}
    assert pilot[-1]["state"] == "FAILED"
    payload = conv.streams[fx.PID]
    start, end = payload[0], payload[-1]
    assert (start["kind"], start["phase"], start["argv"]) == ("process", "start", ["/srv/container_script.sh"])
    assert (end["kind"], end["phase"], end["exit_code"]) == ("process", "exit", 1)
    assert start["ts"] == utc("2026-08-17 08:31:00") + 0.45
    assert conv.job["id"] == fx.PANDA_ID and conv.job["exit_code"] == 1 and conv.job["pilot_error_codes"] == [1305]
    assert conv.job["wrapper_error"] == {"code": 5318, "diag": "payload failed"}
    assert {r["stream"] for r in payload if r["kind"] == "log"} == {"stdout", "stderr"}
    assert report.total == 0


def test_the_fatal_traceback_is_the_failure_with_its_stack_and_chain(tmp_path):
    path = fx.pack(tmp_path, fx.user_job_python_exception())
    ix = open_index(path)
    s = summarize(ix)
    f = s["failure"]
    assert (f["type"], f["message"], f["file"], f["line"], f["func"]) == (
        "RuntimeError", "config key jet_pt_min missing", "/srv/workDir/analysis.py", 43, "load_config")
    assert [(fr["line"], fr["func"]) for fr in f["stack"]] == [(88, "<module>"), (80, "main"), (43, "load_config")]
    rec = ix.record(f["position"])
    assert rec["chain"] == "cause" and rec["code"].startswith("raise RuntimeError")
    assert f["certain"] is True
    cause = [r for r in (ix.record(p) for p in range(ix.count)) if r.get("type") == "KeyError" and r.get("traceback")]
    assert len(cause) == 2  # printed in payload.stdout after `=== stderr ===` and in payload.stderr


def test_validation_failure_places_athena_times_across_midnight(tmp_path):
    conv, report = convert(tmp_path, fx.validation_failure())
    assert_well_formed(conv.streams)
    log = logs_of(conv, "log.EVNTtoHITS")
    assert [r["ts"] for r in log] == [utc("2026-08-17 23:59:55"), utc("2026-08-17 23:59:58"),
                                      utc("2026-08-18 00:00:03"), utc("2026-08-18 00:01:59"),
                                      utc("2026-08-18 00:01:59")]  # the untimed last line after the last timed
    assert [r.get("level") for r in log] == ["INFO", "INFO", "ERROR", "FATAL", None]
    assert log[0]["pid"] == 10
    out = logs_of(conv, "payload.stdout")
    assert out[2]["level"] == "CRITICAL" and out[2]["ts"] == utc("2026-08-18 00:02:10") + 0.4
    j = conv.job
    assert (j["exit_code"], j["exit_acronym"], j["transform"]) == (68, "TRF_EXEC_LOGERROR", "Sim_tf")
    assert j["executors"][0]["name"] == "EVNTtoHITS" and j["executors"][0]["rc"] == 68
    assert j["executors"][0]["memory"]["max"] == {"maxPSS": 2100000, "maxRSS": 2300000}
    assert j["files"]["input"] == ["EVNT.12345._000001.pool.root.1"]
    v = j["verdict"]
    assert v["class"] == "task"
    assert {"file": "log.EVNTtoHITS", "line": 4, "text": "00:01:59 AthenaEventLoopMgr  FATAL Event loop failed"} \
        in v["evidence"]


def test_killed_job_has_prmon_metrics_a_kill_state_and_a_site_verdict(tmp_path):
    conv, report = convert(tmp_path, fx.killed_by_batch())
    assert_well_formed(conv.streams)
    metrics = [r for r in conv.streams[fx.PID] if r["kind"] == "metric"]
    assert len(metrics) == 38
    assert metrics[0]["ts"] == 1786955460 and metrics[1]["ts"] == 1786955460 + 61
    assert metrics[3]["values"]["rss"] == (1_000_000 + 3 * 80_000) * 1024
    assert metrics[3]["values"]["vms"] == 2 * (1_000_000 + 3 * 80_000) * 1024
    assert metrics[3]["values"]["cpu"] == pytest.approx(57 / 61 * 100)
    assert metrics[3]["values"]["read_bytes_per_s"] == pytest.approx(800 / 61)
    assert "cpu" not in metrics[0]["values"]
    assert conv.job["memory_peak"]["rss"] == 3_960_000 * 1024
    states = [r["state"] for r in conv.streams[1] if r["kind"] == "state"]
    assert "KILLED" in states and states[-1] == "KILLED"
    exit_rec = conv.streams[fx.PID][-1]
    assert exit_rec["exit_code"] == -1 and exit_rec["signal"] == 15
    v = conv.job["verdict"]
    assert (v["class"], v["reason"]) == ("site", "pilot error 1201 (SIGTERM)")
    assert any("caught signal: SIGTERM" in e["text"] for e in v["evidence"])


def test_a_logged_and_handled_traceback_is_not_the_failure(tmp_path):
    files = fx.success_with_logged_traceback()
    conv, _ = convert(tmp_path / "a", files)
    assert_well_formed(conv.streams)
    handled = [r for r in conv.streams[fx.PID] if r["kind"] == "line" and r.get("handled")]
    assert len(handled) == 1 and handled[0]["func"] == "read"
    assert conv.job["verdict"] is None if "verdict" in conv.job else True
    # the same WARNING-logged traceback in a job the batch system killed: still not its failure
    killed = fx.killed_by_batch()
    killed["payload.stdout"] = files["payload.stdout"]
    ix = open_index(fx.pack(tmp_path, killed))
    s = summarize(ix)
    assert s["final_state"] == "KILLED" and s["failure"] is None


def test_an_unlogged_traceback_in_a_failed_job_is_its_failure(tmp_path):
    files = fx.killed_by_batch()
    files["payload.stderr"] = (b"Traceback (most recent call last):\n  File \"/srv/run.py\", line 7, in <module>\n"
                               b"    boom()\nZeroDivisionError: division by zero\n")
    s = summarize(open_index(fx.pack(tmp_path, files)))
    assert (s["failure"]["type"], s["failure"]["line"]) == ("ZeroDivisionError", 7)


# --- input detection, CLI, damage -------------------------------------------------------------


def jemgui(*args, env_dir):
    env = {**os.environ, "JEMGUI_CACHE_DIR": str(env_dir)}
    return subprocess.run([sys.executable, "-m", "jemgui", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env)


def test_cli_summary_and_inspect_failure_on_the_tarball_and_the_unpacked_folder(tmp_path):
    files = fx.user_job_python_exception()
    packed = fx.pack(tmp_path, files)
    folder = fx.unpack(tmp_path / "unpacked", files)
    for path in (packed, folder):
        out = jemgui("summary", path, "--json", env_dir=tmp_path / "cache")
        assert out.returncode == 0, out.stderr
        s = json.loads(out.stdout)
        assert (s["job"]["id"], s["job"]["task"], s["job"]["site"], s["job"]["host"]) == (
            fx.PANDA_ID, fx.TASK, fx.QUEUE, fx.NODE)
        assert s["exit_code"] == 1 and s["job"]["verdict"]["class"] == "task"
        assert {"file": "payload.stderr", "line": 16, "text": "RuntimeError: config key jet_pt_min missing"} \
            in s["hint"]["evidence"]
        assert {"file": "payload_error_report.json", "line": 0, "text": "error_code 5318: payload failed"} \
            in s["hint"]["evidence"]
        out = jemgui("inspect", path, "--failure", "--json", env_dir=tmp_path / "cache")
        assert out.returncode == 0, out.stderr
        state = json.loads(out.stdout)
        assert state["record"]["type"] == "RuntimeError"
        [thread] = [t for t in state["threads"] if t["tid"] == state["record"]["tid"]]
        assert [fr["func"] for fr in thread["stack"]] == ["<module>", "main", "load_config"]
    assert [r.label for r in list_jobs(packed)] == [f"tarball_PandaJob_{fx.PANDA_ID}_{fx.QUEUE}"]


def test_cut_tarball_keeps_the_members_before_the_cut(tmp_path):
    files = {"pilotlog.txt": fx.user_job_python_exception()["pilotlog.txt"],
             "log.big": os.urandom(200_000).hex().encode()}
    path = fx.pack(tmp_path, files)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    out = jemgui("summary", path, "--json", env_dir=tmp_path / "cache")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["job"]["id"] == fx.PANDA_ID
    assert any("cut or damaged" in p["message"] for p in s["problems"]["problems"])


def test_garbage_non_utf8_and_bad_json_are_reported_and_the_rest_kept(tmp_path):
    files = fx.validation_failure()
    files["pilotlog.txt"] = b"\x00\xffgarbage \xe9t\xe9\n" + files["pilotlog.txt"] + b"half a li"
    files["jobReport.json"] = files["jobReport.json"][:100]
    files["memory_monitor_output.txt"] = fx.prmon_rows(1787011100, 3, 1000, 10).encode() + b"12\tnot numbers\n"
    conv, report = convert(tmp_path, files)
    assert_well_formed(conv.streams)
    codes = Counter(p.code for p in report.problems)
    assert codes["bad-utf8"] == 1 and codes["bad-json"] == 1 and codes["cut-line"] == 1
    assert codes["bad-record"] >= 1  # the prmon row with the wrong number of cells
    assert conv.job["id"] == fx.PANDA_ID and "exit_acronym" not in conv.job
    assert conv.job["exit_code"] == 68  # from the pilot's `finished pid=...`, as the report is unreadable
    pilot = logs_of(conv, "pilotlog.txt")
    assert pilot[0]["text"].startswith("\x00ÿgarbage été") and pilot[-1]["text"] == "half a li\n"
    assert pilot[0]["ts"] == pilot[1]["ts"] == fx.T_LATE + 0.102  # held for the first timed line's time
    assert [p.line for p in report.problems if p.code == "bad-record" and p.file == "pilotlog.txt"] == [1]
    assert len([r for r in conv.streams[fx.PID] if r["kind"] == "metric"]) == 3
    for p in report.problems:
        assert "\n" not in str(p)


def test_summary_gives_exit_pilot_error_peaks_and_the_verdict_with_evidence(tmp_path):
    killed = summarize(open_index(fx.pack(tmp_path / "k", fx.killed_by_batch())))
    assert killed["pilot_error"] == {"code": 1201, "name": "SIGTERM"}
    assert killed["exit_acronym"] is None and killed["exit_code"] == -1
    top = 1_000_000 + 37 * 80_000
    assert (killed["peak"]["rss"], killed["peak"]["pss"]) == (top * 1024, (top - 1000) * 1024)
    hint = killed["hint"]
    assert hint["class"] == "site" and hint["based_on"].startswith("pilotlog.txt:")
    assert all(set(e) == {"file", "line", "text"} for e in hint["evidence"])
    valid = summarize(open_index(fx.pack(tmp_path / "v", fx.validation_failure())))
    assert (valid["exit_code"], valid["exit_acronym"]) == (68, "TRF_EXEC_LOGERROR")
    assert valid["exit_message"].startswith("Fatal error in athena logfile")
    assert valid["pilot_error"] == {"code": 1305, "name": "PAYLOADEXECUTIONFAILURE"}
    assert valid["failure"] is None and valid["hint"]["class"] == "task"
    ok = summarize(open_index(fx.pack(tmp_path / "o", fx.success_with_logged_traceback())))
    assert ok["pilot_error"] is None and ok["exit_acronym"] == "OK" and ok["failure"] is None
    assert ok["hint"] is None  # a job that succeeded has no problem to class


def _log(pid, n, text, level=None, name="payload.stderr"):
    rec = {"seq": n, "ts": 1.0 + n, "pid": pid, "kind": "log", "stream": "stderr", "text": text + "\n",
           "logfile": name, "logline": n + 1}
    return {**rec, "level": level} if level else rec


def test_verdict_weighs_either_way_codes_by_the_logs_and_falls_back_on_exit_codes():
    from jemgui.models.gridlogs.verdict import decide

    oom = {fx.PID: [_log(fx.PID, 0, "reading"), _log(fx.PID, 1, "Memory cgroup out of memory: Killed process 28455")]}
    v = decide({"pilot_error_codes": [1212], "exit_code": -1}, oom)
    assert v["class"] == "site" and v["reason"].startswith("pilot error 1212 (PAYLOADOUTOFMEMORY) and the kernel")
    assert {"file": "payload.stderr", "line": 2, "text": "Memory cgroup out of memory: Killed process 28455"} \
        in v["evidence"]
    quiet = {fx.PID: [_log(fx.PID, 0, "reading")]}
    assert decide({"pilot_error_codes": [1212], "exit_code": -1}, quiet)["class"] == "unclear"
    assert decide({"exit_code": 137}, quiet)["class"] == "site"
    assert decide({"exit_code": 65}, quiet)["class"] == "task"
    segv = {fx.PID: [_log(fx.PID, 0, "Caught signal 11(Segmentation fault)", "FATAL", "log.RAWtoALL")]}
    v = decide({"exit_code": 1}, segv)
    assert (v["class"], v["reason"], v["evidence"][0]["file"]) == ("task", "segmentation fault", "log.RAWtoALL")
    assert decide({"exit_code": 0}, segv) is None
    disk = {1: [_log(1, 0, "No space left on device", name="pilotlog.txt")]}
    assert decide({"pilot_error_codes": [1098], "exit_code": 1}, disk)["class"] == "site"


def test_non_debug_pilot_log_old_memory_monitor_and_athenamp_worker_logs(tmp_path):
    files = fx.validation_failure()
    # without --debug the pilot writes `asctime | level | message` (pilot3 pilot/util/loggingsupport.py)
    plain = []
    for line in files["pilotlog.txt"].decode().splitlines(keepends=True):
        parts = line.split(" | ")
        plain.append(" | ".join([parts[0], parts[1], parts[4]]) if len(parts) >= 5 else line)
    files["pilotlog.txt"] = "".join(plain).encode()
    # MemoryMonitor's header (pilot3 pilot/test/resource/memory_monitor_output.txt)
    files["memory_monitor_output.txt"] = (b"Time VMEM PSS RSS Swap rchar wchar rbytes wbytes\n"
                                          b"1787011100 2000 900 1000 0 10 20 30 40\n"
                                          b"1787011161 4000 1900 2000 0 11 21 31 41\n")
    files["athenaMP-workers-EVNTtoHITS-sim/worker_3/AthenaMP.log"] = (
        b"00:00:40 AthenaEventLoopMgr   INFO   ===>>>  start processing event #7, run #284500 on slot 0  <<<===\n"
        b"00:00:41 AthenaEventLoopMgr   ERROR  worker 3 lost its input\n")
    conv, report = convert(tmp_path, files)
    assert_well_formed(conv.streams)
    assert report.total == 0
    pilot = logs_of(conv, "pilotlog.txt")
    started = next(r for r in pilot if "started -- pid" in r["text"])
    assert started["level"] == "INFO" and "module" not in started
    assert conv.job["id"] == fx.PANDA_ID and conv.streams[fx.PID][0]["kind"] == "process"
    metrics = [r["values"] for r in conv.streams[fx.PID] if r["kind"] == "metric"]
    assert metrics == [{"vms": 2000 * 1024, "pss": 900 * 1024, "rss": 1000 * 1024, "swap": 0, "rchar": 10,
                        "wchar": 20, "read_bytes": 30, "write_bytes": 40},
                       {"vms": 4000 * 1024, "pss": 1900 * 1024, "rss": 2000 * 1024, "swap": 0, "rchar": 11,
                        "wchar": 21, "read_bytes": 31, "write_bytes": 41, "rchar_per_s": 1 / 61, "wchar_per_s": 1 / 61,
                        "read_bytes_per_s": 1 / 61, "write_bytes_per_s": 1 / 61}]
    worker = logs_of(conv, "athenaMP-workers-EVNTtoHITS-sim/worker_3/AthenaMP.log")
    assert [r["ts"] for r in worker] == [utc("2026-08-18 00:00:40"), utc("2026-08-18 00:00:41")]
    assert worker[1]["level"] == "ERROR"


def test_a_jem_archive_inside_the_tarball_joins_the_logs_timeline(tmp_path):
    from tests.models.jobs import write_archive

    files = fx.user_job_python_exception()
    jem = write_archive(tmp_path / "src" / "jem")
    for f in sorted(jem.rglob("*")):
        if f.is_file():
            files[f"JEM/{f.relative_to(jem).as_posix()}"] = f.read_bytes()
    for path in (fx.pack(tmp_path / "packed", files), fx.unpack(tmp_path / "folder", files)):
        ix = open_index(path)
        s = summarize(ix)
        assert s["job"]["id"] == "4711" and s["job"]["task"] == fx.TASK  # the manifest's id, the pilot's task
        assert s["pilot_error"] == {"code": 1305, "name": "PAYLOADEXECUTIONFAILURE"}
        pids = {st["pid"] for st in s["streams"]}
        assert {100, 150, 200} <= pids and {1, fx.PID} <= pids  # JEM's processes and the pilot's and payload's
        logged = [r for r in (ix.record(p) for p in range(ix.count)) if r.get("logfile") == "pilotlog.txt"]
        assert len(logged) == 17
        assert not s["holes"]


def test_a_grid_stream_whose_pid_the_jem_archive_uses_moves_to_a_free_pid(tmp_path):
    from tests.models.jobs import failing_python, write_archive

    files = fx.user_job_python_exception()
    jem = write_archive(tmp_path / "src" / "jem", [failing_python(fx.PID), failing_python(1)])
    for f in sorted(jem.rglob("*")):
        if f.is_file():
            files[f"JEM/{f.relative_to(jem).as_posix()}"] = f.read_bytes()
    s = summarize(open_index(fx.pack(tmp_path, files)))
    streams = {st["pid"]: st for st in s["streams"]}
    assert set(streams) == {1, fx.PID, fx.PID + 1, fx.PID + 2}
    assert not s["holes"] and all(not st["holes"] for st in streams.values())


def test_past_the_line_cap_a_log_is_still_searched_for_tracebacks(tmp_path, monkeypatch):
    from jemgui.models.gridlogs import job

    monkeypatch.setattr(job, "MAX_LOG_LINES", 5)
    files = fx.user_job_python_exception()
    conv, report = convert(tmp_path, files)
    assert_well_formed(conv.streams)
    assert len(logs_of(conv, "payload.stdout")) == 5
    assert [p.line for p in report.problems if p.code == "too-large"] == [6, 6, 6]  # pilotlog.txt is capped too
    raised = [r for r in conv.streams[fx.PID] if r["kind"] == "exception" and r.get("traceback")]
    assert [(r["type"], r["logged"]["file"]) for r in raised] == [
        ("KeyError", "payload.stdout"), ("RuntimeError", "payload.stdout"),
        ("KeyError", "payload.stderr"), ("RuntimeError", "payload.stderr")]


def test_payload_logs_in_the_nodes_local_time_are_placed_in_utc(tmp_path):
    """The transform's asctime and athena's %H:%M:%S are local time; the pilot's are UTC (CEST here)."""
    import re
    import time as _time

    def shift(data: bytes) -> bytes:
        def full(m):
            t = utc(f"{m[1]} {m[2]}") + 7200
            return _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(t)).encode()

        def clock(m):
            h = (int(m[1]) + 2) % 24
            return f"{h:02d}:{m[2].decode()}:{m[3].decode()} ".encode()

        data = re.sub(rb"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)", lambda m: full([None, m[1].decode(), m[2].decode()]),
                      data)
        return re.sub(rb"(?m)^(\d\d):(\d\d):(\d\d) ", clock, data)

    files = fx.validation_failure()
    files["payload.stdout"] = shift(files["payload.stdout"])
    files["log.EVNTtoHITS"] = shift(files["log.EVNTtoHITS"])
    assert files["log.EVNTtoHITS"].startswith(b"01:59:55 ")
    conv, report = convert(tmp_path, files)
    assert_well_formed(conv.streams)
    assert [r["ts"] for r in logs_of(conv, "log.EVNTtoHITS")][:4] == [
        utc("2026-08-17 23:59:55"), utc("2026-08-17 23:59:58"), utc("2026-08-18 00:00:03"), utc("2026-08-18 00:01:59")]
    assert logs_of(conv, "payload.stdout")[2]["ts"] == utc("2026-08-18 00:02:10") + 0.4
    [note] = [p for p in report.problems if p.code == "local-time"]
    assert "UTC+2 h" in note.message


def test_an_unhandled_traceback_decides_task_when_no_code_does_and_a_pilot_traceback_is_never_the_failure(tmp_path):
    files = fx.killed_by_batch()
    files["pilotlog.txt"] = files["pilotlog.txt"].replace(b"pilotErrorCodes = [1201, 1315]", b"nothing reported") \
        .replace(b"caught signal: SIGTERM", b"caught nothing")
    pilot_tb = (b"2026-08-17 08:40:00,000 | WARNING  | pilot.util.monitoring           | check_disk                | "
                b"exception caught:\nTraceback (most recent call last):\n  File \"/srv/pilot3/pilot/util/disk.py\", "
                b"line 12, in du\n    out = run(cmd)\nTimeoutError: du timed out\n")
    at = files["pilotlog.txt"].index(b"2026-08-17 09:12:30")
    files["pilotlog.txt"] = files["pilotlog.txt"][:at] + pilot_tb + files["pilotlog.txt"][at:]
    files["payload.stderr"] = (b"Traceback (most recent call last):\n  File \"/srv/run.py\", line 7, in <module>\n"
                               b"    boom()\nZeroDivisionError: division by zero\n")
    s = summarize(open_index(fx.pack(tmp_path, files)))
    assert s["pilot_error"] is None and s["exit_code"] == -1
    assert (s["hint"]["class"], s["hint"]["reason"]) == ("task", "an exception in the job's own code")
    assert s["hint"]["evidence"] == [{"file": "payload.stderr", "line": 4, "text": "ZeroDivisionError: division by zero"}]
    assert s["failure"]["type"] == "ZeroDivisionError"  # not the pilot's TimeoutError, logged later


def test_an_input_file_that_failed_validation_is_unclear(tmp_path):
    """Shaped like the failed report in pilot3 pilot/test/test_jobreport_parser.py (exit 66, rc -1)."""
    files = fx.validation_failure()
    files["pilotlog.txt"] = files["pilotlog.txt"].replace(b"pilotErrorCodes = [1305]", b"no codes")
    report = {"created": "2018-03-04T09:33:09", "exitAcronym": "TRF_EXEC_VALIDATION_FAIL", "exitCode": 66,
              "exitMsg": "File EVNT.13276676._000045.pool.root.1 did not pass corruption test", "exitMsgExtra": "",
              "executor": [{"errMsg": None, "exeConfig": {"script": "athena.py", "substep": "sim"},
                            "name": "EVNTtoHITS", "rc": -1, "statusOK": False, "validation": False}],
              "files": {"input": [{"dataset": None, "nentries": None, "type": "EVNT",
                                   "subFiles": [{"file_guid": None, "name": "EVNT.13276676._000045.pool.root.1"}]}]},
              "name": "Sim_tf", "reportVersion": "2.0.7",
              "resource": {"executor": {"EVNTtoHITS": {"cpuTime": None, "wallTime": None}},
                           "machine": {"node": "nid15407", "model_name": "AMD Opteron(TM) Processor 6274"}}}
    files["jobReport.json"] = json.dumps(report, indent=2, sort_keys=True).encode()
    conv, rep = convert(tmp_path, files)
    v = conv.job["verdict"]
    assert v["class"] == "unclear" and v["reason"].startswith("an input file failed validation")
    assert conv.job["executors"] == [{"name": "EVNTtoHITS", "rc": -1, "statusOK": False, "errMsg": None,
                                      "cpuTime": None, "wallTime": None, "memory": {"max": None, "avg": None}}]
    assert conv.job["host"] == fx.NODE  # the pilot's server update names the node first


def test_a_traceback_relayed_line_by_line_through_a_logger_keeps_its_frames_and_is_not_handled():
    prefix = "2026-08-17 08:35:0{} | INFO     | "
    lines = ["processing", "Traceback (most recent call last):", '  File "/srv/run.py", line 7, in <module>',
             "    boom()", "ZeroDivisionError: division by zero", "next"]
    [chain] = scan("\n".join(prefix.format(i) + x for i, x in enumerate(lines)), {n: "INFO" for n in range(1, 7)})
    exc = chain.last
    assert (exc.type, [(f.file, f.line, f.code) for f in exc.frames]) == (
        "ZeroDivisionError", [("/srv/run.py", 7, "boom()")])
    assert chain.logged_at is None
    # one message logged at WARNING whose text is the traceback: handled
    logged = ("2026-08-17 08:35:00,1 | WARNING  | Traceback (most recent call last):\n"
              '  File "/srv/run.py", line 7, in <module>\n    boom()\nZeroDivisionError: division by zero\n')
    [chain] = scan(logged, {1: "WARNING"})
    assert chain.logged_at == "WARNING" and chain.last.frames[0].line == 7


def test_an_uncaught_traceback_after_a_warning_print_is_still_the_failure(tmp_path):
    """Output stops after it: the program did not go on, whatever line came before."""
    files = fx.killed_by_batch()
    files["payload.stderr"] = (b"WARNING: numpy is old\nTraceback (most recent call last):\n"
                               b'  File "/srv/run.py", line 7, in <module>\n    boom()\n'
                               b"ZeroDivisionError: division by zero\n")
    s = summarize(open_index(fx.pack(tmp_path, files)))
    assert s["failure"]["type"] == "ZeroDivisionError"


def test_a_plain_batch_jobs_log_folder_opens_too(tmp_path):
    """No pilot: an HTCondor-style job.out/job.err/job.log folder; the traceback in job.err is the failure."""
    folder = tmp_path / "condor_job_4711"
    folder.mkdir()
    (folder / "job.out").write_text("2026-08-17 10:00:00,000 INFO start\nstep 1\n")
    (folder / "job.err").write_text("Traceback (most recent call last):\n  File \"/home/u/fit.py\", line 5, in <module>\n"
                                    "    fit()\nnumpy.linalg.LinAlgError: Singular matrix\n")
    (folder / "job.log").write_text("000 (4711.000.000) 08/17 10:00:00 Job submitted from host\n")
    conv, report = convert(tmp_path / "x", {})  # an empty pilot-less folder gives no streams
    assert conv.streams == {}
    out = jemgui("summary", folder, "--json", env_dir=tmp_path / "cache")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["job"]["source"] == "batch job logs" and s["processes"] == []
    assert (s["failure"]["type"], s["failure"]["file"], s["failure"]["line"]) == (
        "numpy.linalg.LinAlgError", "/home/u/fit.py", 5)
    assert {st["pid"] for st in s["streams"]} == {10, 11, 12}
    assert s["hint"]["class"] == "task" and s["hint"]["evidence"][0]["file"] == "job.err"
    assert s["started"] == utc("2026-08-17 10:00:00")


def test_prmon_columns_are_found_by_header_in_any_order_with_unknown_ones_kept():
    from jemgui.models.gridlogs.prmon import peaks, read_samples

    text = ("Time\tvmem\tgpumem\tutime\tnprocs\trss\twtime\tstime\tpss\tswap\n"
            "100\t10\t5\t0\t2\t4\t0\t0\t3\t0\n"
            "161\t20\t6\t50\t3\t8\t61\t11\t7\t1\n"
            "222\t30\t7\n")  # a row cut short by the tar snapshot
    report = ImportReport()
    rows = read_samples(enumerate(text.splitlines(), 1), "memory_monitor_output.txt", report)
    assert [ts for ts, _ in rows] == [100, 161]
    assert rows[1][1] == {"vms": 20 * 1024, "gpumem": 6, "utime": 50, "nprocs": 3, "rss": 8 * 1024, "wtime": 61,
                          "stime": 11, "pss": 7 * 1024, "swap": 1024, "cpu": pytest.approx(100.0)}
    assert [(p.line, p.code) for p in report.problems] == [(4, "bad-record")]
    # newer prmon summary keys and the older MemoryMonitor's (pilot3 get_memory_monitor_info tells them apart)
    assert peaks({"Max": {"rss": 8, "pss": 7, "vmem": 20, "swap": 1}, "HW": {"cpu": {}}, "prmon": {}}) == \
        {"rss": 8192, "pss": 7168, "vms": 20480, "swap": 1024}
    assert peaks({"Max": {"maxRSS": 8, "maxPSS": 7, "maxVMEM": 20, "maxSwap": 1}}) == \
        {"rss": 8192, "pss": 7168, "vms": 20480, "swap": 1024}
    assert peaks({"Max": "nonsense"}) == {} and peaks([]) == {}


def test_a_jem2_log_in_the_work_directory_joins_the_timeline(tmp_path):
    from pathlib import Path

    files = fx.user_job_python_exception()
    files["JEM_LOG.tgz"] = (Path(__file__).parent / "data" / "legacy" / "JEM_LOG.tgz").read_bytes()
    inp = open_input(fx.pack(tmp_path, files))
    try:
        pids = [st.pid for st in inp.streams]
        assert pids == [1, fx.PID, fx.PID + 1, fx.PID + 2, fx.PID + 3]  # JEM 2's pids 1, 2, 3 moved past the grid's
        legacy = [json.loads(x) for x in inp.streams[-1].path.read_bytes().splitlines()]
        assert {r["pid"] for r in legacy} == {fx.PID + 3} and sum(r["kind"] == "exception" for r in legacy) == 5
        assert inp.job["id"] == fx.PANDA_ID and inp.job["host"] == fx.NODE  # the pilot's facts first
    finally:
        inp.close()


def test_a_changed_reader_does_not_reuse_the_index_an_older_one_built(tmp_path, monkeypatch):
    import jemgui.models.gridlogs as gridlogs
    from jemgui.models import cache

    monkeypatch.setenv("JEMGUI_CACHE_DIR", str(tmp_path / "cache"))
    path = fx.pack(tmp_path, fx.user_job_python_exception())
    before = cache.content_key(path)
    assert cache.content_key(path) == before
    monkeypatch.setattr(gridlogs, "VERSION", gridlogs.VERSION + 1)
    assert cache.content_key(path) != before


def test_records_are_sorted_on_disk_in_runs_and_merged_in_time_order(tmp_path, monkeypatch):
    from jemgui.models.gridlogs import job

    monkeypatch.setattr(job._Streams, "SPILL", 7)  # every few records a run is written
    files = fx.validation_failure()
    small, _ = convert(tmp_path / "a", files)
    monkeypatch.setattr(job._Streams, "SPILL", 1_000_000)
    whole, _ = convert(tmp_path / "b", files)
    assert small.streams == whole.streams and small.job == whole.job
    assert_well_formed(small.streams)
    for recs in small.streams.values():
        assert [r["ts"] for r in recs] == sorted(r["ts"] for r in recs)


# --- the Logs panel's model: line index, errors, search --------------------------------------


@pytest.mark.parametrize("sparse", [16, 3])
def test_the_line_index_gives_every_line_the_time_its_record_has_and_back(tmp_path, monkeypatch, sparse):
    from jemgui.models.gridlogs import lineindex

    monkeypatch.setattr(lineindex, "SPARSE", sparse)  # 3: lines in between are read from their block
    for i, make in enumerate((fx.validation_failure, fx.killed_by_batch, fx.user_job_python_exception)):
        root = fx.unpack(tmp_path / str(i), make())
        conv = convert_folder(root, ImportReport())
        clock = conv.job["log_clock"]
        for name in ("pilotlog.txt", "payload.stdout", "payload.stderr", "log.EVNTtoHITS"):
            if not (root / name).is_file():
                continue
            pilot = name == "pilotlog.txt"
            ix = lineindex.build(root / name, conv.job["started"] if pilot else clock["start"],
                                 0 if pilot else clock["offset"])
            records = sorted((r["logline"], r["ts"]) for r in logs_of(conv, name))
            assert ix.count == len(records) == len((root / name).read_bytes().splitlines())
            assert ix.lines(0, ix.count) == (root / name).read_text().splitlines()
            for n, ts in records:
                assert ix.time(n - 1) == pytest.approx(ts, abs=1e-3)
                at = ix.line_at(ts)
                assert at >= n - 1 and ix.time(at) == pytest.approx(ts, abs=1e-3)


def test_a_long_athena_log_across_two_midnights_keeps_its_days_at_every_line(tmp_path, monkeypatch):
    from jemgui.models.gridlogs import lineindex
    from jemgui.models.gridlogs.textlog import Clock

    monkeypatch.setattr(lineindex, "CHUNK", 4096)  # many chunks, a wrap inside and across them
    day = utc("2026-08-17 00:00:00")
    seconds = [20 * 3600 + 97 * i for i in range(1500)]  # 20:00 to about 16:25 two days later
    text = "".join(f"{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d} Mgr  INFO step {i}\n" + (
        "untimed\n" if i % 7 == 0 else "") for i, s in enumerate(seconds))
    log = tmp_path / "log.EVNTtoHITS"
    log.write_text(text)
    ix = lineindex.build(log, day + 19 * 3600)
    clock = Clock(day + 19 * 3600)
    expected = [clock.stamp(line)[0] for line in text.splitlines()]
    assert ix.count == len(expected)
    assert [ix.time(n) for n in range(0, ix.count, 37)] == pytest.approx(expected[::37])
    assert expected[-1] - day == pytest.approx(2 * 86400 + seconds[-1] % 86400)


def test_the_line_index_reads_dates_clocks_across_midnight_errors_and_damage(tmp_path):
    from jemgui.models.gridlogs import lineindex

    log = tmp_path / "log.RAWtoALL"
    log.write_bytes(b"23:59:58 AthenaEventLoopMgr   INFO   start\n"
                    b"no time here \xff\xfe\n"
                    b"00:00:03 G4SimTimer           ERROR  navigation failure\n"
                    b"Traceback (most recent call last):\n"
                    b"  File \"x.py\", line 1, in <module>\n"
                    b"an INFO line that says ERROR later is not an error\n"
                    b"2026-08-18 00:10:00,250 transform CRITICAL died\n"
                    b"cut last line without a newline")
    day = utc("2026-08-17 00:00:00")
    ix = lineindex.build(log, day + 23 * 3600 + 59 * 60)
    assert ix.count == 8
    assert [ix.time(n) - day for n in range(8)] == pytest.approx(
        [86398, 86398, 86403, 86403, 86403, 86403, 87000.25, 87000.25])
    assert ix.errors.tolist() == [2, 3, 6]
    assert ix.lines(1, 2) == ["no time here \ufffd\ufffd"] and ix.lines(7, 9) == ["cut last line without a newline"]
    assert ix.search("NAVIGATION") == [2] and ix.search("error") == [2, 5]
    assert ix.line_at(day) == 0 and ix.line_at(day + 86403) == 5 and ix.line_at(day + 10**6) == 7


def test_a_log_shorter_than_a_date_and_one_ending_in_a_date_are_indexed(tmp_path):
    """A cut log may end inside or right after its first date: found by hypothesis (an IndexError)."""
    from jemgui.models.gridlogs import lineindex

    day = utc("2026-08-17 00:00:00")
    for text, expected in ((b"2026-08-17 08:30", 0.0), (b"2026-08-17 08:30:07", 30607),
                           (b"x\n2026-08-17 08:30:07", 30607)):
        log = tmp_path / "log.cut"
        log.write_bytes(text)
        ix = lineindex.build(log, day)
        assert ix.lines(0, ix.count) == text.decode().split("\n")
        assert ix.time(ix.count - 1) - day == pytest.approx(expected)


def test_job_logs_list_the_tarball_step_through_errors_in_time_order_and_search_every_file(tmp_path):
    from jemgui.models.gridlogs.logs import JobLogs

    files = fx.validation_failure()
    conv = convert_folder(fx.unpack(tmp_path / "u", files), ImportReport())
    logs = JobLogs.open(fx.pack(tmp_path / "p", files), conv.job)
    try:
        assert [f.name for f in logs.files] == ["pilotlog.txt", "payload.stdout", "payload.stderr",
                                                "jobReport.json", "log.EVNTtoHITS"]
        assert [(name, line) for _, _, line, name in logs.errors()] == [
            ("log.EVNTtoHITS", 2), ("log.EVNTtoHITS", 3), ("payload.stdout", 2)]
        assert logs.next_error(0) == ("log.EVNTtoHITS", 2)
        t = logs.index("log.EVNTtoHITS").time(3)
        assert logs.next_error(t, "log.EVNTtoHITS", 3) == ("payload.stdout", 2)
        assert logs.next_error(t, "log.EVNTtoHITS", 3, backward=True) == ("log.EVNTtoHITS", 2)
        assert logs.next_error(1e12) is None
        expected = [(name, n) for name in ("pilotlog.txt", "payload.stdout", "payload.stderr", "jobReport.json",
                                           "log.EVNTtoHITS")
                    for n, line in enumerate(files[name].decode().splitlines()) if "evnttohits" in line.lower()]
        assert [(f, n) for f, n, _ in logs.search("EVNTtoHITS")] == expected
        assert {f for f, _ in expected} == {"payload.stdout", "jobReport.json"}
        assert logs.search("EVNTtoHITS", limit=1) == [("payload.stdout", 1, files["payload.stdout"].decode()
                                                       .splitlines()[1])]
    finally:
        logs.close()


#: per fixture: exit_code, exit_acronym, pilot_error, failure (type, file, line, func) or None, the stack's
#: functions, peak rss and pss in bytes, hint class, one line the evidence must hold
TOP_KB = 1_000_000 + 37 * 80_000
CASES = {
    "user_job_python_exception": (1, None, {"code": 1305, "name": "PAYLOADEXECUTIONFAILURE"},
                                  ("RuntimeError", "/srv/workDir/analysis.py", 43, "load_config"),
                                  ["<module>", "main", "load_config"], (None, None), "task",
                                  ("payload.stderr", 16, "RuntimeError: config key jet_pt_min missing")),
    "killed_by_batch": (-1, None, {"code": 1201, "name": "SIGTERM"}, None, None,
                        (TOP_KB * 1024, (TOP_KB - 1000) * 1024), "site", ("pilotlog.txt", 20, None)),
    "validation_failure": (68, "TRF_EXEC_LOGERROR", {"code": 1305, "name": "PAYLOADEXECUTIONFAILURE"}, None, None,
                           (None, None), "task",
                           ("log.EVNTtoHITS", 4, "00:01:59 AthenaEventLoopMgr  FATAL Event loop failed")),
    "success_with_logged_traceback": (0, "OK", None, None, None, (None, None), None, None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_summary_and_inspect_failure_json_on_each_fixture(tmp_path, case):
    exit_code, acronym, pilot, failure, stack, peak, cls, line = CASES[case]
    path = fx.pack(tmp_path, getattr(fx, case)())
    out = jemgui("summary", path, "--json", env_dir=tmp_path / "cache")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert (s["job"]["id"], s["job"]["task"], s["job"]["site"], s["job"]["host"]) == (
        fx.PANDA_ID, fx.TASK, fx.QUEUE, fx.NODE)
    assert (s["exit_code"], s["exit_acronym"], s["pilot_error"]) == (exit_code, acronym, pilot)
    assert (s["exit_message"] is not None) == (acronym is not None)
    assert (s["peak"]["rss"], s["peak"]["pss"]) == peak
    assert (s["hint"] or {}).get("class") == cls and (s["hint"] is None) == (cls is None)
    if line is not None:
        file, n, text = line
        assert any(e["file"] == file and e["line"] == n and (text is None or e["text"] == text)
                   for e in s["hint"]["evidence"]), s["hint"]["evidence"]
    out = jemgui("inspect", path, "--failure", "--json", env_dir=tmp_path / "cache")
    if failure is None:
        assert s["failure"] is None
        assert out.returncode != 0 and "no recorded failure" in out.stderr
        return
    f = s["failure"]
    assert (f["type"], f["file"], f["line"], f["func"]) == failure
    assert [fr["func"] for fr in f["stack"]] == stack
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout)
    [thread] = [t for t in state["threads"] if t["tid"] == state["record"]["tid"]]
    assert [fr["func"] for fr in thread["stack"]] == stack


def test_the_text_summary_names_the_pilot_error_the_transform_exit_and_peak_pss(tmp_path):
    out = jemgui("summary", fx.pack(tmp_path / "v", fx.validation_failure()), env_dir=tmp_path / "cache")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "Pilot     error 1305 (PAYLOADEXECUTIONFAILURE)" in lines
    assert 'Transform TRF_EXEC_LOGERROR: Fatal error in athena logfile: "Logfile error in log.EVNTtoHITS"' in lines
    out = jemgui("summary", fx.pack(tmp_path / "k", fx.killed_by_batch()), env_dir=tmp_path / "cache")
    assert "Peak PSS  3.8 GiB (prmon)" in out.stdout.splitlines() and "Transform" not in out.stdout


def test_job_logs_of_a_folder_and_a_pack_list_the_same_files_and_leave_a_jem_archives_streams_out(tmp_path):
    from jemgui.models.gridlogs.logs import JobLogs
    from tests.models.jobs import write_archive

    files = fx.user_job_python_exception()
    jem = write_archive(tmp_path / "src" / "jem")
    for f in sorted(jem.rglob("*")):
        if f.is_file():
            files[f"JEM/{f.relative_to(jem).as_posix()}"] = f.read_bytes()
    seen = []
    for path in (fx.pack(tmp_path / "p", files), fx.unpack(tmp_path / "u", files).parent):
        logs = JobLogs.open(path, {})
        try:
            seen.append([(f.name, f.text) for f in logs.files])
        finally:
            logs.close()
    assert seen[0] == seen[1]
    text = {name for name, is_text in seen[0] if is_text}
    assert text == {"pilotlog.txt", "payload.stdout", "payload.stderr", "payload_error_report.json"}
    assert {name for name, _ in seen[0]} > {"JEM/manifest.json"}


def test_a_line_of_megabytes_is_shown_cut_with_what_was_left_out(tmp_path):
    from jemgui.models.gridlogs import lineindex

    log = tmp_path / "payload.stdout"
    log.write_bytes(b"first\n" + b"x" * 3_000_000 + b"\nlast\n")
    ix = lineindex.build(log, 0.0)
    first, long, last = ix.lines(0, 3)
    assert (first, last, ix.count) == ("first", "last", 3)
    assert long == "x" * lineindex.MAX_SHOWN + f" … ({3_000_000 - lineindex.MAX_SHOWN:,} more bytes)"
    assert ix.lines(2, 3) == ["last"]  # a block read past the long line


def test_job_logs_take_damaged_job_facts_for_unknown(tmp_path):
    from jemgui.models.gridlogs.logs import JobLogs

    logs = JobLogs.open(fx.pack(tmp_path, fx.killed_by_batch()),
                        {"started": "yesterday", "log_clock": {"start": None, "offset": [3]}})
    try:
        assert (logs.start, logs.offset) == (0.0, 0.0)
        ix = logs.index("log.EVNTtoHITS")
        assert ix.count == 15 and ix.time(0) == 8 * 3600 + 32 * 60  # athena's clock, on the epoch's day
    finally:
        logs.close()


@pytest.mark.parametrize("sparse", [16, 2, 1])
def test_each_lines_time_is_textlogs_even_where_the_log_goes_back_or_a_time_is_damaged(tmp_path, monkeypatch,
                                                                                      sparse):
    from jemgui.models.gridlogs import lineindex
    from jemgui.models.gridlogs.textlog import Clock

    monkeypatch.setattr(lineindex, "SPARSE", sparse)
    text = ("2026-08-17 08:30:04,911 | INFO | a\n"
            "2026-08-17 08:30:04,91\x00 | INFO | the fraction cut short\n"
            "2026-08-17 08:30:0\x00,500 | INFO | a damaged second\n"
            "2026-08-17 08:30:01,000 | INFO | a line that reads earlier\n"
            "no time\n"
            "2026-08-17 08:30:06.25 | INFO | a fraction of two digits\n"
            "08:30:07 Athena INFO a clock line among dated ones\n"
            "08:30:07.5\tAthena INFO a clock with a fraction and a tab\n"
            "08:30:08,x not a clock\n"
            "2026-08-17T08:30:09 ISO\n")
    log = tmp_path / "payload.stdout"
    log.write_text(text)
    ix = lineindex.build(log, utc("2026-08-17 08:00:00"))
    clock = Clock(utc("2026-08-17 08:00:00"))
    expected = [clock.stamp(line)[0] for line in text.splitlines()]
    assert [ix.time(n) for n in range(ix.count)] == pytest.approx(expected, abs=1e-6)
    assert expected[1] == expected[3] == utc("2026-08-17 08:30:04") + 0.911  # held, never going back
    assert expected[7] - expected[6] == pytest.approx(0.5)
