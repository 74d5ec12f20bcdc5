"""Speed and memory of opening a pilot log tarball with a large `payload.stdout` (issue 15, item 4).

    python -m benchmarks.gridlogs [--mb 1024] [--workdir /tmp/jemgui-gridbench] [--skip-window]

Writes (once, kept in the work folder) a tarball shaped like the fixtures of
tests/models/gridlogs_fixtures.py whose `payload.stdout` holds `--mb` MB of
transform and user output (dated INFO lines, undated prints, some WARNING and
ERROR lines, a traceback near the end), then measures, each in a fresh
process so that peak RSS is that step's own:

- baseline, in the same run: reading the same bytes a chunk at a time and
  counting their lines (`bytes.count`), the floor of any line index;
- the Logs panel's line index (`lineindex.build`: line starts, each line's
  time, error lines): MB/s and its ratio to the baseline, peak RSS;
- `jemgui summary --json` on the tarball with an empty cache (copy out,
  convert, index, summarise): wall time and peak RSS;
- the window, offscreen, with an empty cache: the job indexed in the window's
  process as the window does it, shown, the Logs panel's files copied out and
  indexed (`payload.stdout` shown at its last line): wall time and peak RSS of
  the window's process (and of any helper process it started).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

GOALS = {"mb_per_s": 100, "rss_mb": 300}


def write_payload(path: Path, mb: int) -> None:
    """`mb` MB of payload output, a block of 20,000 lines at a time, times going forward."""
    t = 1786955460.0
    words = ["reading", "event", "cluster", "jet", "track", "vertex", "calibration", "weights", "branch"]
    with open(path, "wb") as out:
        written, block_no = 0, 0
        while written < mb << 20:
            lines = []
            for i in range(20_000):
                k = block_no * 20_000 + i
                t += 0.01
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f",{int(t % 1 * 1000):03d}"
                if k % 3 == 0:
                    lines.append(f"user print {k}: {words[k % 9]} {k * 7919 % 100003} done")
                elif k % 997 == 0:
                    lines.append(f"Py:Analysis.loop {stamp} ERROR could not read {words[k % 9]} #{k}")
                elif k % 101 == 0:
                    lines.append(f"Py:Analysis.loop {stamp} WARNING slow {words[k % 9]} {k % 1000} ms")
                else:
                    lines.append(f"Py:Analysis.loop {stamp} INFO processed {words[k % 9]} {k} "
                                 f"with {k * 31 % 977} items")
            data = ("\n".join(lines) + "\n").encode()
            out.write(data)
            written += len(data)
            block_no += 1
        out.write(b"=== stderr ===\nTraceback (most recent call last):\n"
                  b'  File "/srv/workDir/analysis.py", line 88, in <module>\n    main()\n'
                  b"RuntimeError: ran out of luck\n")


def tarball(workdir: Path, mb: int) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.models import gridlogs_fixtures as fx

    path = workdir / f"log.{fx.TASK}._000123.job.log.{mb}mb.tgz.1"
    if path.exists():
        return path
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"  writing a tarball with a {mb} MB payload.stdout to {path} ...", flush=True)
    payload = workdir / "payload.stdout"
    write_payload(payload, mb)
    files = fx.user_job_python_exception()
    files.pop("payload.stdout")
    top = f"tarball_PandaJob_{fx.PANDA_ID}_{fx.QUEUE}"
    part = path.with_suffix(".part")
    with tarfile.open(part, "w:gz", compresslevel=1) as tar:
        tar.add(payload, f"{top}/payload.stdout")
        for name, data in files.items():
            f = workdir / name
            f.write_bytes(data)
            tar.add(f, f"{top}/{name}")
            f.unlink()
    part.rename(path)
    return path


def _child(code: str, *args: str) -> dict:
    """Run `code` in a fresh Python; its printed JSON plus its peak RSS."""
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


BASELINE = """
import json, resource, sys, time
t = time.perf_counter(); c = time.process_time(); n = 0; size = 0
with open(sys.argv[1], "rb") as f:
    while data := f.read(16 << 20):
        n += data.count(b"\\n"); size += len(data)
w = time.perf_counter() - t
print(json.dumps({"wall": w, "cpu": time.process_time() - c, "lines": n, "bytes": size, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

LINEINDEX = """
import json, resource, sys, time
from jemgui.models.gridlogs.lineindex import build
t = time.perf_counter(); c = time.process_time()
ix = build(sys.argv[1], 1786955460.0)
w = time.perf_counter() - t
print(json.dumps({"wall": w, "cpu": time.process_time() - c, "lines": ix.count, "errors": len(ix.errors), "bytes": ix.size,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

WINDOW = """
import json, resource, sys, time
t = time.perf_counter()
from jemgui.app import make_app, offscreen_window, open_now, save_grab
from jemgui.views.logs_panel import LogsPanel
app = make_app(offscreen=True)
with offscreen_window(app) as window:
    open_now(window, sys.argv[1], where="failure")
    panel = window.docks["logs"].widget()
    assert isinstance(panel, LogsPanel)
    while panel.name is None:
        app.processEvents(); time.sleep(0.01)
    panel.show_file("payload.stdout", panel.logs.index("payload.stdout").count - 1)
    lines = panel.logs.index("payload.stdout").count
    save_grab(app, window, sys.argv[2])
w = time.perf_counter() - t
print(json.dumps({"wall": w, "lines": lines, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""

COMMAND = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
out = subprocess.run(sys.argv[1:], capture_output=True, text=True)
w = time.perf_counter() - t
print(json.dumps({"wall": w, "rc": out.returncode, "stderr": out.stderr[-500:],
                  "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/jemgui-gridbench"))
    ap.add_argument("--skip-window", action="store_true")
    ap.add_argument("--index-only", action="store_true", help="only the baseline and the line index")
    args = ap.parse_args(argv)
    payload = args.workdir / "payload.stdout"
    path = None if args.index_only else tarball(args.workdir, args.mb)
    if not payload.exists():
        args.workdir.mkdir(parents=True, exist_ok=True)
        write_payload(payload, args.mb)
    size_mb = payload.stat().st_size / (1 << 20)
    print(f"payload.stdout: {size_mb:,.0f} MB" + (f"; tarball {path.stat().st_size / (1 << 20):,.0f} MB" if path else ""))

    base = _child(BASELINE, str(payload))  # the file is in the page cache for both after this
    ix = _child(LINEINDEX, str(payload))
    base = min((base, _child(BASELINE, str(payload))), key=lambda r: r["wall"])
    assert ix["lines"] == base["lines"], (ix, base)
    base_rate, ix_rate = size_mb / base["wall"], size_mb / ix["wall"]
    base_cpu, ix_cpu = size_mb / base["cpu"], size_mb / ix["cpu"]
    print(f"  baseline: read + count lines      {base_rate:10,.0f} MB/s  ({base_cpu:,.0f} MB per CPU second;"
          f" {base['lines']:,} lines)")
    print(f"  Logs panel line index             {ix_rate:10,.0f} MB/s  goal >= {GOALS['mb_per_s']}"
          f"   ({ix_rate / base_rate:.2f} x baseline; {ix_cpu:,.0f} MB per CPU second;"
          f" {ix['errors']:,} error lines; peak RSS {ix['rss_mb']:,.0f} MB)")

    if args.index_only:
        return 0
    env = {**os.environ, "JEMGUI_CACHE_DIR": str(args.workdir / "cache"), "QT_QPA_PLATFORM": "offscreen"}
    os.environ.update(env)
    import shutil

    shutil.rmtree(args.workdir / "cache", ignore_errors=True)
    summ = _child(COMMAND, sys.executable, "-m", "jemgui", "summary", str(path), "--json")
    print(f"  summary --json, empty cache       {summ['wall']:10,.1f} s     peak RSS {summ['rss_mb']:,.0f} MB"
          f"   goal < {GOALS['rss_mb']}" + ("" if summ["rc"] == 0 else f"   FAILED rc={summ['rc']}"))
    if not args.skip_window:
        shutil.rmtree(args.workdir / "cache", ignore_errors=True)
        win = _child(WINDOW, str(path), str(args.workdir / "window.png"))
        print(f"  window, empty cache, Logs panel   {win['wall']:10,.1f} s     peak RSS {win['rss_mb']:,.0f} MB"
              f"   goal < {GOALS['rss_mb']}   (helper processes {win['children_mb']:,.0f} MB;"
              f" payload.stdout shown at line {win['lines']:,})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
