"""Open a pilot log tarball (`.tgz`, `.tgz.N`) or its unpacked `tarball_PandaJob_<id>_<queue>/` folder.

A pack is never extracted as it stands: the work directory's log members are
copied through `inputs`' safe, capped copy into a private temporary folder
and read from there.
"""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath

from jemgui.models.gridlogs import job as gridjob
from jemgui.models.report import ImportReport


def open_gridlogs(path: Path, kind: str, root: PurePosixPath):
    """A `JobInput` for the grid job whose work directory is `root` inside `path`."""
    from jemgui.models import inputs

    report = ImportReport()
    label = path.name
    tmp = None
    if kind == "folder":
        top = path / root if str(root) not in ("", ".") else path
    else:
        tmp = tempfile.TemporaryDirectory(prefix="jemgui-")
        dest = Path(tmp.name)

        def wanted(rel: PurePosixPath) -> bool:
            inside = inputs._relative_to(rel, root) if str(root) not in ("", ".") else rel
            return inside is not None and gridjob.wanted(inside)

        try:
            if kind == "tar":
                inputs._copy_tar(path, dest, wanted, report)
            else:
                inputs._copy_zip(path, dest, wanted, report)
        except Exception:
            tmp.cleanup()
            raise
        top = dest / root if str(root) not in ("", ".") else dest
    try:
        conv = gridjob.convert_folder(top, report)
    except Exception:
        if tmp is not None:
            tmp.cleanup()
        raise
    inp = inputs.JobInput(label=label, report=report, _tmp=tmp)
    inp.manifest = {"format": "jem-archive", "version": 1, "job": conv.job}
    inp.total_bytes = sum(f.stat().st_size for f in top.rglob("*") if f.is_file()) if top.exists() else 0
    for pid, recs in sorted(conv.streams.items()):
        inp.streams.append(inputs.Stream(name=f"{label}#{pid}", pid=pid, records=recs))
    return inp
