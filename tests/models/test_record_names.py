"""One grammar: every output that names a record names it `PID:SEQ`, and `inspect --record` takes it."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys

import pytest

from jemgui.models.export import export_chrome, export_csv
from jemgui.models.index import open_index
from tests.models.jobs import write_archive


def jemgui(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jemgui", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return write_archive(tmp_path_factory.mktemp("names") / "job")


def inspected(archive, name: str) -> dict:
    r = jemgui("inspect", archive, "--record", name, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["record"]


def test_summary_text_and_json_name_the_failure_as_pid_seq(archive):
    text = jemgui("summary", archive).stdout
    named = re.search(r"\(record (\d+:\d+)\)", text).group(1)
    rec = inspected(archive, named)
    assert (rec["kind"], rec["type"], rec["func"]) == ("exception", "KeyError", "g")
    assert json.loads(jemgui("summary", archive, "--json").stdout)["failure"]["record"] == named


def test_csv_and_chrome_exports_name_records_as_inspect_takes_them(archive):
    ix = open_index(archive)
    out = io.BytesIO()
    export_csv(ix, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    raise_row = next(r for r in rows if r["kind"] == "exception" and r["func"] == "g")
    assert inspected(archive, raise_row["record"])["ts"] == ix.record(int(raise_row["position"]))["ts"]
    out = io.BytesIO()
    export_chrome(ix, out)
    events = json.loads(out.getvalue())["traceEvents"]
    raised = next(e for e in events if e["ph"] == "i" and e["cat"] == "exception" and e["args"]["func"] == "g")
    assert raised["args"]["record"] == raise_row["record"]
    g = next(e for e in events if e["ph"] == "X" and e["name"].startswith("g "))
    assert inspected(archive, g["args"]["record"])["kind"] == "call"
    ix.close()


def test_inspect_text_names_its_record_the_same_way(archive):
    out = jemgui("inspect", archive, "--record", "200:9").stdout
    assert "(record 200:9)" in out.splitlines()[0]
