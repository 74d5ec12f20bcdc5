"""Fuzz: damaged packs of a recorded job (tar, tar.gz, zip, a gzipped stream) and damaged manifests.

Whatever the damage, opening gives an index or the documented one-line
`UnreadableInput`, never another exception; and where the format lets a reader
get at them (a tar stream up to the damage, a gzip stream up to the damage),
the records before the damage are all kept.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jemgui.models.index import open_index
from jemgui.models.inputs import UnreadableInput
from jemgui.resources import resource_path

SOURCE = resource_path("demo", "archive")
STREAMS = sorted((SOURCE / "events").glob("*.jsonl"))
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def tar_bytes() -> bytes:
    """The archive folder as an uncompressed tar stream, as `tar cf` would write it."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(SOURCE, arcname="job")
    return out.getvalue()


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(SOURCE.rglob("*")):
            if path.is_file():
                zf.write(path, "job/" + path.relative_to(SOURCE).as_posix())
    return out.getvalue()


TAR = tar_bytes()
PACKS = {
    "job.tar": TAR,
    "job.tar.gz": gzip.compress(TAR, mtime=0),
    "job.zip": zip_bytes(),
    f"{STREAMS[-1].name}.gz": gzip.compress(STREAMS[-1].read_bytes(), mtime=0),
}


@st.composite
def damage(draw, names=tuple(PACKS)):
    """(pack name, offset, length, kind of damage, noise): small to show when a case fails."""
    name = draw(st.sampled_from(names))
    start = draw(st.integers(0, len(PACKS[name]) - 1))
    return (name, start, draw(st.integers(1, 512)),
            draw(st.sampled_from(["truncate", "flip", "insert", "delete", "zero"])),
            draw(st.binary(min_size=1, max_size=64)))


def damaged_pack(name: str, start: int, length: int, how: str, noise: bytes) -> bytes:
    data = PACKS[name]
    end = min(len(data), start + length)
    if how == "truncate":
        return data[:start]
    if how == "flip":
        return data[:start] + bytes(b ^ 0x5A for b in data[start:end]) + data[end:]
    if how == "insert":
        return data[:start] + noise + data[start:]
    if how == "delete":
        return data[:start] + data[end:]
    return data[:start] + b"\0" * (end - start) + data[end:]


#: a reader that meets the damage loses the block it was reading (64 KiB, inputs.CappedReader)
#: and what the decompressor under it had buffered
LOST_BLOCKS = 2 << 16


def readable_prefix(name: str, damaged: bytes) -> int:
    """How many bytes of the original uncompressed content the damaged pack still gives a reader,
    less the blocks it was reading when it met the damage."""
    original = TAR if name.startswith("job.tar") else STREAMS[-1].read_bytes()
    if name == "job.tar":
        got = damaged
    elif name.endswith(".gz"):
        got, inflate = b"", zlib.decompressobj(wbits=31)
        for i in range(0, len(damaged), 512):  # up to the block where inflating fails
            try:
                got += inflate.decompress(damaged[i:i + 512])
            except zlib.error:
                break
    else:
        return 0  # a zip's directory is at its end: the format gives nothing before a damage
    n = 0
    while n < min(len(got), len(original)) and got[n] == original[n]:
        n += 1
    return max(0, n - LOST_BLOCKS)


def records_within(name: str, prefix: int) -> set[tuple[int, int]]:
    """(pid, seq) of every record whose line, newline included, lies in the first `prefix` bytes."""
    if name.startswith("job.tar"):
        members = [(m.offset_data, tarfile.open(fileobj=io.BytesIO(TAR)).extractfile(m).read())
                   for m in tarfile.open(fileobj=io.BytesIO(TAR)).getmembers()
                   if m.isfile() and m.name.startswith("job/events/")]
    else:
        members = [(0, STREAMS[-1].read_bytes())]
    kept = set()
    for offset, data in members:
        for line in data.splitlines(keepends=True):
            offset += len(line)
            if offset > prefix:
                break
            rec = json.loads(line)
            kept.add((rec["pid"], rec["seq"]))
    return kept


@FUZZ
@given(damage())
def test_a_damaged_pack_opens_or_says_why_in_one_line(case):
    name = case[0]
    damaged = damaged_pack(*case)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(damaged)
        must_keep = records_within(name, readable_prefix(name, damaged))
        try:
            ix = open_index(path)
        except UnreadableInput as exc:
            assert "\n" not in str(exc) and str(exc), repr(str(exc))
            assert not must_keep, f"{len(must_keep)} readable records lost: {exc}"
            return
        kept = {(r["pid"], r["seq"]) for r in ix.iter_records()}
        lost = must_keep - kept
        assert not lost, f"{len(lost)} records before the damage lost, e.g. {sorted(lost)[:3]}"
        ix.summary()
        if ix.count:
            ix.state_at(ix.count - 1)
        ix.db.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=16,
)
MANIFEST = json.loads((SOURCE / "manifest.json").read_text())


@st.composite
def manifests(draw) -> bytes:
    """The recorded manifest with any of its members (or the job's) set to any JSON value,
    or replaced whole, or its text cut or damaged."""
    how = draw(st.sampled_from(["member", "job-member", "whole", "cut", "bytes"]))
    text = json.dumps(MANIFEST).encode()
    if how == "member":
        key = draw(st.sampled_from([*MANIFEST, "extra"]))
        return json.dumps({**MANIFEST, key: draw(json_values)}).encode()
    if how == "job-member":
        key = draw(st.sampled_from([*MANIFEST["job"], "extra"]))
        return json.dumps({**MANIFEST, "job": {**MANIFEST["job"], key: draw(json_values)}}).encode()
    if how == "whole":
        return json.dumps(draw(json_values)).encode()
    if how == "cut":
        return text[:draw(st.integers(0, len(text) - 1))]
    return draw(st.binary(max_size=200))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests())
def test_any_manifest_opens_with_every_record(manifest):
    """The manifest only describes the job: whatever it holds, every record is indexed."""
    want = sum(len(p.read_bytes().splitlines()) for p in STREAMS)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "job"
        shutil.copytree(SOURCE, copy)
        (copy / "manifest.json").write_bytes(manifest)
        ix = open_index(copy)
        assert ix.count == want
        ix.summary()
        ix.state_at(ix.count - 1)
        ix.db.close()
