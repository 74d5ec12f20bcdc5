"""The metrics plot: read-out, the selected frame's lifetime, marks, series, zoom that keeps data."""

from __future__ import annotations

import re

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from jemgui.app import wait_for_queries
from jemgui.views.metrics_plot import MetricsPlot

RAISE = 23


def test_readout_prints_date_time_ms_and_value():
    assert MetricsPlot.readout_text(1296564449.952, -0.0174) == "X: 01.02.2011 12:47:29.952 Y: -0.017"


def test_hovering_the_plot_shows_the_crosshair_readout(qtbot, window):
    plot, ix = window.metrics, window.inspection.index
    pt = plot.widget.mapFromScene(plot.left.mapViewToScene(QPointF(ix.time_at(18), 2.5)))
    qtbot.mouseMove(plot.widget.viewport(), pt)
    qtbot.waitUntil(lambda: plot.readout.text().startswith("X: "))
    assert re.fullmatch(r"X: \d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d\.\d{3} Y: -?\d+\.\d{3}", plot.readout.text())
    assert plot.vcross.isVisible()


def test_selected_frame_lifetime_is_shaded(window):
    cur, plot, ix = window.inspection.cursor, window.metrics, window.inspection.index
    cur.seek(RAISE)
    cur.select_frame(cur.stack[1].frame_id)                 # main
    lo, hi = plot.region.getRegion()
    frame = cur.frame
    assert plot.region.isVisible()
    assert (lo, hi) == (ix.time_at(frame.start_pos), ix.time_at(frame.end_pos))


def test_exception_marks_arrive_and_seek_when_clicked(qtbot, window):
    wait_for_queries(QApplication.instance(), window)
    plot = window.metrics
    qtbot.waitUntil(lambda: plot.exceptions is not None)
    points = plot.exceptions.points()
    assert [int(p.data()) for p in points] == [RAISE]
    window.inspection.cursor.seek(0)
    plot.exceptions.sigClicked.emit(plot.exceptions, points, None)
    assert window.inspection.cursor.pos == RAISE


def test_marks_name_their_record_as_pid_seq(qtbot, window):
    """The plot's tooltips name records as inspect --record takes them, not by position."""
    wait_for_queries(QApplication.instance(), window)
    ix, plot = window.inspection.index, window.metrics
    qtbot.waitUntil(lambda: plot.exceptions is not None)
    rec = ix.record(RAISE)
    assert plot._record_name(RAISE) == f"{rec['pid']}:{rec['seq']}"
    states = [m for m in ix.marks() if m[2] == "state"]
    assert states, "the test job has state records"
    pos = states[0][0]
    state = ix.record(pos)
    tips = [item.toolTip() for item in plot.marks_box.allChildren()]
    assert f"(record {state['pid']}:{state['seq']})" in " ".join(tips)


def test_series_can_be_switched_on_and_off(window):
    plot = window.metrics
    assert set(plot.curves) == {"load1", "rss"}
    actions = {a.text(): a for a in plot.series_button.menu().actions()}
    actions["mem_avail"].setChecked(True)
    assert "mem_avail" in plot.curves and "MiB" in plot.item.getAxis("right").labelText
    actions["load1"].setChecked(False)
    assert "load1" not in plot.curves and plot.item.getAxis("left").labelText == ""


def test_curves_are_downsampled_and_clipped(window):
    for curve in window.metrics.curves.values():
        assert curve.opts["autoDownsample"] and curve.opts["clipToView"]
        assert curve.opts["downsampleMethod"] == "peak"


def test_cursor_off_screen_pans_the_view(window):
    cur, plot, ix = window.inspection.cursor, window.metrics, window.inspection.index
    t_end = ix.time_at(ix.count - 1)
    plot.left.setXRange(ix.time_at(0), ix.time_at(5), padding=0)
    cur.seek(ix.count - 1)
    (x0, x1), _ = plot.left.viewRange()
    assert x0 <= t_end <= x1


def test_axes_show_the_values_themselves(window):
    """A load between 0.59 and 0.65 reads so on the axis, not as 590..650 "(x0.001)"."""
    plot = window.metrics
    plot.left.disableAutoRange()
    plot.left.setYRange(0.59, 0.65, padding=0)
    QApplication.processEvents()
    axis = plot.item.getAxis("left")
    assert axis.autoSIPrefixScale == 1.0 and "x0.001" not in axis.labelString()
    assert plot.item.getAxis("right").autoSIPrefixScale == 1.0


def test_a_short_job_gets_readable_time_ticks(qapp):
    """Under a minute the ticks are 1, 2 or 5 x 10^n s apart, with room for their labels
    (DateAxisItem's levels put a 2.5 s job's ticks 1 ms apart: no label could show)."""
    from PySide6.QtGui import QFontMetrics

    from jemgui.views.metrics_plot import ClockAxis

    axis = ClockAxis()
    lo, hi = 1795445467.99, 1795445470.45
    levels = [(spacing, [v for v in values if lo <= v <= hi]) for spacing, values in axis.tickValues(lo, hi, 480)]
    spacing, values = levels[0]
    assert 0.1 <= spacing <= 1 and len(values) >= 2
    assert axis.tickStrings(values, 1, spacing)[0].count(":") == 2
    assert axis.height() >= QFontMetrics(axis.font()).height()
