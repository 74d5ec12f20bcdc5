"""Read many inputs' facts in parallel: a process pool on this machine, or a Dask cluster.

Inputs are files, folders (searched for job archives, pilot log tarballs and
unpacked work directories) and glob patterns. The work goes out in small
batches, a few per worker at a time, so the parent holds only the facts of the
jobs done (about a kilobyte each) whatever the size of the corpus; each worker
reads one job at a time. Dask (`--scheduler`) runs the same batch function on
its workers, which need jemgui installed and the same paths.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

from jemgui.models.triage.facts import input_facts

#: names of files that are a job by themselves
_PACKS = (".tgz", ".tar.gz", ".tar", ".tar.bz2", ".tar.xz", ".zip", ".jsonl", ".jsonl.gz", ".jmd")
_ATTEMPT = re.compile(r"\.(tgz|tar\.gz)\.\d+$")
#: a folder holding one of these is a job's folder (a JEM archive or a grid work directory)
_JOB_FOLDER_FILES = ("manifest.json", "pilotlog.txt", "payload.stdout", "jobReport.json")
#: inputs per batch: small, so progress moves and the window fills as jobs finish
BATCH = 4


class NoDask(Exception):
    """Dask distributed is not installed, or its scheduler cannot be reached."""


def is_job_file(name: str) -> bool:
    n = name.lower()
    return n.endswith(_PACKS) or _ATTEMPT.search(n) is not None


def _is_job_folder(path: Path) -> bool:
    return any((path / n).is_file() for n in _JOB_FOLDER_FILES)


def expand(inputs: list[str]) -> tuple[list[str], list[dict]]:
    """The job inputs named by files, folders and globs (absolute, sorted, each once), and the
    facts of the names that matched nothing (as unreadable rows)."""
    found: dict[str, None] = {}
    missing = []
    for arg in inputs:
        paths = [Path(p) for p in sorted(glob.glob(arg, recursive=True))] if glob.has_magic(arg) else [Path(arg)]
        if not paths or not all(p.exists() for p in paths):
            what = "no file matches" if glob.has_magic(arg) else "no such file or folder"
            missing.append({"path": arg, "job": None, "outcome": "unreadable", "class": None, "signature": None,
                            "error": f"{arg}: {what}"})
            continue
        for p in paths:
            for job in _walk(p):
                found.setdefault(str(job.resolve()), None)
    return sorted(found), missing


def _walk(path: Path) -> Iterator[Path]:
    if path.is_file() or _is_job_folder(path):
        yield path
        return
    for dirpath, dirnames, filenames in os.walk(path):
        here = Path(dirpath)
        jobs = [d for d in dirnames if _is_job_folder(here / d)]
        yield from (here / d for d in jobs)
        dirnames[:] = sorted(d for d in dirnames if d not in jobs and not os.path.islink(here / d))
        yield from (here / f for f in sorted(filenames) if is_job_file(f))


def facts_of_batch(paths: list[str]) -> list[dict]:
    """The facts of each input in `paths`: the unit of work of a pool worker or a Dask task."""
    out = []
    for p in paths:
        out += input_facts(p)
    return out


def _batches(paths: list[str], size: int = BATCH) -> Iterator[list[str]]:
    for i in range(0, len(paths), size):
        yield paths[i:i + size]


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _on_pool(paths: list[str], workers: int) -> Iterator[tuple[int, list[dict]]]:
    # spawn: a window's process (Qt threads) must not be forked
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending = {}
        todo = _batches(paths)
        try:
            while True:
                while len(pending) < 3 * workers and (batch := next(todo, None)) is not None:
                    pending[pool.submit(facts_of_batch, batch)] = len(batch)
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield pending.pop(fut), fut.result()
        finally:
            for fut in pending:
                fut.cancel()


def _client(address: str):
    try:
        from dask.distributed import Client
    except ImportError:
        raise NoDask("Dask distributed is not installed (pip install 'jemgui[dask]')") from None
    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise NoDask(f"cannot reach the Dask scheduler at {address} ({' '.join(str(exc).split())})") from None


def _on_dask(paths: list[str], address: str) -> Iterator[tuple[int, list[dict]]]:
    from dask.distributed import as_completed

    client = _client(address)
    try:
        workers = max(1, sum(client.nthreads().values()))
        todo = _batches(paths)
        sizes = {}
        first = []
        for batch in todo:
            fut = client.submit(facts_of_batch, batch, pure=False)
            sizes[fut.key] = len(batch)
            first.append(fut)
            if len(first) >= 3 * workers:
                break
        queue = as_completed(first)
        for fut in queue:
            yield sizes.pop(fut.key), fut.result()
            fut.release()
            if (batch := next(todo, None)) is not None:
                new = client.submit(facts_of_batch, batch, pure=False)
                sizes[new.key] = len(batch)
                queue.add(new)
    finally:
        client.close()


def iter_facts(paths: list[str], workers: int | None = None, scheduler: str | None = None,
               ) -> Iterator[tuple[int, list[dict]]]:
    """(inputs done, their facts) per finished batch, in the order they finish."""
    if scheduler:  # even with nothing to do: an unreachable scheduler is said
        return _on_dask(paths, scheduler)
    if not paths:
        return iter(())
    return _on_pool(paths, max(1, workers or default_workers()))


def triage_paths(inputs: list[str], workers: int | None = None, scheduler: str | None = None,
                 progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Every job's facts for the inputs named (see `expand`); `progress(done, total)` per batch."""
    paths, missing = expand(inputs)
    facts = list(missing)
    done = 0
    for n, batch in iter_facts(paths, workers, scheduler):
        done += n
        facts += batch
        if progress:
            progress(done, len(paths))
    return facts
