"""`jemgui triage --scheduler` on a real Dask scheduler and two real workers started on this machine:
the same result as the local process pool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.triage.corpus import make_corpus
from tests.triage.test_triage import triage

pytest.importorskip("distributed", reason="Dask distributed is the optional extra jemgui[dask]")
pytestmark = pytest.mark.slow

DASK = str(Path(sys.executable).with_name("dask"))


def _wait_for(path: Path, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not path.exists() or not path.read_text().strip():
        if time.monotonic() > end:
            raise TimeoutError(f"{path} not written in {timeout} s")
        time.sleep(0.2)


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-thread worker processes, each worker with its own empty cache."""
    from distributed import Client

    info = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(info)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)]
    try:
        _wait_for(info)
        address = json.loads(info.read_text())["address"]
        for n in range(2):
            env = {**os.environ, "JEMGUI_CACHE_DIR": str(tmp_path / f"worker-cache-{n}")}
            procs.append(subprocess.Popen([DASK, "worker", address, "--nworkers", "1", "--nthreads", "1",
                                           "--no-dashboard", "--name", f"w{n}"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env))
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, [tmp_path / f"worker-cache-{n}" for n in range(2)]
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_dask_cluster_gives_the_local_result(cluster, tmp_path):
    address, worker_caches = cluster
    root = tmp_path / "corpus"
    make_corpus(root, n=40, seed=5)
    local = json.loads(triage(str(root), "--json", "--workers", "2", cache=tmp_path / "local-cache").stdout)
    remote = json.loads(triage(str(root), "--json", "--scheduler", address, cache=tmp_path / "client-cache").stdout)
    assert remote == local
    assert local["groups"] and local["totals"]["failed"] > 0
    # both workers did the work, each from the logs (their own caches), none of it the client's
    built = [len(list((c / "index").glob("*.sqlite"))) for c in worker_caches]
    assert all(n > 0 for n in built) and sum(built) == len(local["jobs"]), built
    assert not (tmp_path / "client-cache" / "index").exists()


def test_unreachable_scheduler_is_exit_4(tmp_path):
    make_corpus(tmp_path, n=1)
    done = triage(str(tmp_path), "--scheduler", "tcp://127.0.0.1:9", check=False)
    assert done.returncode == 4, done.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
