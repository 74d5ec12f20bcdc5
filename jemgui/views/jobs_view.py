"""The Jobs view: many jobs' triage in a window (`jemgui triage PATH --window`, File ▸ Open many…).

Failure groups as a tree (a group's sites below it), the per-site table and the
outliers within a task as tabs beside it, the jobs as a table with filters, and
failures per hour per site as bars (every site listed, ticked ones plotted, the
plots scrolling); clicking a group, a site, an outlier or a bar filters the table, and double-clicking a job opens it in the inspector at
its failure. The facts come in from a background thread (the process pool or
Dask of `jemgui.models.triage.run`) batch by batch: the view is usable, and
grows, while the rest of the corpus is read.
"""

from __future__ import annotations

import threading
import time

import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from jemgui.models.text import printable
from jemgui.models.triage import report
from jemgui.models.triage.run import expand, iter_facts

COLORS = {"site": "#e53935", "task": "#1e88e5", "unclear": "#9e9e9e", None: "#43a047"}
#: (header, fact key) of the table's columns
COLUMNS = [("Job", "id"), ("Site", "site"), ("Host", "host"), ("Class", "class"), ("Failure", "signature"),
           ("Exit", "exit_code"), ("Pilot error", "pilot_error"), ("Ended (UTC)", "ended"),
           ("Duration", "duration"), ("Peak memory", "peak_memory"), ("Task", "task")]
#: height of one site's band of bars; the timeline scrolls when the chosen sites need more
PLOT_ROW_HEIGHT = 44
SITE_COLUMNS = [("Site", "site"), ("Jobs", "jobs"), ("Failed", "failed"), ("Site problems", "site_problems"),
                ("Task problems", "task_problems"), ("Unclear", "unclear")]
OUTLIER_COLUMNS = ["Task", "Job", "Site", "Metric", "Value", "Task median", "Factor"]
METRIC_NAMES = {"peak_memory": "peak memory", "duration": "duration", "cpu_efficiency": "CPU efficiency"}


def _cell(f: dict, key: str) -> str:
    v = f.get(key)
    if v is None:
        return "ok" if key == "class" and f.get("outcome") == "ok" else ("" if key != "signature" else
                                                                          f.get("error") or "")
    if key == "pilot_error":
        return f"{v.get('code')} {v.get('name') or ''}".strip()
    if key == "ended":
        return time.strftime("%Y-%m-%d %H:%M", time.gmtime(v))
    if key == "duration":
        return f"{int(v) // 3600}:{int(v) % 3600 // 60:02d}:{int(v) % 60:02d}"
    if key == "peak_memory":
        return f"{v / 2**30:.2f} GiB"
    return str(v)


def _metric(metric: str, v: float) -> str:
    if metric == "peak_memory":
        return f"{v / 2**30:.2f} GiB"
    if metric == "duration":
        return _cell({"duration": v}, "duration")
    return f"{v:.2f}"


class _SortItem(QTableWidgetItem):
    """A cell that sorts by its number (UserRole) when it has one."""

    def __lt__(self, other) -> bool:  # Qt override
        a, b = self.data(Qt.ItemDataRole.UserRole), other.data(Qt.ItemDataRole.UserRole)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        return self.text() < other.text()


def _item(value, sort=None) -> QTableWidgetItem:
    item = _SortItem(printable(str(value)))
    item.setData(Qt.ItemDataRole.UserRole, value if sort is None else sort)
    if isinstance(value, (int, float)) or sort is not None:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _table(headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    t.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
    t.verticalHeader().setVisible(False)
    t.verticalHeader().setDefaultSectionSize(22)
    t.horizontalHeader().setStretchLastSection(True)
    return t


class JobsModel(QAbstractTableModel):
    """The jobs' facts, one row each, appended as batches arrive."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.facts: list[dict] = []

    def add(self, facts: list[dict]) -> None:
        if not facts:
            return
        n = len(self.facts)
        self.beginInsertRows(QModelIndex(), n, n + len(facts) - 1)
        self.facts += facts
        self.endInsertRows()

    def rowCount(self, parent=None) -> int:  # Qt override
        return 0 if parent is not None and parent.isValid() else len(self.facts)

    def columnCount(self, parent=None) -> int:  # Qt override
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # Qt override
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][0]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):  # Qt override
        f = self.facts[index.row()]
        key = COLUMNS[index.column()][1]
        if role == Qt.ItemDataRole.DisplayRole:
            return _cell(f, key)
        if role == Qt.ItemDataRole.UserRole:  # sorting: numbers as numbers
            v = f.get(key)
            return v if isinstance(v, (int, float)) else _cell(f, key)
        if role == Qt.ItemDataRole.ForegroundRole and key == "class":
            return QBrush(QColor(COLORS.get(f.get("class"), "#000")))
        if role == Qt.ItemDataRole.ToolTipRole:
            return printable(f.get("headline") or f.get("error") or f.get("path"))
        return None


class JobsFilter(QSortFilterProxyModel):
    """Shows the jobs of a group, a site, an hour, a class and a text, all at once."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.signature: str | None = None
        self.site: str | None = None
        self.hour: int | None = None  #: epoch s of the hour's start
        self.job: tuple[str, str] | None = None  #: (path, name) of one job (an outlier's)
        self.cls = "all"
        self.text = ""
        self.setSortRole(Qt.ItemDataRole.UserRole)

    def set(self, **what) -> None:
        for k, v in what.items():
            setattr(self, k, v)
        self.invalidateRowsFilter()

    def filterAcceptsRow(self, row: int, parent) -> bool:  # Qt override
        f = self.sourceModel().facts[row]
        if self.signature is not None and f.get("signature") != self.signature:
            return False
        if self.site is not None and (f.get("site") or "?") != self.site:
            return False
        if self.job is not None and (f.get("path"), report.job_name(f)) != self.job:
            return False
        if self.hour is not None and not (isinstance(f.get("ended"), (int, float))
                                          and self.hour <= f["ended"] < self.hour + 3600):
            return False
        if self.cls != "all" and (f.get("class") or ("ok" if f.get("outcome") == "ok" else f.get("outcome"))) != self.cls:
            return False
        if self.text:
            hay = " ".join(str(f.get(k) or "") for k in ("id", "site", "host", "signature", "headline", "path"))
            return self.text.lower() in hay.lower()
        return True


class TimelinePlot(pg.PlotWidget):
    """Failures per hour, one band of bars per site (site, task, unclear stacked, each band scaled
    to its own busiest hour, named with it), all in one plot so that hundreds of sites draw at
    once; a click on a bar emits the site and the hour."""

    bar_clicked = Signal(str, int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, background="w",
                         axisItems={"bottom": pg.DateAxisItem(utcOffset=0), "top": pg.DateAxisItem(utcOffset=0)})
        p = self.getPlotItem()
        p.setMenuEnabled(False)
        p.setMouseEnabled(x=True, y=False)
        p.hideButtons()
        p.showAxis("top")
        p.getAxis("left").setWidth(190)
        self.sites: list[str] = []  #: the sites drawn, top band first
        self.rows: dict[str, list[dict]] = {}
        self.scene().sigMouseClicked.connect(self._clicked)

    def band(self, site: str) -> float:
        """The bottom of `site`'s band in the plot's y (the first site is on top)."""
        return float(len(self.sites) - 1 - self.sites.index(site))

    def show_timeline(self, timeline: dict[str, list[dict]], sites: list[str]) -> None:
        """One band for each of `sites` (in that order, top down), all on the same hours."""
        p = self.getPlotItem()
        p.clear()
        self.sites = [s for s in sites if s in timeline]
        self.rows = {s: timeline[s] for s in self.sites}
        n = len(self.sites)
        bars = {cls: ([], [], []) for cls in ("site", "task", "unclear")}  #: x, height, y0
        ticks, shade = [], []
        for site in self.sites:
            rows, y = timeline[site], self.band(site)
            top = max([r["failed"] for r in rows] + [1])
            for r in rows:
                base = y
                for cls in ("site", "task", "unclear"):
                    if r[cls]:
                        h = 0.8 * r[cls] / top
                        xs, hs, y0 = bars[cls]
                        xs.append(r["start"] + 1800)
                        hs.append(h)
                        y0.append(base)
                        base += h
            ticks.append((y + 0.4, f"{printable(site)[:24]} · peak {top}/h"))
            if int(y) % 2:
                shade.append(y)
        hours = [r["start"] for rows in self.rows.values() for r in rows]
        if hours and shade:  # every other band lightly shaded, so a bar's band is plain
            lo, hi = min(hours), max(hours) + 3600
            p.addItem(pg.BarGraphItem(x=[(lo + hi) / 2] * len(shade), height=[1] * len(shade), y0=shade,
                                      width=hi - lo, brush="#f3f3f3", pen=None))
        for cls, (xs, hs, y0) in bars.items():
            if xs:
                p.addItem(pg.BarGraphItem(x=xs, height=hs, y0=y0, width=3600 * 0.8, brush=COLORS[cls], pen=None))
        p.getAxis("left").setTicks([ticks, []])
        p.setLimits(yMin=0, yMax=max(n, 1))
        p.setYRange(0, max(n, 1), padding=0)
        if hours:
            p.setXRange(min(hours), max(hours) + 3600, padding=0.01)
        self.setMinimumHeight(PLOT_ROW_HEIGHT * n + 70)

    def _clicked(self, event) -> None:
        vb = self.getPlotItem().vb
        if not self.sites or not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        at = vb.mapSceneToView(event.scenePos())
        i = len(self.sites) - 1 - int(at.y())
        if 0 <= i < len(self.sites) and self.rows[self.sites[i]]:  # the bar whose hour holds the click
            rows = self.rows[self.sites[i]]
            self.bar_clicked.emit(self.sites[i], min(rows, key=lambda r: abs(r["start"] + 1800 - at.x()))["start"])


class TimelinePanel(QSplitter):
    """The timeline with a site picker beside it: every site is listed (busiest first) and can be
    shown or hidden; the plots scroll when the chosen sites do not fit."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.timeline: dict[str, list[dict]] = {}
        self.hidden: set[str] = set()  #: sites the user unticked (new sites come ticked)
        self.picker = QListWidget()
        self.picker.setToolTip("Tick the sites to plot (all are at first), most failures first")
        self.picker.itemChanged.connect(self._ticked)
        self.plot = TimelinePlot()
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.plot)
        self.addWidget(self.picker)
        self.addWidget(self.scroll)
        self.setSizes([220, 1200])

    def sites(self) -> list[str]:
        """Every site of the timeline, most failures first."""
        tl = self.timeline
        return sorted(tl, key=lambda s: (-sum(r["failed"] for r in tl[s]), s))

    def shown(self) -> list[str]:
        return [s for s in self.sites() if s not in self.hidden]

    def show_timeline(self, timeline: dict[str, list[dict]]) -> None:
        self.timeline = timeline
        self.picker.blockSignals(True)
        self.picker.clear()
        for site in self.sites():
            item = QListWidgetItem(f"{printable(site)}: {sum(r['failed'] for r in timeline[site])} failed")
            item.setData(Qt.ItemDataRole.UserRole, site)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if site in self.hidden else Qt.CheckState.Checked)
            self.picker.addItem(item)
        self.picker.blockSignals(False)
        self.plot.show_timeline(timeline, self.shown())

    def set_site_shown(self, site: str, shown: bool) -> None:
        for i in range(self.picker.count()):
            item = self.picker.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == site:
                item.setCheckState(Qt.CheckState.Checked if shown else Qt.CheckState.Unchecked)

    def scroll_to(self, site: str) -> None:
        """Show `site`'s row of bars (ticking it if it was hidden)."""
        if site in self.hidden:
            self.set_site_shown(site, True)
        if site in self.plot.sites:
            vb = self.plot.getPlotItem().vb
            y = self.plot.mapFromScene(vb.mapViewToScene(pg.Point(0, self.plot.band(site) + 0.5))).y()
            self.scroll.ensureVisible(0, int(y), 0, PLOT_ROW_HEIGHT)

    def _ticked(self, item: QListWidgetItem) -> None:
        site = item.data(Qt.ItemDataRole.UserRole)
        if item.checkState() == Qt.CheckState.Checked:
            self.hidden.discard(site)
        else:
            self.hidden.add(site)
        self.plot.show_timeline(self.timeline, self.shown())


class Loader(QObject):
    """Reads the facts in a thread; `batch` brings each finished batch to the GUI thread."""

    total = Signal(int)
    batch = Signal(int, object)  #: inputs done so far, their facts
    done = Signal(str)  #: "" or the one-line reason it stopped

    def __init__(self, paths: list[str], workers: int | None, scheduler: str | None, parent=None):
        super().__init__(parent)
        self.paths, self.workers, self.scheduler = paths, workers, scheduler
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="jemgui-triage", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            paths, missing = expand(self.paths)
            self.total.emit(len(paths))
            self.batch.emit(0, missing)
            done = 0
            for n, facts in iter_facts(paths, self.workers, self.scheduler):
                done += n
                self.batch.emit(done, facts)
                if self.stop.is_set():
                    break  # leaving the loop closes the generator: the pool's pending work is cancelled
            self.done.emit("")
        except Exception as exc:  # noqa: BLE001 - said in the window, one line
            try:
                self.done.emit(" ".join(str(exc).split()) or type(exc).__name__)
            except RuntimeError:
                pass  # the window went away


class JobsView(QWidget):
    """Groups tree, filters, jobs table and timeline; `open_job(path, job)` on a double-click."""

    open_job = Signal(str, object, object)  #: path, job key, `pid:seq` to open at (or None)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = JobsModel(self)
        self.proxy = JobsFilter(self)
        self.proxy.setSourceModel(self.model)
        self.result: dict = report.build([])
        self._rebuild = QTimer(self, singleShot=True, interval=300, timeout=self.rebuild)

        self.summary = QLabel("Reading…")
        self.groups = QTreeWidget()
        self.groups.setHeaderLabels(["Jobs", "Class", "Failure (signature)"])
        self.groups.setRootIsDecorated(True)
        self.groups.header().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.groups.currentItemChanged.connect(self._group_chosen)

        self.text = QLineEdit(placeholderText="Filter jobs: id, site, host, failure…")
        self.text.textChanged.connect(lambda t: self.proxy.set(text=t.strip()))
        self.cls = QComboBox()
        self.cls.addItems(["all", "site", "task", "unclear", "ok", "unreadable"])
        self.cls.currentTextChanged.connect(lambda c: self.proxy.set(cls=c))
        self.scope = QLabel()
        self.clear_button = QPushButton("Show all")
        self.clear_button.clicked.connect(self.show_all)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.sortByColumn(7, Qt.SortOrder.AscendingOrder)  # by the time they ended
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(self._double_clicked)
        self.timeline_panel = TimelinePanel()
        self.timeline = self.timeline_panel.plot
        self.timeline.bar_clicked.connect(self.show_hour)
        self.sites = _table([c[0] for c in SITE_COLUMNS])
        self.sites.currentCellChanged.connect(lambda row, *_: self._site_chosen(row))
        self.sites.horizontalHeader().setSortIndicator(2, Qt.SortOrder.DescendingOrder)  # most failed first
        self.outliers = _table(OUTLIER_COLUMNS)
        self.outliers.horizontalHeader().setSortIndicator(6, Qt.SortOrder.DescendingOrder)  # farthest first
        self.outliers.currentCellChanged.connect(lambda row, *_: self._outlier_chosen(row))
        self.outliers.cellDoubleClicked.connect(lambda row, _col: self._open_outlier(row))
        self.tabs = QTabWidget()
        self.tabs.addTab(self.groups, "Failure groups")
        self.tabs.addTab(self.sites, "Sites")
        self.tabs.addTab(self.outliers, "Outliers")

        filters = QHBoxLayout()
        for w in (self.text, self.cls, self.scope, self.clear_button):
            filters.addWidget(w)
        jobs = QWidget()
        jl = QVBoxLayout(jobs)
        jl.setContentsMargins(0, 0, 0, 0)
        jl.addLayout(filters)
        jl.addWidget(self.table)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.tabs)
        top.addWidget(jobs)
        top.setSizes([560, 900])
        main = QSplitter(Qt.Orientation.Vertical)
        main.addWidget(top)
        main.addWidget(self.timeline_panel)
        main.setSizes([560, 380])
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(main)

    def add(self, facts: list[dict]) -> None:
        self.model.add(facts)
        if not self._rebuild.isActive():
            self._rebuild.start()

    def rebuild(self) -> None:
        """Groups, sites and timeline from every fact so far (keeps the chosen group)."""
        started = time.perf_counter()
        self.result = r = report.build(self.model.facts)
        t = r["totals"]
        self.summary.setText(f"<b>{t['jobs']:,} jobs</b>: {t['failed']:,} failed "
                             f"(<span style='color:{COLORS['site']}'>{t['site']} site</span>, "
                             f"<span style='color:{COLORS['task']}'>{t['task']} task</span>, {t['unclear']} unclear)"
                             + (f", {t['unreadable']} unreadable" if t["unreadable"] else "")
                             + "".join(f" &nbsp;·&nbsp; <b>cluster</b> at {c['site']} {c['from'][11:16]}–"
                                       f"{c['to'][11:16]} UTC ({c['site_problems']} site failures)"
                                       for c in r["clusters"][:2]))
        chosen = self.groups.currentItem()
        keep = chosen.data(0, Qt.ItemDataRole.UserRole) if chosen else None
        self.groups.blockSignals(True)
        self.groups.clear()
        for g in r["groups"]:
            item = QTreeWidgetItem([str(g["count"]), g["class"], g["signature"]])
            item.setData(0, Qt.ItemDataRole.UserRole, (g["signature"], None))
            item.setForeground(1, QBrush(QColor(COLORS[g["class"]])))
            item.setToolTip(2, printable(f"e.g. job {g['example']['job']}: {g['example'].get('headline') or ''}"))
            for site, n in g["sites"].items():
                child = QTreeWidgetItem([str(n), "", f"at {site}"])
                child.setData(0, Qt.ItemDataRole.UserRole, (g["signature"], site))
                item.addChild(child)
            self.groups.addTopLevelItem(item)
            if keep and keep[0] == g["signature"]:
                self.groups.setCurrentItem(item)
        self.groups.blockSignals(False)
        self._fill_sites(r["sites"])
        self._fill_outliers(r["outliers"])
        self.tabs.setTabText(1, f"Sites ({len(r['sites'])})")
        self.tabs.setTabText(2, f"Outliers ({len(r['outliers'])})")
        self.timeline_panel.show_timeline(r["timeline"])
        # while jobs come in, rebuild at most a fifth of the time: many sites' plots take a while
        self._rebuild.setInterval(max(300, int(5000 * (time.perf_counter() - started))))

    def _fill_sites(self, rows: list[dict]) -> None:
        self.sites.blockSignals(True)
        self.sites.setSortingEnabled(False)
        self.sites.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for c, (_, key) in enumerate(SITE_COLUMNS):
                item = _item(row[key])
                if key in ("site_problems", "task_problems") and row[key]:
                    item.setForeground(QBrush(QColor(COLORS[key.split("_")[0]])))
                self.sites.setItem(i, c, item)
        self.sites.setSortingEnabled(True)
        self.sites.blockSignals(False)

    def _fill_outliers(self, rows: list[dict]) -> None:
        self.outliers.blockSignals(True)
        self.outliers.setSortingEnabled(False)
        self.outliers.setRowCount(len(rows))
        for i, o in enumerate(rows):
            values = [o["task"], o["job"], o["site"] or "?", METRIC_NAMES.get(o["metric"], o["metric"]),
                      _metric(o["metric"], o["value"]), _metric(o["metric"], o["median"]),
                      f"{o['factor']}× {'above' if o['side'] == 'high' else 'below'}"]
            for c, v in enumerate(values):
                item = _item(v, sort=o["factor"] if c == 6 else (o["value"] if c == 4 else None))
                item.setData(Qt.ItemDataRole.UserRole + 1, (o["path"], o["job"]))
                self.outliers.setItem(i, c, item)
        self.outliers.setSortingEnabled(True)
        self.outliers.blockSignals(False)

    def _site_chosen(self, row: int) -> None:
        item = self.sites.item(row, 0) if row >= 0 else None
        if item is None:
            return
        site = item.data(Qt.ItemDataRole.UserRole)
        self.proxy.set(signature=None, site=site, hour=None, job=None)
        self.scope.setText(f"site {site}")
        self.timeline_panel.scroll_to(site)

    def _outlier_chosen(self, row: int) -> None:
        item = self.outliers.item(row, 0) if row >= 0 else None
        if item is None:
            return
        path, name = item.data(Qt.ItemDataRole.UserRole + 1)
        self.proxy.set(signature=None, site=None, hour=None, job=(path, name))
        self.scope.setText(f"job {name}")

    def _open_outlier(self, row: int) -> None:
        """The outlier's job in the inspector (at its failure if it failed, else at its start)."""
        item = self.outliers.item(row, 0)
        path, name = item.data(Qt.ItemDataRole.UserRole + 1)
        for f in self.model.facts:
            if f.get("path") == path and report.job_name(f) == name:
                self.open_job.emit(f["path"], f.get("job"), f.get("at"))
                return

    def _group_chosen(self, item, _previous=None) -> None:
        if item is None:
            return
        signature, site = item.data(0, Qt.ItemDataRole.UserRole)
        self.proxy.set(signature=signature, site=site, hour=None, job=None)
        self.scope.setText(f"group{f' at {site}' if site else ''}")

    def show_hour(self, site: str, hour: int) -> None:
        """The jobs of one bar: that site, that hour (UTC)."""
        self.groups.blockSignals(True)
        self.groups.setCurrentItem(None)
        self.groups.blockSignals(False)
        self.proxy.set(signature=None, site=site, hour=hour, job=None)
        self.scope.setText(f"{site}, {report.hour_of(hour)[11:16]} UTC")

    def show_all(self) -> None:
        self.groups.setCurrentItem(None)
        self.proxy.set(signature=None, site=None, hour=None, job=None)
        self.scope.setText("")

    def _double_clicked(self, index) -> None:
        f = self.model.facts[self.proxy.mapToSource(index).row()]
        if f.get("outcome") != "unreadable":
            self.open_job.emit(f["path"], f.get("job"), f.get("at"))


class JobsWindow(QMainWindow):
    """The Jobs view in its own window, reading `paths`; a job opens in an inspector window."""

    def __init__(self, paths: list[str], workers: int | None = None, scheduler: str | None = None,
                 inspector=None):
        super().__init__()
        self.setWindowTitle(f"JEM Inspector — Jobs: {' '.join(paths)[:80]}")
        self.view = JobsView(self)
        self.setCentralWidget(self.view)
        self.inspector = inspector  #: the main window jobs open in (made when first needed)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(320)
        self.progress.setFormat("%v / %m inputs")
        self.statusBar().addPermanentWidget(self.progress)
        self.view.open_job.connect(self.open_job)
        self.loader = Loader(paths, workers, scheduler, self)
        self.loader.total.connect(self.progress.setMaximum)
        self.loader.batch.connect(self._batch)
        self.loader.done.connect(self._done)
        self.finished = False
        self.loader.start()

    def _batch(self, done: int, facts: list[dict]) -> None:
        self.progress.setValue(done)
        self.view.add(facts)

    def _done(self, error: str) -> None:
        self.finished = True
        self.view.rebuild()
        self.progress.setVisible(False)
        self.statusBar().showMessage(f"Stopped: {error}" if error else
                                     f"Read {self.progress.maximum():,} inputs. Double-click a job to inspect it.")

    def open_job(self, path: str, job, at: str | None = None) -> None:
        """The job in the inspector, at its failure (or the log line that shows a site failure)."""
        if self.inspector is None:
            from jemgui.views.main_window import MainWindow

            self.inspector = MainWindow()
            self.inspector.resize(1400, 900)
        self.inspector.show()
        self.inspector.raise_()
        record = tuple(int(x) for x in at.split(":")) if at else None
        self.inspector.open_path(path, job, "failure", record)

    def closeEvent(self, event) -> None:  # Qt override
        self.loader.stop.set()
        super().closeEvent(event)


def screenshot(paths: list[str], out: str, workers: int | None = None, tab: int = 0) -> str:
    """The Jobs window offscreen once every input is read, with the biggest group chosen (or the
    `tab` of the sites' table, 1, or the outliers, 2), as a PNG."""
    from jemgui.app import SCREENSHOT_SIZE, dispose, make_app, settle

    app = make_app(offscreen=True)
    window = JobsWindow(paths, workers)
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    try:
        while not window.finished:
            app.processEvents()
            time.sleep(0.01)
        settle(app, 10)
        top = window.view.groups.topLevelItem(0)
        if top is not None:
            top.setExpanded(True)
            window.view.groups.setCurrentItem(top)
        window.view.tabs.setCurrentIndex(tab)
        window.view.sites.resizeColumnsToContents()
        window.view.outliers.resizeColumnsToContents()
        window.view.table.resizeColumnsToContents()
        settle(app, 20)
        if not window.grab().save(out):
            raise OSError(f"could not write {out}")
    finally:
        dispose(app, window)
    return out


def run_jobs_window(paths: list[str], workers: int | None = None, scheduler: str | None = None) -> int:
    """`jemgui triage PATH --window`: the Jobs window until it (and any inspector it opened) closes."""
    from jemgui.app import dispose, make_app

    app = make_app()
    window = JobsWindow(paths, workers, scheduler)
    window.resize(1500, 950)
    window.show()
    code = app.exec()
    window.loader.stop.set()
    dispose(app, window)
    return code
