"""Open a pilot log tarball (`.tgz`, `.tgz.N`) or its unpacked `tarball_PandaJob_<id>_<queue>/` folder.

A pack is never extracted as it stands: the work directory's log members are
copied through `inputs`' safe, capped copy into a private temporary folder
and read from there. When the tarball also holds a JEM archive (the job ran
under `jemgui run`), `join` adds the logs' streams to that job's timeline.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import orjson

from jemgui.models.gridlogs import job as gridjob
from jemgui.models.report import ImportReport

#: the JEM 2 log a job's sandbox held
LEGACY = "JEM_LOG.tgz"


def _copy_out(path: Path, kind: str, root: PurePosixPath, dest: Path, report: ImportReport) -> Path:
    """The work directory's log members copied from the pack into `dest`; the folder they are in."""
    from jemgui.models import inputs

    def wanted(rel: PurePosixPath) -> bool:
        inside = inputs._relative_to(rel, root) if str(root) not in ("", ".") else rel
        return inside is not None and gridjob.wanted(inside)

    if kind == "tar":
        inputs._copy_tar(path, dest, wanted, report)
    else:
        inputs._copy_zip(path, dest, wanted, report)
    return dest / root if str(root) not in ("", ".") else dest


def join(inp, path: Path, kind: str, root: PurePosixPath) -> None:
    """Add the grid logs at `root` in `path` to the JEM job `inp`: their streams join its timeline
    (a pid the JEM archive already uses moves to the next free one), their facts fill what its
    manifest leaves out, and the pilot's verdict comes along."""
    if inp._tmp is None:
        from jemgui.models.inputs import private_tmp

        inp._tmp = private_tmp()
    dest = Path(inp._tmp.name) / "gridlogs"
    dest.mkdir(exist_ok=True)
    if kind == "folder":
        top = path / root if str(root) not in ("", ".") else path
    else:
        top = _copy_out(path, kind, root, dest, inp.report)
    out = gridjob.convert_to_files(top, inp.report, Path(inp._tmp.name) / "gridlogs-out",
                                   avoid={s.pid for s in inp.streams})
    _hand_over(inp, out, path.name)
    inp.manifest = inp.manifest or {"format": "jem-archive", "version": 1, "job": {}}
    job = inp.manifest.get("job") if isinstance(inp.manifest.get("job"), dict) else {}
    inp.manifest["job"] = {**out.job, **{k: v for k, v in job.items() if v is not None}}


def open_gridlogs(path: Path, kind: str, root: PurePosixPath):
    """A `JobInput` for the grid job whose work directory is `root` inside `path`."""
    from jemgui.models import inputs

    report = ImportReport()
    label = path.name
    tmp = inputs.private_tmp()  # removed by the next run if this one is killed
    try:
        if kind == "folder":
            top = path / root if str(root) not in ("", ".") else path
        else:
            top = _copy_out(path, kind, root, Path(tmp.name) / "work", report)
        out = gridjob.convert_to_files(top, report, Path(tmp.name) / "out")
        if (top / LEGACY).is_file():
            _add_legacy(out, top / LEGACY, report)
    except BaseException:
        tmp.cleanup()
        raise
    inp = inputs.JobInput(label=label, report=report, _tmp=tmp)
    inp.manifest = {"format": "jem-archive", "version": 1, "job": out.job}
    _hand_over(inp, out, label)
    return inp


def _add_legacy(out, path: Path, report: ImportReport) -> None:
    """A JEM 2 log (`JEM_LOG.tgz` holding `JEM_MON.jmd`) in the work directory joins the timeline:
    its streams move to pids the grid streams leave free, its facts fill what the logs did not say."""
    from jemgui.models import inputs

    try:
        sub = inputs.open_input(path)
    except inputs.UnreadableInput as exc:
        report.add(LEGACY, 0, "bad-member", f"JEM 2 log not read ({exc})")
        return
    try:
        for p in sub.report.problems:
            report.add(f"{LEGACY}/{p.file}", p.line, p.code, p.message)
        free = max(set(out.files) | {0}) + 1
        folder = next(iter(out.files.values())).parent if out.files else path.parent
        for stream in sub.streams:
            if stream.records is None:  # not a converted JEM 2 log: a packed JEM archive is not joined
                report.add(LEGACY, 0, "bad-member", f"{stream.name} is not a JEM 2 log; left out")
                continue
            f = folder / f"{free}.jsonl"
            with open(f, "wb") as w:
                for r in stream.records:
                    r["pid"] = free
                    w.write(orjson.dumps(r) + b"\n")
            out.files[free], free = f, free + 1
        for key, value in sub.job.items():
            out.job.setdefault(key, value)
    finally:
        sub.close()


def _hand_over(inp, out, label: str) -> None:
    """Add each converted stream's JSONL file to `inp`: the indexer reads files a chunk at a time."""
    from jemgui.models import inputs

    for pid in sorted(out.files):
        f = out.files[pid]
        inp.total_bytes += f.stat().st_size  # what the indexer reads, for its progress
        inp.streams.append(inputs.Stream(name=f"{label}#{pid}", pid=pid, path=f))
