"""Turn any path a user may hold into the streams of one job (spec sections 4 and 7).

Accepted: an archive folder (`manifest.json` + `events/`), the same packed as
`.tar`, `.tar.gz`, `.tgz` or `.zip` with the manifest at any depth (several
jobs: `list_jobs` names them, `open_input(job=...)` picks one), a bare
`.jsonl`/`.jsonl.gz` stream, a legacy `JEM_MON.jmd` or a tarball holding one,
a Chrome trace-event JSON file, and a grid job's logs without JEM data (a
PanDA pilot's log tarball, `.tgz.N` too, or its unpacked folder: `gridlogs`).

Packed inputs are never extracted as they stand: only regular members with a
safe relative name are copied into a private temporary folder and read from
there. Each member is measured against its own compressed bytes (a member
that expands more than MAX_RATIO times is a bomb and refuses the whole pack),
and against a size cap of its own and one for the pack (MAX_TOTAL_BYTES).
The temporary folders live in one folder per user; a run killed before it
could remove its own has it removed by the next run (`private_tmp`).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import orjson

from jemgui.models import records
from jemgui.models.converted import Converted
from jemgui.models.report import ImportReport


class UnreadableInput(Exception):
    """The input cannot be read at all (not a JEM input, missing, no access)."""


#: cap on the bytes one packed member may expand to
MAX_MEMBER_BYTES = 16 * 1024**3
#: cap on the bytes all the members copied out of one pack may expand to
MAX_TOTAL_BYTES = 32 * 1024**3
#: cap on a member's expanded/packed ratio, checked once it has expanded past RATIO_FLOOR: JSON lines
#: of a real job pack 8-30 times, deflate's own maximum (zeros) is 1032 and bzip2/xz go far beyond
MAX_RATIO = 200
RATIO_FLOOR = 64 * 1024**2
#: cap on the streams (processes) of one job: files of an archive, pids of a bare stream;
#: records of the streams beyond it are skipped and counted (`too-many-streams`)
MAX_STREAMS = 4096
#: bytes of records the merge may hold for all streams at once (each stream reads its share)
READ_BUDGET = 256 * 1024**2

EVENTS_NAME = re.compile(r"^(?P<pid>-?\d+)\.jsonl(?:\.gz)?$")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


@dataclass
class Stream:
    """A file of records (one process's, or several processes' as a bare export holds them),
    or records already converted.

    A file is read once, in file order, whatever the number of pids it names;
    each pid's records are checked as a stream of its own (`streams.read_stream`).
    """

    name: str
    pid: int | None = None
    path: Path | None = None
    records: list[dict] | None = None
    #: pids this file may add to the job (the job's share of MAX_STREAMS)
    max_pids: int = MAX_STREAMS
    #: bytes read at a time (the merge holds one read of every stream)
    read_size: int = 1 << 20
    _raw: io.BufferedIOBase | None = field(default=None, repr=False)

    def spec(self) -> list:
        """What a worker process needs to read the same file (`from_spec`)."""
        return [self.name, self.pid, str(self.path), self.max_pids, self.read_size]

    @classmethod
    def from_spec(cls, spec: list) -> Stream:
        name, pid, path, max_pids, read_size = spec
        return cls(name=name, pid=pid, path=Path(path), max_pids=max_pids, read_size=read_size)

    @property
    def consumed(self) -> int:
        """Bytes of the file read so far (for progress)."""
        raw = self._raw
        try:
            return raw.tell() if raw is not None and not raw.closed else (self.path.stat().st_size if raw else 0)
        except (OSError, ValueError):
            return 0

    def open(self) -> io.BufferedIOBase:
        """The stream's bytes, decompressed when the file is gzip."""
        assert self.path is not None
        raw = self._raw = open(self.path, "rb")
        if raw.read(2) == b"\x1f\x8b":
            raw.seek(0)
            return CappedReader(gzip.GzipFile(fileobj=raw), self.name, os.path.getsize(self.path))
        raw.seek(0)
        return raw


@dataclass
class JobInput:
    """Everything read from one job, before indexing."""

    label: str
    manifest: dict | None = None
    streams: list[Stream] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)
    report: ImportReport = field(default_factory=ImportReport)
    total_bytes: int = 0
    _tmp: tempfile.TemporaryDirectory | None = None

    @property
    def job(self) -> dict:
        job = (self.manifest or {}).get("job")
        return job if isinstance(job, dict) else {}

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


class CappedReader(io.RawIOBase):
    """Reads a decompressing stream and stops at a size or ratio cap (zip/gzip bombs).

    `packed` is the member's compressed size, or a function giving the
    compressed bytes read for it so far (a tar member's share of a .tar.gz is
    known only as it is read). `budget` is a one-item list of bytes the pack
    may still expand to, shared by its members. It hands out at most `BLOCK`
    bytes a read: a stream that is cut or damaged raises on the read that
    meets the damage, and only that block is lost.
    """

    BLOCK = 1 << 16

    def __init__(self, inner, name: str, packed, budget: list[int] | None = None):
        self.inner, self.name, self.packed, self.budget = inner, name, packed, budget
        self.seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        data = self.inner.read(min(len(buf), self.BLOCK))
        self.seen += len(data)
        if self.seen > RATIO_FLOOR:
            packed = max(self.packed() if callable(self.packed) else self.packed, 1)
            if self.seen / packed > MAX_RATIO:
                raise Bomb(f"{self.name} expands more than {MAX_RATIO} times its packed size "
                           "(a compression bomb); refused")
        if self.seen > MAX_MEMBER_BYTES:
            raise TooLarge(f"{self.name} expands past {_size(MAX_MEMBER_BYTES)}")
        if self.budget is not None:
            self.budget[0] -= len(data)
            if self.budget[0] < 0:
                raise Bomb(f"the pack expands past {_size(MAX_TOTAL_BYTES)} in all; refused")
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()


def _size(n: int) -> str:
    return f"{n / 1024**3:g} GiB" if n >= 1024**3 else f"{n / 1024**2:g} MiB"


class TooLarge(Exception):
    """A packed member expands past the caps."""


class Bomb(TooLarge):
    """A packed member expands past the ratio cap, or a pack past its total: the input is refused."""


#: output a gzip stream is inflated to, up front, to see whether it is a bomb (`check_gzip`)
PROBE_BYTES = 16 * 1024**2


def check_gzip(path: Path, name: str) -> None:
    """Raise Bomb when the start of a gzip file already inflates more than MAX_RATIO times:
    a bomb is refused in a fraction of a second, not after its gigabytes. (Its trailer's size
    cannot tell: a cut file's last bytes are anything.) One that hides behind a normal start
    meets CappedReader's caps as it is read."""
    inflate = zlib.decompressobj(wbits=31)
    got = used = 0
    try:
        with open(path, "rb") as f:
            while got < PROBE_BYTES and (data := f.read(1 << 16)):
                used += len(data)
                while data and got < PROBE_BYTES:
                    got += len(inflate.decompress(data, 1 << 20))
                    data = inflate.unconsumed_tail
                if inflate.eof:
                    break
    except (OSError, zlib.error):
        return  # damage: the reader says where
    if got >= PROBE_BYTES and got / max(used, 1) > MAX_RATIO:
        raise Bomb(f"{name} expands more than {MAX_RATIO} times its packed size (a compression bomb); refused")


def _runs_folder() -> Path | None:
    """The user's own folder of runs' copies (created private), or None when that path is a
    link or someone else's."""
    parent = Path(tempfile.gettempdir()) / f"jemgui-{os.getuid()}"
    try:
        parent.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(parent)
    except OSError:
        return None
    ours = not os.path.islink(parent) and st.st_uid == os.getuid() and (st.st_mode & 0o077) == 0
    return parent if ours else None


def remove_stale_copies() -> None:
    """Remove the copies of runs that were killed (their pid is gone): nothing a bomb or a crash
    left behind outlives the next run that opens an input."""
    parent = _runs_folder()
    for old in parent.glob("run-*") if parent is not None else ():
        m = re.match(r"run-(\d+)-", old.name)
        if m and int(m[1]) != os.getpid() and not _alive(int(m[1])):
            shutil.rmtree(old, ignore_errors=True)


def private_tmp() -> tempfile.TemporaryDirectory:
    """A new temporary folder for a pack's members, in the user's own folder of them."""
    parent = _runs_folder()
    if parent is None:  # someone else's, or a link: a plain private folder
        return tempfile.TemporaryDirectory(prefix="jemgui-")
    return tempfile.TemporaryDirectory(prefix=f"run-{os.getpid()}-", dir=parent)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


# --- listing jobs -------------------------------------------------------------


@dataclass(frozen=True)
class JobRef:
    """A job found inside an input: `key` picks it in `open_input(job=...)`."""

    key: str
    label: str


def _kind(path: Path) -> str:
    name = path.name.lower()
    if path.is_dir():
        return "folder"
    if name.endswith(TAR_SUFFIXES) or re.search(r"\.(tgz|tar\.gz)\.\d+$", name):  # a pilot log's `.tgz.<attempt>`
        return "tar"
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return "jsonl"
    if name.endswith(".jmd"):
        return "jmd"
    if name.endswith(".json") or name.endswith(".json.gz"):
        return "json"
    with open(path, "rb") as f:
        head = f.read(512)
    if head[:2] == b"\x1f\x8b":
        return "tar" if tarfile.is_tarfile(path) else "jsonl"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    if head.lstrip()[:1] in (b"{", b"["):
        stripped = head.lstrip()
        return "json" if stripped[:1] == b"[" or b'"traceEvents"' in head else "jsonl"
    if b"Type=" in head:
        return "jmd"
    raise UnreadableInput(f"{path.name}: not a JEM archive, stream, legacy log or trace")


def _safe_name(name: str) -> PurePosixPath | None:
    """A member name as a relative path, or None when it would leave its folder."""
    name = name.replace("\\", "/")
    p = PurePosixPath(name)
    if p.is_absolute() or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    if any(part == ".." for part in p.parts):
        return None
    parts = [part for part in p.parts if part not in ("", ".")]
    return PurePosixPath(*parts) if parts else None


def _is_wanted(rel: PurePosixPath) -> bool:
    """Members worth copying: manifests, event streams, logs, legacy logs."""
    n = rel.name
    return (
        n == "manifest.json"
        or (rel.parent.name == "events" and EVENTS_NAME.match(n) is not None)
        or (rel.parent.name == "logs" and n in ("stdout.txt", "stderr.txt"))
        or n.lower().endswith(".jmd")
    )


def _job_roots(names: list[PurePosixPath]) -> list[PurePosixPath]:
    """Folders that hold a job: a manifest, or an `events/` folder without one."""
    roots = {n.parent for n in names if n.name == "manifest.json"}
    roots |= {n.parent.parent for n in names if n.parent.name == "events"}
    return sorted(roots, key=lambda p: (len(p.parts), str(p)))


def _legacy_logs(names: list[PurePosixPath]) -> list[PurePosixPath]:
    return sorted(n for n in names if n.name.lower().endswith(".jmd"))


def list_jobs(path: str | os.PathLike) -> list[JobRef]:
    """The jobs an input holds (one for a plain stream, log or trace)."""
    path = Path(path)
    if not path.exists():
        raise UnreadableInput(f"{path}: no such file or folder")
    kind = _kind(path)
    if kind in ("folder", "tar", "zip"):
        names = _member_names(path, kind)
        refs = [JobRef(str(r) if str(r) != "." else "", _root_label(r, path)) for r in _job_roots(names)]
        if not refs:
            refs = [JobRef(str(n), n.name) for n in _legacy_logs(names)]
        if not refs and (grid := _grid_root(names)) is not None:
            refs = [JobRef(str(grid) if str(grid) != "." else "", _root_label(grid, path))]
        return refs
    return [JobRef("", path.name)]


def _root_label(root: PurePosixPath, path: Path) -> str:
    return path.name if str(root) in ("", ".") else str(root)


def _member_names(path: Path, kind: str) -> list[PurePosixPath]:
    try:
        if kind == "folder":
            out = []
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
                rel = PurePosixPath(Path(dirpath).relative_to(path).as_posix())
                out += [rel / f for f in filenames]
            return [_safe_name(str(p)) or p for p in out]
        if kind == "tar":
            return _tar_names(path)
        with zipfile.ZipFile(path) as zf:
            return [p for i in zf.infolist() if not i.is_dir() and (p := _safe_name(i.filename))]
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        first = str(exc).splitlines()[0].rstrip(":") if str(exc) else type(exc).__name__
        raise UnreadableInput(f"{path.name}: cannot read the pack ({first})") from exc


def _tar_names(path: Path) -> list[PurePosixPath]:
    """The files of a tarball, member by member: a cut or damaged one keeps those before the damage.

    Listing a compressed tarball inflates it whole (`_Inflated` measures it as it goes).
    """
    names: list[PurePosixPath] = []
    try:
        with _open_tar(path) as (tar, _):
            for m in tar:
                if m.size > MAX_MEMBER_BYTES:
                    raise Bomb(f"{m.name} says it is {_size(m.size)}, past the {_size(MAX_MEMBER_BYTES)} cap; refused")
                if m.isfile() and (p := _safe_name(m.name)):
                    names.append(p)
    except Bomb as exc:
        raise UnreadableInput(f"{path.name}: {exc}") from exc
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        if not names:
            raise
    return names


class _Inflated(io.RawIOBase):
    """A compressed tarball's bytes for `tarfile`, inflated in big reads (a forward seek too:
    Python's own seeks 8 KiB at a time), refused as a bomb when they outgrow the compressed
    bytes read more than MAX_RATIO times or pass MAX_TOTAL_BYTES."""

    def __init__(self, inner, raw):
        self.inner, self.raw, self.pos = inner, raw, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n if n is not None and n >= 0 else 1 << 20)
        self._count(len(data))
        return data

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        target = pos if whence == io.SEEK_SET else self.pos + pos
        if target < self.pos:
            self.inner.seek(target)
            self.pos = target
        while self.pos < target and self.read(min(target - self.pos, 1 << 20)):
            pass
        return self.pos

    def _count(self, n: int) -> None:
        self.pos += n
        if self.pos > RATIO_FLOOR and self.pos / max(self.raw.tell(), 1) > MAX_RATIO:
            raise Bomb(f"it expands more than {MAX_RATIO} times its packed size (a compression bomb); refused")
        if self.pos > MAX_TOTAL_BYTES + MAX_MEMBER_BYTES:
            raise Bomb(f"it expands past {_size(MAX_TOTAL_BYTES + MAX_MEMBER_BYTES)} in all; refused")


@contextlib.contextmanager
def _open_tar(path: Path) -> Iterator[tuple[tarfile.TarFile, io.BufferedReader]]:
    """(tarfile, the raw file) of a plain or compressed tarball; `raw.tell()` is how much of the
    file has been read, against which each member's expansion is measured."""
    import bz2
    import lzma

    with open(path, "rb") as raw:
        head = raw.read(6)
        raw.seek(0)
        inner = (gzip.GzipFile(fileobj=raw) if head[:2] == b"\x1f\x8b" else bz2.BZ2File(raw) if head[:3] == b"BZh"
                 else lzma.LZMAFile(raw) if head == b"\xfd7zXZ\x00" else None)
        data = raw if inner is None else _Inflated(inner, raw)
        with tarfile.open(fileobj=data, mode="r:") as tar:
            yield tar, raw


# --- opening one job -------------------------------------------------------------


def open_input(path: str | os.PathLike, job: str | None = None) -> JobInput:
    """The streams of one job in `path`; `job` is a `JobRef.key` when there are several."""
    path = Path(path)
    remove_stale_copies()
    if not path.exists():
        raise UnreadableInput(f"{path}: no such file or folder")
    kind = _kind(path)
    if kind == "jsonl":
        return _from_jsonl(path)
    if kind == "jmd":
        return _from_converter(path, "jmd")
    if kind == "json":
        return _from_converter(path, "chrome")
    if kind == "folder":
        return _from_folder(path, path, job, None)
    return _from_pack(path, kind, job)


def _pick(refs: list[JobRef], job: str | None, where: str) -> JobRef:
    if not refs:
        raise UnreadableInput(f"{where}: no JEM job inside (no manifest.json, events/ or .jmd)")
    if job is None:
        if len(refs) > 1:
            names = ", ".join(r.label for r in refs[:10])
            raise UnreadableInput(f"{where}: holds {len(refs)} jobs ({names}); choose one")
        return refs[0]
    for r in refs:
        if job in (r.key, r.label) or job == _manifest_job_id_hint(r):
            return r
    raise UnreadableInput(f"{where}: no job {job!r} inside")


def _manifest_job_id_hint(ref: JobRef) -> str:
    return PurePosixPath(ref.key).name


def _from_jsonl(path: Path) -> JobInput:
    m = EVENTS_NAME.match(path.name)
    inp = JobInput(label=path.name, total_bytes=path.stat().st_size)
    if _is_gzip(path):
        try:
            check_gzip(path, path.name)
        except Bomb as exc:
            raise UnreadableInput(str(exc)) from exc
    inp.streams.append(Stream(name=path.name, pid=int(m["pid"]) if m else None, path=path))
    inp.report.add(path.name, 0, "no-manifest", "a bare stream: no manifest, job facts unknown")
    return inp


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _converter(which: str):
    if which == "jmd":
        from jemgui.models.legacy_jmd import convert_jmd

        return convert_jmd
    from jemgui.models.chrome_trace import convert_chrome

    return convert_chrome


def _from_converter(path: Path, which: str, label: str | None = None) -> JobInput:
    inp = JobInput(label=label or path.name, total_bytes=path.stat().st_size)
    if _is_gzip(path):
        try:
            check_gzip(path, path.name)
        except Bomb as exc:
            raise UnreadableInput(str(exc)) from exc
    with open(path, "rb") as raw:
        data = raw
        if raw.read(2) == b"\x1f\x8b":
            raw.seek(0)
            data = io.BufferedReader(CappedReader(gzip.GzipFile(fileobj=raw), path.name, inp.total_bytes))
        else:
            raw.seek(0)
        try:
            conv: Converted = _converter(which)(data, path.name, inp.report)
        except TooLarge as exc:
            raise UnreadableInput(str(exc)) from exc
    inp.manifest = {"format": "jem-archive", "version": 1, "job": conv.job}
    inp.logs = dict(conv.logs)
    for pid, recs in sorted(conv.streams.items()):
        inp.streams.append(Stream(name=f"{path.name}#{pid}", pid=pid, records=recs))
    return inp


def _grid_root(names: list[PurePosixPath]) -> PurePosixPath | None:
    """The work directory of a grid job's logs (a pilot log tarball), when there is one."""
    from jemgui.models.gridlogs.job import grid_root

    return grid_root(names)


def _from_folder(base: Path, top: Path, job: str | None, tmp) -> JobInput:
    names = _member_names(top, "folder")
    roots = _job_roots(names)
    if not roots and not _legacy_logs(names) and (grid := _grid_root(names)) is not None:
        from jemgui.models.gridlogs.tarball import open_gridlogs

        return open_gridlogs(top, "folder", grid)
    if not roots and _legacy_logs(names):
        legacy = _legacy_logs(names)
        ref = _pick([JobRef(str(n), n.name) for n in legacy], job, base.name)
        inp = _from_converter(top / ref.key, "jmd", label=ref.label)
        inp._tmp = tmp
        return inp
    ref = _pick([JobRef(str(r) if str(r) != "." else "", _root_label(r, base)) for r in roots], job, base.name)
    root = top / ref.key if ref.key else top
    inp = JobInput(label=ref.label, _tmp=tmp)
    _read_manifest(root, inp)
    _read_events(root, inp)
    _read_logs(root, inp)
    if (grid := _grid_root(names)) is not None:  # a JEM archive among a grid job's logs: one timeline
        from jemgui.models.gridlogs.tarball import join

        join(inp, top, "folder", grid)
    return inp


def _read_manifest(root: Path, inp: JobInput) -> None:
    mpath = root / "manifest.json"
    if not mpath.is_file():
        inp.report.add("manifest.json", 0, "no-manifest", "no manifest.json: job facts unknown")
        return
    try:
        data = orjson.loads(mpath.read_bytes()[: 16 * 1024 * 1024])
    except orjson.JSONDecodeError as exc:
        inp.report.add("manifest.json", 0, "bad-manifest", f"manifest.json is not valid JSON ({exc})")
        return
    if records.depth(data) > records.MAX_DEPTH:
        inp.report.add("manifest.json", 0, "bad-manifest",
                       f"manifest.json nests deeper than {records.MAX_DEPTH} levels; only its job facts are kept")
        job = data.get("job") if isinstance(data, dict) else None
        data = {"job": {k: v for k, v in job.items() if k in JOB_FIELDS} if isinstance(job, dict) else {}}
    if not isinstance(data, dict) or not isinstance(data.get("job"), dict):
        inp.report.add("manifest.json", 0, "bad-manifest", "manifest.json has no job object")
        data = {"job": {}} if not isinstance(data, dict) else {**data, "job": {}}
    elif data.get("format") != "jem-archive":
        inp.report.add("manifest.json", 0, "bad-manifest", "manifest.json does not say format jem-archive")
    wrong = [k for k, ok in JOB_FIELDS.items() if data["job"].get(k) is not None and not ok(data["job"][k])]
    if wrong:
        inp.report.add("manifest.json", 0, "bad-manifest",
                       f"job {', '.join(wrong)} of the wrong type in manifest.json; left out")
        data = {**data, "job": {k: v for k, v in data["job"].items() if k not in wrong}}
    inp.manifest = data


def _time(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < records.MAX_TS


#: the manifest's job fields (spec section 4) and the values they may hold besides null
JOB_FIELDS = {
    **dict.fromkeys(("id", "name", "site", "host", "user", "cwd"), lambda v: isinstance(v, str)),
    "argv": lambda v: isinstance(v, list) and all(isinstance(a, str) for a in v),
    "started": _time, "ended": _time,
    "exit_code": lambda v: type(v) is int and records.INT64_MIN <= v <= records.INT64_MAX,
    "verbosity": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 4,
}


def _read_events(root: Path, inp: JobInput) -> None:
    events = root / "events"
    files = sorted(events.iterdir()) if events.is_dir() else []
    for f in files:
        m = EVENTS_NAME.match(f.name)
        if not m or not f.is_file() or f.is_symlink():
            if f.name != ".keep":
                inp.report.add(f"events/{f.name}", 0, "bad-member", "not an events/<pid>.jsonl stream, skipped")
            continue
        if len(inp.streams) >= MAX_STREAMS:
            inp.report.add(f"events/{f.name}", 0, "too-many-streams",
                           f"more than {MAX_STREAMS} streams: this one is skipped")
            continue
        if f.name.endswith(".gz"):
            try:
                check_gzip(f, f"events/{f.name}")
            except Bomb as exc:
                inp.report.add(f"events/{f.name}", 0, "too-large", f"{exc}; skipped")
                continue
        inp.streams.append(Stream(name=f"events/{f.name}", pid=int(m["pid"]), path=f))
        inp.total_bytes += f.stat().st_size
    if not inp.streams:
        inp.report.add("events/", 0, "no-events", "the archive has no event streams")
    share_streams(inp.streams)


def share_streams(streams: list[Stream]) -> None:
    """Give each of a job's streams its share of MAX_STREAMS (pids a file may add) and of
    READ_BUDGET (bytes read at a time): many streams cost no more than a few."""
    n = max(len(streams), 1)
    for s in streams:
        s.max_pids = max(1, MAX_STREAMS // n)
        s.read_size = max(16 * 1024, min(1 << 20, READ_BUDGET // n))


def _read_logs(root: Path, inp: JobInput) -> None:
    for name in ("stdout", "stderr"):
        p = root / "logs" / f"{name}.txt"
        if p.is_file() and not p.is_symlink():
            with open(p, "rb") as f:
                inp.logs[name] = f.read(8 * 1024 * 1024).decode("utf-8", "replace")


def _from_pack(path: Path, kind: str, job: str | None) -> JobInput:
    """Copy the chosen job's members out of a tar or zip, safely, then read it as a folder."""
    names = _member_names(path, kind)
    roots = _job_roots(names)
    if not roots and not _legacy_logs(names) and (grid := _grid_root(names)) is not None:
        from jemgui.models.gridlogs.tarball import open_gridlogs

        try:
            return open_gridlogs(path, kind, grid)
        except Bomb as exc:
            raise UnreadableInput(f"{path.name}: {exc}") from exc
    if roots:
        ref = _pick([JobRef(str(r) if str(r) != "." else "", _root_label(r, path)) for r in roots], job, path.name)
        prefix = PurePosixPath(ref.key) if ref.key else None
    else:
        legacy = _legacy_logs(names)
        ref = _pick([JobRef(str(n), n.name) for n in legacy], job, path.name)
        prefix = None
    tmp = private_tmp()
    dest = Path(tmp.name)
    report = ImportReport()
    n_events = [0]

    def wanted(rel: PurePosixPath) -> bool:
        if not roots:
            return str(rel) == ref.key
        inside = rel if prefix is None else _relative_to(rel, prefix)
        if inside is None or not _is_wanted(inside) or len(inside.parts) > 2:
            return False
        if inside.parent.name == "events":
            n_events[0] += 1
            if n_events[0] > MAX_STREAMS:
                report.add(str(rel), 0, "too-many-streams", f"more than {MAX_STREAMS} streams: this one is skipped")
                return False
        return True

    try:
        if kind == "tar":
            _copy_tar(path, dest, wanted, report)
        else:
            _copy_zip(path, dest, wanted, report)
        if roots:
            inp = _from_folder(path, dest / prefix if prefix else dest, None, tmp)
            if (grid := _grid_root(names)) is not None:  # a JEM archive among a grid job's logs: one timeline
                from jemgui.models.gridlogs.tarball import join

                join(inp, path, kind, grid)
        else:
            inp = _from_converter(dest / ref.key, "jmd", label=ref.label)
            inp._tmp = tmp
    except Bomb as exc:
        tmp.cleanup()
        raise UnreadableInput(f"{path.name}: {exc}") from exc
    except BaseException:  # an interrupt too: nothing copied stays behind
        tmp.cleanup()
        raise
    inp.label = ref.label if ref.label != path.name else path.name
    for p in report.problems:
        inp.report.add(p.file, p.line, p.code, p.message)
    return inp


def _relative_to(rel: PurePosixPath, prefix: PurePosixPath) -> PurePosixPath | None:
    try:
        return rel.relative_to(prefix)
    except ValueError:
        return None


def _copy_member(src, dest: Path, rel: PurePosixPath, packed, report: ImportReport, budget: list[int]) -> None:
    """Copy one member through the caps; a Bomb is raised on (the pack is refused)."""
    target = dest.joinpath(*rel.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    reader = CappedReader(src, str(rel), packed, budget)
    try:
        with open(target, "wb") as out:
            while block := reader.read(reader.BLOCK):  # written as they come (see CappedReader)
                out.write(block)
    except Bomb:
        raise
    except TooLarge as exc:
        report.add(str(rel), 0, "too-large", f"{exc}; kept what came before the cap")
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:  # BadZipFile: a CRC mismatch
        report.add(str(rel), 0, "bad-member", f"the pack is damaged here ({exc}); kept what was readable")


def _copy_tar(path: Path, dest: Path, wanted, report: ImportReport) -> None:
    budget = [MAX_TOTAL_BYTES]
    try:
        with _open_tar(path) as (tar, raw):
            for m in tar:
                rel = _safe_name(m.name)
                if rel is None:
                    report.add(m.name, 0, "unsafe-member", "member name leaves its folder; skipped")
                    continue
                if not wanted(rel):
                    continue
                if not m.isfile():
                    report.add(m.name, 0, "unsafe-member", "member is a link or device, not a file; skipped")
                    continue
                src = tar.extractfile(m)
                if src is not None:
                    # a member's share of a compressed tar: the compressed bytes read since it began
                    start = raw.tell()
                    _copy_member(src, dest, rel, lambda start=start: raw.tell() - start, report, budget)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        report.add(path.name, 0, "bad-member", f"the tarball is cut or damaged ({exc}); kept what was readable")


def _copy_zip(path: Path, dest: Path, wanted, report: ImportReport) -> None:
    budget = [MAX_TOTAL_BYTES]
    with zipfile.ZipFile(path) as zf:
        chosen = []
        for info in zf.infolist():
            rel = _safe_name(info.filename)
            if rel is None:
                report.add(info.filename, 0, "unsafe-member", "member name leaves its folder; skipped")
            elif not info.is_dir() and wanted(rel):
                chosen.append((info, rel))
        # the sizes a zip declares bind its reader: a bomb that declares itself is refused before inflating
        for info, _ in chosen:
            if info.file_size > RATIO_FLOOR and info.file_size / max(info.compress_size, 1) > MAX_RATIO:
                raise Bomb(f"{info.filename} expands {info.file_size // max(info.compress_size, 1)} times its "
                           "packed size (a compression bomb); refused")
        if sum(info.file_size for info, _ in chosen) > MAX_TOTAL_BYTES:
            raise Bomb(f"the pack expands past {_size(MAX_TOTAL_BYTES)} in all; refused")
        for info, rel in chosen:
            mode = (info.external_attr >> 16) & 0o170000
            if mode == 0o120000:
                report.add(info.filename, 0, "unsafe-member", "member is a symbolic link; skipped")
                continue
            try:
                src = zf.open(info)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, zlib.error) as exc:
                report.add(info.filename, 0, "bad-member", f"cannot read member ({exc})")
                continue
            _copy_member(src, dest, rel, info.compress_size, report, budget)


def iter_lines(f, name: str, report: ImportReport, limit: int) -> Iterator[tuple[int, bytes, bool]]:
    """Lines of a stream as (line number, bytes, ended-with-newline); overlong lines skipped.

    A line longer than `limit` is read through in chunks (never held whole) and
    reported, so one 100 MB line costs no memory.
    """
    n = 0
    readline = f.readline
    while True:
        try:
            line = readline(limit + 1)
        except (OSError, EOFError, TooLarge, zlib.error) as exc:
            report.add(name, n + 1, "bad-member", f"stream is cut or damaged here ({exc})")
            return
        if not line:
            return
        n += 1
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                try:
                    line = readline(1 << 20)
                except (OSError, EOFError, TooLarge, zlib.error):
                    return
            report.add(name, n, "too-long", f"line longer than {limit} bytes, skipped")
            continue
        yield n, line, line.endswith(b"\n")
