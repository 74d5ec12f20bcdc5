"""The Jobs view on a real corpus: groups, the sites' table, the outliers, filters, every site's
timeline, a click on a bar, and a double-click that opens the job in the inspector at its failure."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, Qt

from jemgui.views.jobs_view import JobsWindow
from tests.triage.corpus import CLUSTER_HOURS, CLUSTER_SITE, KINDS, T_START, make_corpus


def test_usable_while_reading(qtbot, tmp_path):
    """The first batches are in the table and the groups while the rest is still being read."""
    make_corpus(tmp_path / "corpus", n=40, seed=4)
    w = JobsWindow([str(tmp_path / "corpus")], workers=1)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.view.model.rowCount() > 0,
                    timeout=120_000)
    seen, total = w.view.model.rowCount(), w.progress.maximum()
    was_finished = w.finished
    qtbot.waitUntil(lambda: w.finished, timeout=240_000)
    assert not was_finished and 0 < seen < total == 40 == w.view.model.rowCount()
    assert w.progress.value() == total


@pytest.fixture
def window(qtbot, tmp_path):
    planted = make_corpus(tmp_path / "corpus", n=48, seed=3, more_sites=6)  # 10 sites
    w = JobsWindow([str(tmp_path / "corpus")], workers=1)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitUntil(lambda: w.finished, timeout=240_000)
    yield w, {p.panda_id: p for p in planted}
    if w.inspector is not None:
        w.inspector.cancel_open()
        w.inspector.opener.wait(10)
        w.inspector.close()


def _shown(w) -> list[dict]:
    proxy = w.view.proxy
    return [proxy.sourceModel().facts[proxy.mapToSource(proxy.index(r, 0)).row()] for r in range(proxy.rowCount())]


def test_groups_and_filters(window):
    w, planted = window
    view = w.view
    assert view.model.rowCount() == len(planted)
    tree = view.groups
    assert tree.topLevelItemCount() == len(view.result["groups"]) > 1
    for i in range(tree.topLevelItemCount()):
        tree.setCurrentItem(tree.topLevelItem(i))
        g = view.result["groups"][i]
        assert sorted(f["id"] for f in _shown(w)) == sorted(g["jobs"])
    view.show_all()
    view.cls.setCurrentText("site")
    assert {f["class"] for f in _shown(w)} == {"site"}
    view.cls.setCurrentText("all")
    view.text.setText(CLUSTER_SITE)
    assert {f["site"] for f in _shown(w)} == {CLUSTER_SITE}


def test_click_on_a_bar_shows_its_jobs(window, qtbot):
    w, planted = window
    plot = w.view.timeline
    hour = T_START + CLUSTER_HOURS[0] * 3600
    scene = plot.getPlotItem().vb.mapViewToScene(QPointF(hour + 1800, plot.band(CLUSTER_SITE) + 0.3))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=plot.mapFromScene(scene))
    shown = _shown(w)
    expected = [i for i, x in planted.items() if x.site == CLUSTER_SITE and hour <= x.ended < hour + 3600]
    assert sorted(f["id"] for f in shown) == sorted(expected) and expected


def test_double_click_opens_the_job_at_its_failure(window, qtbot):
    w, planted = window
    view = w.view
    view.text.setText("selection.py")  # the task bug: a Python exception in the user's code
    assert view.proxy.rowCount() > 0
    index = view.proxy.index(0, 0)
    fact = _shown(w)[0]
    view.table.doubleClicked.emit(index)
    qtbot.waitUntil(lambda: w.inspector is not None and w.inspector.inspection is not None
                    and w.inspector.inspection.index.complete, timeout=60_000)
    ins = w.inspector.inspection
    assert ins.path == fact["path"]
    failure = ins.index.failure_pos()
    assert failure is not None
    qtbot.waitUntil(lambda: ins.cursor.pos == failure, timeout=10_000)
    rec = ins.index.record(failure)
    assert rec["kind"] == "exception" and rec["type"] == "KeyError"


def test_double_click_on_a_site_failure_opens_at_the_line_that_shows_it(window, qtbot):
    w, _ = window
    view = w.view
    view.text.setText("SIGTERM")
    fact = _shown(w)[0]
    view.table.doubleClicked.emit(view.proxy.index(0, 0))
    qtbot.waitUntil(lambda: w.inspector is not None and w.inspector.inspection is not None
                    and w.inspector.inspection.path == fact["path"], timeout=60_000)
    ins = w.inspector.inspection
    qtbot.waitUntil(lambda: ins.cursor.pos not in (None, 0), timeout=10_000)
    rec = ins.index.record(ins.cursor.pos)
    assert rec["kind"] == "log" and "caught signal: SIGTERM" in rec["text"]


def _column(table, col: int) -> list[str]:
    return [table.item(r, col).text() for r in range(table.rowCount())]


def test_sites_tab_is_the_per_site_table(window):
    w, planted = window
    view = w.view
    rows = view.result["sites"]
    assert len(rows) == len({p.site for p in planted.values()}) == 10
    assert view.sites.rowCount() == len(rows)
    by_site = {view.sites.item(r, 0).text(): [view.sites.item(r, c).text() for c in range(1, 5)]
               for r in range(view.sites.rowCount())}
    for row in rows:
        mine = [p for p in planted.values() if p.site == row["site"]]
        assert by_site[row["site"]] == [str(len(mine)), str(sum(1 for p in mine if KINDS.get(p.kind))),
                                        str(sum(1 for p in mine if KINDS.get(p.kind) == "site")),
                                        str(sum(1 for p in mine if KINDS.get(p.kind) == "task"))]
    r = _column(view.sites, 0).index("SMALL04_SITE")
    view.sites.setCurrentCell(r, 0)
    assert sorted(f["id"] for f in _shown(w)) == sorted(i for i, p in planted.items() if p.site == "SMALL04_SITE")


def test_outliers_tab_shows_each_outlier_and_its_job(window):
    w, planted = window
    view = w.view
    outliers = view.result["outliers"]
    planted_outlier = next(i for i, p in planted.items() if p.kind == "outlier")
    assert view.outliers.rowCount() == len(outliers) > 0
    assert sorted(_column(view.outliers, 1)) == sorted(o["job"] for o in outliers)
    r = _column(view.outliers, 1).index(planted_outlier)
    assert view.outliers.item(r, 3).text() == "peak memory"
    assert view.outliers.item(r, 6).text().endswith("× above")
    view.outliers.setCurrentCell(r, 0)
    assert [f["id"] for f in _shown(w)] == [planted_outlier]


def test_every_site_has_its_timeline_and_the_user_picks_which(window, qtbot):
    """Ten sites: all are plotted (the plots scroll); unticking one hides it, choosing it in the
    Sites tab brings it back."""
    w, planted = window
    panel = w.view.timeline_panel
    sites = {p.site for p in planted.values()}
    assert panel.picker.count() == len(sites) == 10
    assert set(w.view.timeline.sites) == sites
    assert panel.plot.minimumHeight() > panel.scroll.viewport().height()  # it scrolls, no site squeezed out
    def item():
        return next(panel.picker.item(i) for i in range(panel.picker.count())
                    if panel.picker.item(i).data(Qt.ItemDataRole.UserRole) == "DESY-HH_UCORE")

    item().setCheckState(Qt.CheckState.Unchecked)
    assert set(w.view.timeline.sites) == sites - {"DESY-HH_UCORE"}
    w.view.rebuild()  # a rebuild as more jobs come keeps the choice
    assert "DESY-HH_UCORE" not in set(w.view.timeline.sites)
    w.view.tabs.setCurrentIndex(1)
    w.view.sites.setCurrentCell(_column(w.view.sites, 0).index("DESY-HH_UCORE"), 0)
    assert set(w.view.timeline.sites) == sites
    assert item().checkState() == Qt.CheckState.Checked
