"""Every input form opens, and bad input costs only itself, with a line in the import report."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
import zipfile

import pytest

from jemgui.models import inputs
from jemgui.models.index import open_index
from jemgui.models.inputs import UnreadableInput, list_jobs
from tests.models.jobs import (
    Stream,
    failing_python,
    monitor,
    shell,
    write_archive,
    write_pack_of_two,
)

N_GOOD = len(monitor().records) + len(shell().records) + len(failing_python().records)


@pytest.fixture()
def archive(tmp_path):
    return write_archive(tmp_path / "job")


def codes(ix) -> dict:
    return dict(ix.report.counts)


def pack_tar(src, dest, mode="w:gz", prefix="out/job4711"):
    with tarfile.open(dest, mode) as tar:
        tar.add(src, arcname=prefix)
    return dest


# -- forms ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix,mode", [(".tar", "w"), (".tar.gz", "w:gz"), (".tgz", "w:gz")])
def test_tarballs_with_the_manifest_at_any_depth(archive, tmp_path, suffix, mode):
    ix = open_index(pack_tar(archive, tmp_path / f"log{suffix}", mode, prefix="a/b/c/job"))
    assert ix.count == N_GOOD and ix.job["id"] == "4711"
    assert ix.failure_pos() is not None


def test_zip(archive, tmp_path):
    z = tmp_path / "job.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in archive.rglob("*"):
            zf.write(p, "deep/" + p.relative_to(archive).as_posix())
    assert open_index(z).count == N_GOOD


def test_several_jobs_are_listed_and_chosen(tmp_path):
    tgz = write_pack_of_two(tmp_path)
    refs = list_jobs(tgz)
    assert sorted(r.label for r in refs) == ["sandbox/jobA", "sandbox/jobB"]
    with pytest.raises(UnreadableInput, match="holds 2 jobs"):
        open_index(tgz)
    assert open_index(tgz, job="sandbox/jobB").job["id"] == "4712"
    assert open_index(tgz, job="jobA").count == N_GOOD


def test_bare_streams_plain_and_gzip(tmp_path):
    s = failing_python()
    plain = tmp_path / "200.jsonl"
    plain.write_text("".join(json.dumps(r) + "\n" for r in s.records))
    gz = tmp_path / "200.jsonl.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    for p in (plain, gz):
        ix = open_index(p)
        assert ix.count == len(s.records)
        assert ix.failure_pos() is not None  # no manifest: no verdict, so an exception counts
        assert "no-manifest" in codes(ix)


def test_second_open_uses_the_cache_even_after_a_copy(archive, tmp_path):
    first = open_index(archive)
    copy = tmp_path / "copy"
    shutil.copytree(archive, copy)
    assert open_index(copy).db_path == first.db_path


def test_not_an_input(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(300))
    with pytest.raises(UnreadableInput):
        open_index(junk)
    with pytest.raises(UnreadableInput, match="no such file"):
        open_index(tmp_path / "missing")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(UnreadableInput, match="no JEM job"):
        open_index(empty_dir)


# -- bad records -----------------------------------------------------------------------------


def write_lines(archive, pid, lines: list[bytes]):
    (archive / "events" / f"{pid}.jsonl").write_bytes(b"".join(lines))


def good_lines(stream: Stream) -> list[bytes]:
    return [json.dumps(r).encode() + b"\n" for r in stream.records]


def test_bad_lines_cost_only_themselves(archive):
    lines = good_lines(failing_python())
    lines.insert(3, b"{not json\n")
    lines.insert(5, b'{"seq": "seven", "ts": 1, "pid": 200, "kind": "line"}\n')
    lines.insert(7, b'[1, 2, 3]\n')
    lines.insert(9, b'{"seq": 4, "ts": 1296564449.96, "pid": 200, "kind": "line"}\n')  # repeat
    lines.insert(11, b'{"seq": 99, "ts": 1296564449.96, "pid": 200, "kind": "teleport", "x": 1}\n')
    lines.insert(12, b"\n")
    write_lines(archive, 200, lines)
    ix = open_index(archive)
    c = codes(ix)
    assert c["bad-json"] == 1 and c["bad-record"] == 2 and c["seq-repeat"] >= 1
    assert c["unknown-kind"] == 1 and c["seq-hole"] >= 1
    # every good record is kept, and the unknown kind too; the records after the jump to 99 fill its hole
    kept = [r for r in ix.iter_records() if r["pid"] == 200]
    assert len(kept) == len(failing_python().records) + 1
    assert any(r["kind"] == "teleport" for r in kept)
    assert next(s for s in ix.streams() if s["pid"] == 200)["holes"] == [[len(failing_python().records), 98]]
    problem = next(p for p in ix.report.problems if p.code == "bad-json")
    assert (problem.file, problem.line) == ("events/200.jsonl", 4)


def test_cut_last_line_of_a_killed_job(archive):
    lines = good_lines(failing_python())[:12]
    lines.append(lines[-1][:25])  # no newline: the job was killed mid-write
    write_lines(archive, 200, lines)
    manifest = json.loads((archive / "manifest.json").read_text())
    manifest["job"].update(ended=None, exit_code=None)
    (archive / "manifest.json").write_text(json.dumps(manifest))
    ix = open_index(archive)
    assert codes(ix)["cut-line"] == 1 and codes(ix)["aborted"] == 1
    s = ix.summary()
    assert s["ended_abruptly"] and any(st["cut_line"] == 13 for st in s["streams"])
    assert "line 13" in " ".join(ix.report.lines())
    assert sum(1 for r in ix.iter_records() if r["pid"] == 200) == 12


def test_seq_holes_are_reported_and_listed(archive):
    lines = good_lines(failing_python())
    del lines[5:8]
    write_lines(archive, 200, lines)
    ix = open_index(archive)
    assert ix.summary()["holes"] == 1
    assert next(s for s in ix.streams() if s["pid"] == 200)["holes"] == [[5, 7]]


def test_non_utf8_bytes_are_repaired_not_dropped(archive):
    lines = good_lines(failing_python())
    lines[-3] = b'{"seq": 23, "ts": 1296564449.99, "pid": 200, "kind": "log", "stream": "stdout", "text": "caf\xe9"}\n'
    write_lines(archive, 200, lines)
    ix = open_index(archive)
    assert codes(ix)["bad-utf8"] == 1
    assert any(r.get("text") == "caf\ufffd" for r in ix.iter_records())


def test_a_100_mb_line_is_skipped_without_holding_it(archive):
    lines = good_lines(failing_python())
    big = b'{"seq": 5, "ts": 1, "pid": 200, "kind": "log", "text": "' + b"x" * (100 * 1024 * 1024) + b'"}\n'
    with open(archive / "events" / "200.jsonl", "wb") as f:
        f.writelines(lines[:5])
        f.write(big)
        f.writelines(lines[5:])
    ix = open_index(archive)
    assert codes(ix)["too-long"] == 1
    assert ix.count == N_GOOD


def test_empty_files_and_missing_parts(tmp_path):
    a = write_archive(tmp_path / "a")
    (a / "events" / "999.jsonl").write_bytes(b"")
    assert open_index(a).count == N_GOOD
    no_events = tmp_path / "b"
    no_events.mkdir()
    (no_events / "manifest.json").write_text(json.dumps({"format": "jem-archive", "version": 1, "job": {"id": "1"}}))
    ix = open_index(no_events)
    assert ix.count == 0 and codes(ix)["no-events"] == 1 and ix.job["id"] == "1"
    no_manifest = write_archive(tmp_path / "c", manifest=False)
    ix = open_index(no_manifest)
    assert ix.count == N_GOOD and codes(ix)["no-manifest"] == 1
    bad_manifest = write_archive(tmp_path / "d")
    (bad_manifest / "manifest.json").write_text("{oops")
    ix = open_index(bad_manifest)
    assert ix.count == N_GOOD and codes(ix)["bad-manifest"] == 1


# -- hostile packs -------------------------------------------------------------------------------


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, **attrs) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in attrs.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data))


def test_members_that_escape_are_skipped(archive, tmp_path):
    tgz = tmp_path / "evil.tgz"
    outside = tmp_path / "outside"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(archive, arcname="job")
        add_bytes(tar, "job/events/../../../outside/pwned.jsonl", b"{}\n")
        add_bytes(tar, "/etc/job/events/1.jsonl", b"{}\n")
        link = tarfile.TarInfo("job/events/7.jsonl")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
        hard = tarfile.TarInfo("job/events/8.jsonl")
        hard.type, hard.linkname = tarfile.LNKTYPE, "job/manifest.json"
        tar.addfile(hard)
    ix = open_index(tgz)
    assert ix.count == N_GOOD
    assert codes(ix)["unsafe-member"] >= 3
    assert not outside.exists()


def test_zip_symlink_and_traversal_members(archive, tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in archive.rglob("*"):
            zf.write(p, "job/" + p.relative_to(archive).as_posix())
        zf.writestr("../escape/events/1.jsonl", b"{}\n")
        info = zipfile.ZipInfo("job/events/9.jsonl")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    ix = open_index(z)
    assert ix.count == N_GOOD and codes(ix)["unsafe-member"] >= 1


def test_compression_bombs_are_capped(archive, tmp_path, monkeypatch):
    monkeypatch.setattr(inputs, "RATIO_FLOOR", 1 << 20)
    monkeypatch.setattr(inputs, "MAX_MEMBER_BYTES", 4 << 20)
    # a gzip stream inside an archive folder
    bomb_line = b'{"seq": 0, "ts": 1, "pid": 7, "kind": "marker", "text": "' + b"A" * 1000 + b'"}\n'
    (archive / "events" / "7.jsonl.gz").write_bytes(gzip.compress(bomb_line * 20000, 9))
    ix = open_index(archive)  # a stream of a folder: left out, the rest opens
    assert ix.count == N_GOOD and codes(ix)["too-large"] == 1
    # a zip member that expands past the ratio cap: the whole pack is refused
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in archive.rglob("*"):
            if p.name != "7.jsonl.gz":
                zf.write(p, "job/" + p.relative_to(archive).as_posix())
        zf.writestr("job/events/8.jsonl", b"\n" * (16 << 20))
    with pytest.raises(UnreadableInput, match="compression bomb"):
        open_index(z)


def test_cut_tarball_keeps_what_was_readable(archive, tmp_path):
    tar_path = pack_tar(archive, tmp_path / "job.tar", "w")
    data = tar_path.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) * 2 // 3])
    try:
        ix = open_index(cut)
    except UnreadableInput as exc:  # cut before any member could be listed: one clear line
        assert "cut.tar" in str(exc)
    else:
        assert ix.report.total >= 1


def test_a_jsonl_export_of_several_processes_reopens_as_the_same_job(archive, tmp_path):
    from jemgui.models.export import export_jsonl

    ix = open_index(archive)
    out = tmp_path / "all.jsonl"
    with open(out, "wb") as f:
        export_jsonl(ix, f)
    text = out.read_text()
    out.write_text(text + "not json either\n")
    again = open_index(out)
    assert [(r["pid"], r["seq"]) for r in again.iter_records()] == [(r["pid"], r["seq"]) for r in ix.iter_records()]
    assert {k: v for k, v in codes(again).items() if k != "no-manifest"} == {"bad-json": 1}
    assert again.failure_pos() == ix.failure_pos()
