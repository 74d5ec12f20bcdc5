"""A plain `summary` of a big archive says how indexing goes on stderr when that is a terminal, and
nothing there when it is not (a script's log stays clean)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from benchmarks.synth import write_archive


def _run(archive, tmp_path, tty: bool) -> tuple[str, str]:
    env = {**os.environ, "JEMGUI_CACHE_DIR": str(tmp_path / f"cache-{tty}")}
    if tty:
        main, sub = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "jemgui", "summary", str(archive)], stdout=subprocess.PIPE,
                                stderr=sub, env=env)
        os.close(sub)
        err = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            err += chunk
        out = proc.stdout.read()
        proc.wait(60)
        os.close(main)
        return out.decode(), err.decode(errors="replace")
    done = subprocess.run([sys.executable, "-m", "jemgui", "summary", str(archive)], capture_output=True, env=env,
                          timeout=120)
    return done.stdout.decode(), done.stderr.decode()


def test_summary_shows_progress_on_a_terminal_only(tmp_path):
    archive = write_archive(tmp_path / "job", 40_000)
    out, err = _run(archive, tmp_path, tty=True)
    assert "Records" in out and "indexing: " in err and " records" in err
    out, err = _run(archive, tmp_path, tty=False)
    assert "Records" in out and err == ""
