"""Realistic synthetic JEM archives of any size, for benchmarks.

Each Python process runs two threads that call functions to a varying depth
(recursion up to ~40 frames), change locals on most lines, raise and catch an
exception now and then, and yield from generators; a shell stream runs
commands; the monitor's stream carries a metric sample every ~2000 records.
Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import orjson

PY_FILES = ["/scratch/job/transform.py", "/scratch/job/lib/reco.py", "/scratch/job/lib/io.py"]
FUNCS = ["process_event", "reconstruct", "fit_track", "read_block", "decode", "calibrate", "merge", "walk"]


class _Stream:
    def __init__(self, pid: int, t0: float, out):
        self.pid, self.seq, self.ts, self.out = pid, 0, t0, out

    def emit(self, kind: str, **fields) -> None:
        self.ts += random.expovariate(1 / 8e-6)
        rec = {"seq": self.seq, "ts": round(self.ts, 6), "pid": self.pid, "kind": kind, **fields}
        self.out.write(orjson.dumps(rec) + b"\n")
        self.seq += 1


class _Thread:
    """Generates frame records for one thread as a program would."""

    def __init__(self, stream: _Stream, tid: int, fids):
        self.s, self.tid, self.fids = stream, tid, fids
        self.stack: list[tuple[int, str, str, int]] = []

    def _common(self, fid, file, line, func):
        return {"tid": self.tid, "fid": fid, "file": file, "line": line, "func": func, "depth": len(self.stack) - 1}

    def step(self) -> int:
        """Emit a few records; returns how many."""
        n = 0
        r = random.random()
        if not self.stack or (r < 0.18 and len(self.stack) < 40):
            fid = next(self.fids)
            file, func = random.choice(PY_FILES), random.choice(FUNCS)
            line = random.randint(10, 400)
            self.stack.append((fid, file, func, line))
            args = {"event": ["int", str(random.randint(0, 10**6))], "self": ["Reco", "<Reco at 0x7f3a>"]}
            self.s.emit("call", **self._common(fid, file, line, func), args=args)
            n += 1
        elif r < 0.34 and len(self.stack) > 1:
            fid, file, func, line = self.stack[-1]
            if random.random() < 0.03:
                tb = [[f, ln, fn] for (_, f, fn, ln) in self.stack]
                self.s.emit("exception", **self._common(fid, file, line, func), type="ValueError",
                            message="bad calibration constant", traceback=tb)
                self.s.emit("return", **self._common(fid, file, line, func))
                self.stack.pop()
                fid, file, func, line = self.stack[-1]
                self.s.emit("exception", **self._common(fid, file, line, func), type="ValueError",
                            message="bad calibration constant")
                n += 3
            else:
                self.s.emit("return", **self._common(fid, file, line, func),
                            value=["float", repr(random.random())])
                self.stack.pop()
                n += 1
        else:
            fid, file, func, line = self.stack[-1]
            line += random.randint(1, 3)
            self.stack[-1] = (fid, file, func, line)
            changed = {random.choice(("i", "x", "hits", "chi2", "buf", "name")): ["int", str(random.randint(0, 999))]}
            if random.random() < 0.3:
                changed["track"] = ["list", repr([random.random() for _ in range(3)])]
            self.s.emit("line", **self._common(fid, file, line, func), changed=changed)
            n += 1
        return n


def write_archive(path: str | Path, n_records: int, seed: int = 1, processes: int = 3) -> Path:
    """Write an archive folder of about `n_records` records; returns its path."""
    random.seed(seed)
    path = Path(path)
    (path / "events").mkdir(parents=True, exist_ok=True)
    t0 = 1_700_000_000.0
    per = n_records // processes
    monitor_pid = 100
    with open(path / "events" / f"{monitor_pid}.jsonl", "wb") as mout:
        mon = _Stream(monitor_pid, t0, mout)
        mon.emit("state", state="STARTED")
        mon.emit("state", state="RUNNING")
        for p in range(processes):
            pid = 1000 + p
            with open(path / "events" / f"{pid}.jsonl", "wb") as out:
                s = _Stream(pid, t0 + 0.01 * p, out)
                s.emit("process", phase="start", argv=["python3", "transform.py"], ppid=monitor_pid,
                       cwd="/scratch/job", lang="python", python="3.11.7")
                for f in PY_FILES:
                    text = "\n".join(f"    x = {i}  # line {i}" for i in range(1, 500))
                    s.emit("source", path=f, sha256="0" * 64, lang="python", text=text)
                fids = iter(range(1, 10**9))
                threads = [_Thread(s, 1, fids), _Thread(s, 2, fids)]
                done = 0
                while done < per:
                    done += random.choice(threads).step()
                s.emit("process", phase="exit", exit_code=0)
        # metrics over the same time span, about one per 2000 records
        span = (per * 8e-6) * 1.1
        t = t0
        i = 0
        while t < t0 + span and i < max(10, n_records // 2000):
            t += span / max(10, n_records // 2000)
            mon.ts = t
            mon.emit("metric", values={"load1": 2 + random.random(), "rss": 2e8 + i * 1e5,
                                       "cpu": 90 + random.random() * 10, "mem_avail": 8e9})
            i += 1
        mon.emit("state", state="DONE")
    manifest = {"format": "jem-archive", "version": 1,
                "job": {"id": f"synth-{n_records}", "name": "synthetic", "site": "BENCH", "host": "wn001",
                        "user": "/DC=org/DC=example/CN=Bench", "argv": ["./run.sh"], "cwd": "/scratch/job",
                        "started": t0, "ended": t0 + span, "exit_code": 0, "verbosity": 4},
                "monitor": {"name": "jemgui-synth", "version": "0.1.0"}}
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("-n", type=int, default=1_000_000)
    args = ap.parse_args()
    write_archive(args.out, args.n)


if __name__ == "__main__":
    main()
