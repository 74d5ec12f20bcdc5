"""Speed of the inspector window on a large archive (issue 4, "Speed").

    python -m benchmarks.window [--records 1000000] [--workdir DIR] [--moves 300]

Drives the real window offscreen on a synthetic archive (`benchmarks.synth`,
written once and indexed once into the work folder's cache) and prints:

- launch to usable, cached archive: a new process runs `jemgui ARCHIVE` the
  way a user does (background opening included) and reports when every panel
  shows the job and is painted; measured from the moment the process is
  started, split into imports and the window's own work;
- per cursor move, the time until every view has updated and repainted
  (the move, then the event loop until it is idle): p50 and p95 for steps
  (into/over/out, forwards and backwards), random seeks, and slider drags
  (each drag step is one slider value change; drags are coalesced, so the
  figure is the cost of one frame of dragging).

Beside each, floors measured in the same run: a new process that imports the same
toolkit (PySide6, pyqtgraph, numpy) and shows a bare window holding one empty plot;
in the inspector's window, a repaint of every panel with nothing changed (a random
seek changes every panel, so it repaints at least that much); and a "stock twin" of
the window: the same layout and size, each panel a stock widget (QPlainTextEdit,
QStandardItemModel in a QTableView, QTreeWidget, a bare pyqtgraph plot) holding the
same text, repainted whole: what the toolkit itself needs to redraw that much here.

Goals: usable within 1 s; p95 under 16 ms per move.
"""

from __future__ import annotations

import argparse
import compileall
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOALS = {"usable_s": 1.0, "p95_ms": 16.0}


def _archive(workdir: Path, n: int) -> Path:
    from benchmarks.synth import write_archive

    path = workdir / f"synth-{n}"
    if not (path / ".complete").exists():
        print(f"writing a synthetic archive of {n:,} records to {path} ...", flush=True)
        write_archive(path, n)
        (path / ".complete").write_text("")
    return path


def _percentiles(ms: list[float]) -> tuple[float, float, float]:
    ms = sorted(ms)
    p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    return p(0.50), p(0.95), ms[-1]


# -- the child: one launch, as a user starts the window ------------------------------


def child_launch(archive: str) -> None:
    """Start the window on `archive`, print the seconds until it is usable, exit."""
    t_code = time.perf_counter()
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings

    from jemgui.app import dispose, make_app, settle
    from jemgui.views.main_window import MainWindow

    t_imported = time.perf_counter()
    app = make_app()
    settings = QSettings(str(Path(os.environ["JEMGUI_CACHE_DIR"]) / "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.resize(1600, 1000)
    window.show()
    window.open_path(archive)
    while window.inspection is None:
        app.processEvents()
        if window.banner.isVisible():
            raise SystemExit(window.banner.text())
        time.sleep(0.001)
    settle(app)
    t_usable = time.perf_counter()
    print(f"USABLE {time.time():.6f} {t_imported - t_code:.6f} {t_usable - t_imported:.6f}", flush=True)
    dispose(app, window)


def child_floor() -> None:
    """The toolkit's own launch: the same imports and a bare window with one empty plot, shown."""
    t_code = time.perf_counter()
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import pyqtgraph as pg
    from PySide6.QtWidgets import QMainWindow

    from jemgui.app import dispose, make_app, settle

    t_imported = time.perf_counter()
    app = make_app()
    window = QMainWindow()
    window.setCentralWidget(pg.PlotWidget())
    window.resize(1600, 1000)
    window.show()
    settle(app)
    t_usable = time.perf_counter()
    print(f"USABLE {time.time():.6f} {t_imported - t_code:.6f} {t_usable - t_imported:.6f}", flush=True)
    dispose(app, window)


def launch(archive: Path | None, env: dict) -> tuple[float, float, float]:
    """(seconds from process start to usable, of which imports, and the window); the
    toolkit's floor when `archive` is None."""
    t0 = time.time()
    child = ["--child-launch", str(archive)] if archive else ["--child-floor"]
    out = subprocess.run([sys.executable, "-m", "benchmarks.window", *child],
                         capture_output=True, text=True, env=env, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("USABLE"))
    _, wall, imports, window = line.split()
    return float(wall) - t0, float(imports), float(window)


# -- the toolkit's repaint floor: the same panels as stock widgets ---------------------


def stock_twin(window):
    """A window of stock widgets laid out like `window` (same size, same docks) and showing the same
    text: the file in a plain QPlainTextEdit, the visible event rows in a QStandardItemModel, the
    stack and locals in QTreeWidgets, the plotted series in a bare pyqtgraph plot, the same toolbar.
    Repainting it is what the toolkit itself needs to redraw that much on this machine."""
    import pyqtgraph as pg
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QStandardItem, QStandardItemModel
    from PySide6.QtWidgets import (
        QDockWidget,
        QMainWindow,
        QPlainTextEdit,
        QTableView,
        QTreeWidget,
        QTreeWidgetItem,
    )

    twin = QMainWindow()
    editor = window.source.editor
    src = QPlainTextEdit(editor.toPlainText())
    src.setFont(editor.font())
    src.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    twin.setCentralWidget(src)

    table, model = window.events.table, window.events.model
    first = max(0, table.rowAt(0))
    row_height = max(1, table.verticalHeader().defaultSectionSize())
    rows = range(first, min(model.rowCount(), first + table.viewport().height() // row_height + 2))
    stock = QStandardItemModel(model.rowCount(), model.columnCount())
    stock.setHorizontalHeaderLabels([model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())])
    for r in rows:
        for c in range(model.columnCount()):
            stock.setItem(r, c, QStandardItem(str(model.data(model.index(r, c)) or "")))
    stock_table = QTableView()
    stock_table.setModel(stock)
    stock_table.verticalHeader().setDefaultSectionSize(row_height)
    stock_table.scrollTo(stock.index(first, 0), QTableView.ScrollHint.PositionAtTop)

    def tree_copy(tree):
        copy = QTreeWidget()
        copy.setHeaderLabels([tree.headerItem().text(c) for c in range(tree.columnCount())])
        for i in range(tree.topLevelItemCount()):
            item = tree.topLevelItem(i)
            QTreeWidgetItem(copy, [item.text(c) for c in range(tree.columnCount())])
        return copy

    plot = pg.PlotWidget(background="w")
    for curve in window.metrics.curves.values():
        plot.plot(*curve.getData())
    panels = {"metrics": plot, "stack": tree_copy(window.stack_view.tree),
              "locals": tree_copy(window.locals_view.locals), "events": stock_table,
              "history": tree_copy(window.locals_view.returned)}
    for name, widget in panels.items():
        dock = QDockWidget(window.docks[name].windowTitle(), twin)
        dock.setObjectName(name)
        dock.setWidget(widget)
        twin.addDockWidget(window.dockWidgetArea(window.docks[name]), dock)
    bar = twin.addToolBar("Transport")
    bar.setObjectName("transport")
    bar.addActions(window.toolbar.actions())
    twin.statusBar().showMessage(window.statusBar().currentMessage() or "ready")
    twin.resize(window.size())
    twin.restoreState(window.saveState())
    twin.show()
    return twin


# -- cursor moves, in this process -----------------------------------------------------


def measure_moves(archive: Path, moves: int) -> dict[str, list[float]]:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QWidget

    from jemgui.app import dispose, make_app, open_now, settle
    from jemgui.views.main_window import MainWindow

    app = make_app()
    settings = QSettings(str(Path(os.environ["JEMGUI_CACHE_DIR"]) / "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.resize(1600, 1000)
    window.show()
    open_now(window, archive, where="start")
    settle(app, 20)
    cur, ix, tr = window.inspection.cursor, window.inspection.index, window.transport
    slider = window.transport_bar.slider
    rng = random.Random(4)

    def repaint_all(win) -> None:
        for widget in [win, *win.findChildren(QWidget)]:
            widget.update()
        app.processEvents()

    updated: list[float] = []
    cpu: dict[str, list[float]] = {"step": [], "seek": [], "drag": []}
    phase = ["warm"]

    def timed(fn) -> float:
        """Milliseconds until every view is updated and repainted; `updated` gets the first half,
        `cpu` the process's CPU time for the whole move (what other jobs on the machine cannot inflate)."""
        t, c = time.perf_counter(), time.thread_time()
        fn()
        updated.append((time.perf_counter() - t) * 1000)
        app.processEvents()
        if phase[0] in cpu:
            cpu[phase[0]].append((time.thread_time() - c) * 1000)
        return (time.perf_counter() - t) * 1000

    # warm the caches the way a user's first minute would (fonts, pages, sources)
    for _ in range(20):
        timed(lambda: cur.seek(rng.randrange(ix.count)))
    out: dict[str, list[float]] = {"step": [], "seek": [], "drag": [], "floor": [], "stock": []}
    for _ in range(moves // 3):
        out["floor"].append(timed(lambda: repaint_all(window)))
    updated.clear()
    phase[0] = "step"
    cur.seek(ix.count // 2)
    names = ["into", "over", "out", "back_into", "back_over", "back_out"]
    for i in range(moves):
        name = names[i % len(names)] if i % 12 < 6 else rng.choice(names)
        out["step"].append(timed(lambda n=name: tr.move(n)))
        if cur.frame is None or rng.random() < 0.05:   # left the traced code: somewhere else
            cur.seek(rng.randrange(ix.count))
            app.processEvents()
    phase[0] = "seek"
    for _ in range(moves):
        out["seek"].append(timed(lambda: cur.seek(rng.randrange(ix.count))))
    # a drag: the slider moves ~0.2 % of the job per mouse event, for several sweeps
    pos = rng.randrange(ix.count)
    step = max(1, ix.count // 500)
    slider.setSliderDown(True)
    phase[0] = "drag"
    for i in range(moves):
        pos = (pos + (step if (i // 100) % 2 == 0 else -step)) % ix.count
        out["drag"].append(timed(lambda p=pos: slider.setValue(p)))
    slider.setSliderDown(False)
    assert cur.pos == slider.value(), "the drag fell behind the slider"
    twin = stock_twin(window)
    settle(app, 20)
    phase[0] = "stock"
    for _ in range(moves // 3):
        out["stock"].append(timed(lambda: repaint_all(twin)))
    dispose(app, twin)
    dispose(app, window)
    n = moves
    out["step (views)"], out["seek (views)"] = updated[:n], updated[n:2 * n]
    for name, values in cpu.items():
        out[f"{name} (cpu)"] = values
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "jemgui-bench"))
    parser.add_argument("--moves", type=int, default=300)
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--child-launch", metavar="ARCHIVE", help=argparse.SUPPRESS)
    parser.add_argument("--child-floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_launch:
        child_launch(args.child_launch)
        return
    if args.child_floor:
        child_floor()
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    archive = _archive(workdir, args.records)
    cache = workdir / f"cache-window-{args.records}"
    os.environ["JEMGUI_CACHE_DIR"] = str(cache)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    from jemgui.models.index import open_index

    t = time.perf_counter()
    ix = open_index(archive)
    print(f"archive: {ix.count:,} records, {len(ix.threads())} threads (indexed or found in cache in "
          f"{time.perf_counter() - t:.1f} s)")
    ix.close()

    # an installed package carries its bytecode; a clone run with PYTHONDONTWRITEBYTECODE
    # (as on this machine) would otherwise compile every module of its own on each launch
    for package in ("jemgui", "benchmarks"):
        compileall.compile_dir(Path(__file__).resolve().parents[1] / package, quiet=1)
    launches, floors = [], []
    for _ in range(args.launches):   # interleaved, so load changes hit both alike
        launches.append(launch(archive, env))
        floors.append(launch(None, env))
    wall, imports, window = (statistics.median(x[i] for x in launches) for i in range(3))
    floor_wall, floor_imports = (statistics.median(x[i] for x in floors) for i in range(2))
    print(f"launch to usable (cached), median of {len(launches)}:")
    print(f"  from process start   {wall:7.3f} s    goal < {GOALS['usable_s']} s  "
          f"({wall / floor_wall:.2f}x the toolkit's floor)")
    print(f"    of which imports   {imports:7.3f} s    (PySide6, numpy, pyqtgraph, the engine)")
    print(f"    and the window     {window:7.3f} s    (open the cached index, build, lay out, paint)")
    print(f"  floor: a bare window with one empty plot, same imports: {floor_wall:.3f} s "
          f"(imports {floor_imports:.3f} s)")
    moves = measure_moves(archive, args.moves)
    print(f"time per cursor move, {args.moves} moves each; 'views' = the cursor moved and every view holds"
          " the new state, 'repainted' = and the window is painted (wall time, and the GUI thread's CPU time,"
          f" which the machine's other load does not inflate; load average now {os.getloadavg()[0]:.1f}):")
    floor_p50 = _percentiles(moves["floor"])[0]
    for name, label in (("stock", "stock twin: repaint all"), ("floor", "floor: repaint every panel"), ("step (views)", "step, views updated"), ("step", "step, repainted"),
                        ("step (cpu)", "step, repainted, CPU time"),
                        ("seek (views)", "random seek, views updated"), ("seek", "random seek, repainted"),
                        ("seek (cpu)", "random seek, repainted, CPU"),
                        ("drag", "slider drag, repainted"), ("drag (cpu)", "slider drag, repainted, CPU")):
        p50, p95, worst = _percentiles(moves[name])
        verdict = "ok" if p95 < GOALS["p95_ms"] else "OVER"
        print(f"  {label:29s} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   max {worst:6.1f} ms   "
              f"goal p95 < {GOALS['p95_ms']:.0f} ms  {verdict:4s}  p50 {p50 / floor_p50:4.2f}x the floor")


if __name__ == "__main__":
    main()
