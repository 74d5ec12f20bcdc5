"""Realistic synthetic JEM archives of any size, for benchmarks and the engine's tests.

Each Python process runs two threads that call functions to a varying depth
(recursion up to ~40 frames), change locals on most lines, raise exceptions
that unwind a frame or three before being caught, and drive generators that
yield and are resumed later, sometimes by the other thread. The process's
verbosity changes now and then (spec section 3): at 3 locals are not recorded,
at 2 lines are not, at 1 nothing of the frames is, so when it is raised again
records arrive for frames whose call was never seen. The second thread starts
before the monitor looks, so its first records are already two frames deep. A
shell stream runs commands; the monitor's stream carries a metric sample every
~2000 records. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import orjson

PY_FILES = ["/scratch/job/transform.py", "/scratch/job/lib/reco.py", "/scratch/job/lib/io.py"]
FUNCS = ["process_event", "reconstruct", "fit_track", "read_block", "decode", "calibrate", "merge", "walk"]
NAMES = ("i", "x", "hits", "chi2", "buf", "name")


class _Stream:
    def __init__(self, pid: int, t0: float, out):
        self.pid, self.seq, self.ts, self.out = pid, 0, t0, out
        self.level = 4  # the process's verbosity
        self.suspended: list[list] = []  # generator frames that yielded, any thread may resume them

    def emit(self, kind: str, **fields) -> None:
        self.ts += random.expovariate(1 / 8e-6)
        rec = {"seq": self.seq, "ts": round(self.ts, 6), "pid": self.pid, "kind": kind, **fields}
        self.out.write(orjson.dumps(rec) + b"\n")
        self.seq += 1


class _Thread:
    """Runs a made-up program on one thread and records what the verbosity lets through.

    A frame is [fid, file, func, line, is_generator].
    """

    def __init__(self, stream: _Stream, tid: int, fids, joined_late: bool = False):
        self.s, self.tid, self.fids = stream, tid, fids
        self.stack: list[list] = []
        if joined_late:  # frames that ran before the monitor started
            for _ in range(2):
                self.stack.append([next(fids), random.choice(PY_FILES), random.choice(FUNCS), 5, False])

    def _emit(self, kind: str, frame: list, level: int = 2, depth: int | None = None, **fields) -> int:
        if self.s.level < level:
            return 0
        if self.s.level < 4:
            for k in ("args", "changed", "deleted", "value"):
                fields.pop(k, None)
        fid, file, func, line, _ = frame
        depth = len(self.stack) - 1 if depth is None else depth
        self.s.emit(kind, tid=self.tid, fid=fid, file=file, line=line, func=func, depth=depth, **fields)
        return 1

    def step(self) -> int:
        """Run a little of the program; returns how many records that wrote."""
        r = random.random()
        s = self.s
        if not self.stack or (r < 0.18 and len(self.stack) < 40):
            if s.suspended and random.random() < 0.15:
                frame = s.suspended.pop(random.randrange(len(s.suspended)))
                self.stack.append(frame)
                return self._emit("call", frame, resume=True)
            frame = [next(self.fids), random.choice(PY_FILES), random.choice(FUNCS), random.randint(10, 400),
                     random.random() < 0.08]
            self.stack.append(frame)
            args = {"event": ["int", str(random.randint(0, 10**6))], "self": ["Reco", "<Reco at 0x7f3a>"]}
            return self._emit("call", frame, args=args)
        if r < 0.34 and len(self.stack) > 1:
            frame = self.stack[-1]
            if random.random() < 0.03:
                return self._raise()
            if frame[4] and random.random() < 0.7:
                n = self._emit("return", frame, value=["int", str(random.randint(0, 99))], **{"yield": True})
                s.suspended.append(self.stack.pop())
                if len(s.suspended) > 20:  # a generator dropped unfinished
                    s.suspended.pop(0)
                return n
            n = self._emit("return", frame, value=["float", repr(random.random())])
            self.stack.pop()
            return n
        frame = self.stack[-1]
        frame[3] += random.randint(1, 3)
        changed = {random.choice(NAMES): ["int", str(random.randint(0, 999))]}
        if random.random() < 0.3:
            changed["track"] = ["list", repr([random.random() for _ in range(3)])]
        fields = {"changed": changed}
        if random.random() < 0.02:
            fields["deleted"] = ["buf"] if "buf" not in changed else ["name"]
        return self._emit("line", frame, level=3, **fields)

    def _raise(self) -> int:
        """An exception raised in the top frame, unwinding up to three frames, caught below them."""
        tb = [[f, ln, fn] for (_, f, fn, ln, _) in self.stack]
        n = self._emit("exception", self.stack[-1], type="ValueError", message="bad calibration constant",
                       traceback=tb)
        for _ in range(min(random.choice((1, 1, 2, 3)), len(self.stack) - 1)):
            n += self._emit("return", self.stack[-1])
            self.stack.pop()
            n += self._emit("exception", self.stack[-1], type="ValueError", message="bad calibration constant")
        self.stack[-1][3] += 1
        return n + self._emit("line", self.stack[-1], level=3, changed={"err": ["ValueError", "bad calibration"]})


def write_archive(path: str | Path, n_records: int, seed: int = 1, processes: int = 3) -> Path:
    """Write an archive folder of about `n_records` records; returns its path."""
    random.seed(seed)
    path = Path(path)
    (path / "events").mkdir(parents=True, exist_ok=True)
    t0 = 1_700_000_000.0
    per = max(1, n_records // processes)
    monitor_pid, shell_pid = 100, 101
    with open(path / "events" / f"{monitor_pid}.jsonl", "wb") as mout:
        mon = _Stream(monitor_pid, t0, mout)
        mon.emit("state", state="STARTED")
        mon.emit("state", state="RUNNING")
        _shell(path, shell_pid, t0)
        span = 0.0
        for p in range(processes):
            pid = 1000 + p
            with open(path / "events" / f"{pid}.jsonl", "wb") as out:
                s = _Stream(pid, t0 + 0.01 * p, out)
                s.emit("process", phase="start", argv=["python3", "transform.py"], ppid=shell_pid,
                       cwd="/scratch/job", lang="python", python="3.11.7")
                for f in PY_FILES:
                    text = "\n".join(f"    x = {i}  # line {i}" for i in range(1, 500))
                    s.emit("source", path=f, sha256="0" * 64, lang="python", text=text)
                fids = iter(range(1, 10**9))
                threads = [_Thread(s, 1, fids), _Thread(s, 2, fids, joined_late=True)]
                done = 0
                while done < per:
                    if random.random() < 2e-4:
                        s.level = random.choice((1, 2, 3, 3)) if s.level == 4 else 4
                    done += random.choice(threads).step()
                s.emit("process", phase="exit", exit_code=0)
                span = max(span, s.ts - t0)
        # metrics over the same time span, about one per 2000 records
        n_metrics = max(10, n_records // 2000)
        for i in range(n_metrics):
            mon.ts = t0 + span * (i + 1) / (n_metrics + 1)
            mon.emit("metric", values={"load1": 2 + random.random(), "rss": 2e8 + i * 1e5,
                                       "cpu": 90 + random.random() * 10, "mem_avail": 8e9})
        mon.ts = t0 + span + 0.001
        mon.emit("state", state="DONE")
    manifest = {"format": "jem-archive", "version": 1,
                "job": {"id": f"synth-{n_records}", "name": "synthetic", "site": "BENCH", "host": "wn001",
                        "user": "/DC=org/DC=example/CN=Bench", "argv": ["./run.sh"], "cwd": "/scratch/job",
                        "started": t0, "ended": t0 + span + 0.002, "exit_code": 0, "verbosity": 4},
                "monitor": {"name": "jemgui-synth", "version": "0.1.0"}}
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return path


def _shell(path: Path, pid: int, t0: float) -> None:
    """The job's wrapper script: a few commands, one in a function, then the Python step."""
    with open(path / "events" / f"{pid}.jsonl", "wb") as out:
        s = _Stream(pid, t0 + 0.001, out)
        s.emit("process", phase="start", argv=["bash", "run.sh"], ppid=100, cwd="/scratch/job", lang="shell")
        s.emit("source", path="/scratch/job/run.sh", sha256="1" * 64, lang="shell",
               text="#!/bin/bash\nsetup() {\n  env\n}\nsetup\npython3 transform.py\n")
        for line, func, depth, text in ((5, "main", 0, "setup"), (3, "setup", 1, "env"),
                                        (6, "main", 0, "python3 transform.py")):
            s.emit("command", file="/scratch/job/run.sh", line=line, func=func, depth=depth, text=text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("-n", type=int, default=1_000_000)
    args = ap.parse_args()
    write_archive(args.out, args.n)


if __name__ == "__main__":
    main()
