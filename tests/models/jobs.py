"""Hand-written JEM records of small jobs, with their expected states, for the engine's tests.

`failing_job()` is a Python process whose exception unwinds three frames and
ends the job, beside a shell stream and the monitor's metrics and states.
"""

from __future__ import annotations

import json
from pathlib import Path

T0 = 1296564449.95
SRC = "import sys\n\ndef g(n):\n    d = {}\n    return d[n]\n\ndef f(x):\n    y = x * 2\n    z = g(y)\n    return z\n\ndef main():\n    f(21)\n\nmain()\n"


class Stream:
    """Builds one process's records with seq and ts filled in."""

    def __init__(self, pid: int, t0: float = T0):
        self.pid, self.t, self.records = pid, t0, []

    def add(self, kind: str, **fields) -> dict:
        self.t += 0.001
        rec = {"seq": len(self.records), "ts": round(self.t, 6), "pid": self.pid, "kind": kind, **fields}
        self.records.append(rec)
        return rec

    def frame(self, kind: str, fid: int, line: int, func: str, depth: int, tid: int = 1,
              file: str = "/job/transform.py", **fields) -> dict:
        return self.add(kind, tid=tid, fid=fid, file=file, line=line, func=func, depth=depth, **fields)


def failing_python(pid: int = 200) -> Stream:
    s = Stream(pid, T0 + 0.0005)
    s.add("process", phase="start", argv=["python3", "transform.py"], ppid=100, cwd="/job", lang="python",
          python="3.11.7")
    s.add("source", path="/job/transform.py", sha256="0" * 64, lang="python", text=SRC)
    s.frame("call", 1, 1, "<module>", 0)
    s.frame("line", 1, 1, "<module>", 0)
    s.frame("line", 1, 15, "<module>", 0)
    s.frame("call", 2, 12, "main", 1)
    s.frame("line", 2, 13, "main", 1)
    s.frame("call", 3, 7, "f", 2, args={"x": ["int", "21"]})
    s.frame("line", 3, 8, "f", 2)
    s.frame("line", 3, 9, "f", 2, changed={"y": ["int", "42"]})
    s.frame("call", 4, 3, "g", 3, args={"n": ["int", "42"]})
    s.frame("line", 4, 4, "g", 3)
    s.frame("line", 4, 5, "g", 3, changed={"d": ["dict", "{}"]})
    tb = [["/job/transform.py", 15, "<module>"], ["/job/transform.py", 13, "main"],
          ["/job/transform.py", 9, "f"], ["/job/transform.py", 5, "g"]]
    s.frame("exception", 4, 5, "g", 3, type="KeyError", message="42", traceback=tb)
    s.frame("return", 4, 5, "g", 3)
    s.frame("exception", 3, 9, "f", 2, type="KeyError", message="42")
    s.frame("return", 3, 9, "f", 2)
    s.frame("exception", 2, 13, "main", 1, type="KeyError", message="42")
    s.frame("return", 2, 13, "main", 1)
    s.frame("exception", 1, 15, "<module>", 0, type="KeyError", message="42")
    s.frame("return", 1, 15, "<module>", 0)
    s.add("log", stream="stderr", text="KeyError: 42\n")
    s.add("process", phase="exit", exit_code=1)
    return s


def shell(pid: int = 150) -> Stream:
    s = Stream(pid, T0 + 0.0002)
    s.add("process", phase="start", argv=["bash", "run.sh"], ppid=100, cwd="/job", lang="shell")
    s.add("source", path="/job/run.sh", sha256="1" * 64, lang="shell",
          text="#!/bin/bash\nsetup() {\n  env\n}\nsetup\npython3 transform.py\n")
    s.add("command", file="/job/run.sh", line=5, func="main", depth=0, text="setup")
    s.add("command", file="/job/run.sh", line=3, func="setup", depth=1, text="env")
    s.add("command", file="/job/run.sh", line=6, func="main", depth=0, text="python3 transform.py")
    s.add("process", phase="exit", exit_code=1)
    return s


def monitor(pid: int = 100, n_metrics: int = 5) -> Stream:
    s = Stream(pid, T0)
    s.add("state", state="STARTED")
    s.add("state", state="RUNNING")
    for i in range(n_metrics):
        s.t = max(s.t, T0 + 0.01 * i)
        s.add("metric", values={"load1": 1.0 + i, "rss": 1e6 * (i + 1), "mem_avail": 8e9})
    s.add("state", state="FAILED")
    return s


MANIFEST_JOB = {"id": "4711", "name": "reco_task_17", "site": "WUPPERTAL", "host": "wn042",
                "user": "/DC=org/DC=example/CN=Jane Doe", "argv": ["./run.sh", "--events", "100"],
                "cwd": "/job", "started": T0, "ended": T0 + 1.0, "exit_code": 1, "verbosity": 4}


def write_archive(root: Path, streams: list[Stream] | None = None, job: dict | None = None,
                  manifest: bool = True) -> Path:
    """Write an archive folder; returns it."""
    streams = streams if streams is not None else [monitor(), shell(), failing_python()]
    (root / "events").mkdir(parents=True, exist_ok=True)
    for s in streams:
        with open(root / "events" / f"{s.pid}.jsonl", "w") as f:
            for r in s.records:
                f.write(json.dumps(r) + "\n")
    if manifest:
        (root / "manifest.json").write_text(json.dumps(
            {"format": "jem-archive", "version": 1, "job": job or MANIFEST_JOB,
             "monitor": {"name": "jemgui", "version": "0.1.0"}}))
    return root


def write_pack_of_two(tmp_path: Path) -> Path:
    """`many.tgz`: jobs 4711 (the failing job) and 4712 (monitor records only) in one tarball."""
    import tarfile

    write_archive(tmp_path / "src" / "jobA")
    write_archive(tmp_path / "src" / "jobB", [monitor()], job={**MANIFEST_JOB, "id": "4712"})
    tgz = tmp_path / "many.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(tmp_path / "src", arcname="sandbox")
    return tgz
