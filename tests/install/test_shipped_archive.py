"""The demo archive shipped with jemgui names no path of the machine it was recorded on, and is the
demo job at its failure (scripts/record_demo_archive.sh records it)."""

import re
from collections import Counter

from jemgui.models.index import open_index
from jemgui.resources import resource_path

ARCHIVE = resource_path("demo", "archive")
#: where the recording ran (its job folder, the job's scratch folder) and the system's own programs
ALLOWED = re.compile(r"^(/tmp/jem-demo(/.*)?|/tmp|/tmp/reco\.\w{6}(/.*)?|/usr/bin/\w[\w.]*|/dev/null)$")
PATH = re.compile(r"""(?:(?<=["\s='(])|^)(/[A-Za-z][^"\s,)'\\]*)""")


def test_every_path_in_the_shipped_archive_is_a_neutral_one():
    paths = Counter(m.group(1) for f in ARCHIVE.rglob("*") if f.is_file()
                    for m in PATH.finditer(f.read_text()))
    assert sum(n for p, n in paths.items() if p.startswith("/tmp/jem-demo/")) > 1000  # the finder finds
    assert sorted(p for p in paths if not ALLOWED.match(p)) == []


def test_the_shipped_archive_is_the_demo_job_at_its_failure():
    ix = open_index(ARCHIVE)
    assert ix.job["exit_code"] == 1 and ix.job["cwd"] == "/tmp/jem-demo"
    raised = {ix.record(int(p))["type"] for p in ix.find(kinds=["exception"], text="CalibrationError")}
    assert raised == {"__main__.CalibrationError"}
