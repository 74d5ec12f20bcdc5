"""The selected frame's source, as the archive recorded it, with the current line and a gutter.

Text comes only from the archive's `source` records (what ran, not what the
local disk holds now). The gutter shows line numbers, which lines ran in
this job and how often, breakpoints (click to toggle) and the current line.
Each recently shown file keeps its own editor: switching a QPlainTextEdit's
document throws away every laid-out line, which cost a few ms per file change.
"""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPolygon, QTextCursor, QTextDocument, QTextFormat
from PySide6.QtWidgets import (
    QLabel,
    QPlainTextDocumentLayout,
    QPlainTextEdit,
    QStackedWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from jemgui.models.cursor import Breakpoints, Cursor
from jemgui.views import theme
from jemgui.views.binding import subscribe
from jemgui.views.highlight import PygmentsHighlighter


def _compact(n: int) -> str:
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.0f}k" if n >= 10_000 else f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


class Gutter(QWidget):
    """Line numbers, hit counts, breakpoints and the current-line arrow beside the code."""

    MARK = 16   # breakpoint dot / arrow column
    BAR = 3     # "ran" bar at the right edge

    def __init__(self, editor: CodeEditor):
        super().__init__(editor)
        self.editor = editor
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Line numbers, how often each line ran in this job (green), "
                        "breakpoints (click to toggle)")

    def width_hint(self) -> int:
        fm = self.editor.fontMetrics()
        digits = max(3, len(str(self.editor.blockCount())))
        return self.MARK + fm.horizontalAdvance("9" * digits) + 6 + fm.horizontalAdvance("99.9k") + 4 + self.BAR

    def sizeHint(self) -> QSize:  # Qt override
        return QSize(self.width_hint(), 0)

    def line_at(self, y: int) -> int | None:
        block = self.editor.cursorForPosition(QPoint(0, y)).block()
        return block.blockNumber() + 1 if block.isValid() else None

    def mousePressEvent(self, event) -> None:  # Qt override
        line = self.line_at(int(event.position().y()))
        if line is not None and event.button() == Qt.MouseButton.LeftButton:
            self.editor.toggle_breakpoint(line)

    def paintEvent(self, event) -> None:  # Qt override
        ed = self.editor
        p = QPainter(self)
        p.fillRect(event.rect(), QColor("#f5f5f5"))
        fm = ed.fontMetrics()
        row_h = fm.height()
        digits_w = fm.horizontalAdvance("9" * max(3, len(str(ed.blockCount()))))
        hits_x = self.MARK + digits_w + 6
        hits_w = self.width() - hits_x - self.BAR - 2
        # the visible lines first, then one pass per kind of mark (few font and pen changes)
        rows = []
        block = ed.firstVisibleBlock()
        top = ed.blockBoundingGeometry(block).translated(ed.contentOffset()).top()
        bottom_limit = event.rect().bottom()
        while block.isValid() and top <= bottom_limit:
            height = ed.blockBoundingRect(block).height()
            if block.isVisible():
                rows.append((block.blockNumber() + 1, int(top), int(height)))
            block = block.next()
            top += height
        hits = ed.hits
        ran = [(line, y, h, hits[line]) for line, y, h in rows if hits.get(line)]
        for _, y, h, _ in ran:
            p.fillRect(self.width() - self.BAR, y, self.BAR, h, theme.HITS)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        p.setFont(ed.font())
        ran_lines = {line for line, *_ in ran}
        for dim in (False, True):
            p.setPen(QColor("#b0b0b0") if dim else QColor("#424242"))
            for line, y, _ in rows:
                if (line not in ran_lines and line != ed.current_line) == dim:
                    p.drawText(self.MARK, y, digits_w, row_h, right, str(line))
        if ran:
            small = ed.font()
            small.setPointSizeF(max(6.0, small.pointSizeF() * 0.8))
            p.setFont(small)
            p.setPen(theme.HITS)
            for _, y, _, n in ran:
                p.drawText(hits_x, y, hits_w, row_h, right, _compact(n))
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        breakpoints = ed.breakpoint_lines()
        d = min(row_h - 4, 11)
        for line, y, _ in rows:
            if line in breakpoints:
                p.setBrush(theme.BREAKPOINT)
                p.drawEllipse(int((self.MARK - d) / 2), int(y + (row_h - d) / 2), d, d)
            if line == ed.current_line:
                p.setBrush(QColor("#f9a825"))
                p.setPen(QColor("#8d6e00"))
                y0, h = y + 2, row_h - 4
                p.drawPolygon(QPolygon([QPoint(3, y0), QPoint(self.MARK - 2, y0 + h // 2), QPoint(3, y0 + h)]))
                p.setPen(Qt.PenStyle.NoPen)
        p.end()


class CodeEditor(QPlainTextEdit):
    """Read-only code with a gutter; knows the current line, hit counts and its file's breakpoints."""

    def __init__(self, breakpoints: Breakpoints, parent: QWidget | None = None):
        super().__init__(parent)
        self.breakpoints = breakpoints
        self.path: str | None = None
        self.current_line: int | None = None
        self.hits: dict[int, int] = {}
        self._marked: tuple | None = None
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(theme.mono_font())
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                     | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.gutter = Gutter(self)
        self.blockCountChanged.connect(self._fit_gutter)
        self.updateRequest.connect(self._scroll_gutter)
        self._fit_gutter()

    def breakpoint_lines(self) -> set[int]:
        return self.breakpoints.lines(self.path) if self.path else set()

    def toggle_breakpoint(self, line: int) -> None:
        if self.path:
            self.breakpoints.toggle(self.path, line)

    def _fit_gutter(self, *_) -> None:
        self.setViewportMargins(self.gutter.width_hint(), 0, 0, 0)

    def _scroll_gutter(self, rect: QRect, dy: int) -> None:
        if dy:
            self.gutter.scroll(0, dy)
        else:
            self.gutter.update(0, rect.y(), self.gutter.width(), rect.height())

    def resizeEvent(self, event) -> None:  # Qt override
        super().resizeEvent(event)
        cr = self.contentsRect()
        self.gutter.setGeometry(QRect(cr.left(), cr.top(), self.gutter.width_hint(), cr.height()))

    def show_line(self, line: int | None, colour: QColor) -> None:
        """Mark `line` (1-based) across the full width and scroll it into the middle when hidden."""
        key = (self.document(), line, colour.rgba())
        if key == self._marked:
            return
        self._marked = key
        self.current_line = line
        selections = []
        if line is not None and 0 < line <= self.blockCount():
            block = self.document().findBlockByNumber(line - 1)
            sel = QTextEdit.ExtraSelection()
            sel.format.setBackground(colour)
            sel.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            sel.cursor = QTextCursor(block)
            selections.append(sel)
            self._reveal(block)
        self.setExtraSelections(selections)
        self.gutter.update()

    def _reveal(self, block) -> None:
        first = self.firstVisibleBlock().blockNumber()
        rows = max(1, self.viewport().height() // max(1, self.fontMetrics().height()))
        n = block.blockNumber()
        if not (first + 1 <= n <= first + rows - 2):
            self.verticalScrollBar().setValue(max(0, n - rows // 2))


class SourceView(QWidget):
    """Shows the file and line of the cursor's selected frame; changes only the breakpoints."""

    EDITORS = 8   # files whose laid-out text is kept

    def __init__(self, index, cursor: Cursor, breakpoints: Breakpoints, parent: QWidget | None = None):
        super().__init__(parent)
        self.index, self.cursor = index, cursor
        self.title = QLabel()
        self.title.setObjectName("sourceTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setStyleSheet("QLabel#sourceTitle { padding: 3px 6px; background: #eceff1;"
                                 " border-bottom: 1px solid #cfd8dc; }")
        self.breakpoints = breakpoints
        self.path: str | None = None
        self.editor = CodeEditor(breakpoints)
        self.missing = QLabel()
        self.missing.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.missing.setWordWrap(True)
        self.missing.setStyleSheet("color: #616161; padding: 24px;")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.editor)
        self.stack.addWidget(self.missing)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.title)
        layout.addWidget(self.stack)
        self._docs: dict[str, tuple[QTextDocument, PygmentsHighlighter | None, dict]] = {}
        self._editors: OrderedDict[str, CodeEditor] = OrderedDict()
        subscribe(self, cursor.changed, self._on_cursor)
        subscribe(self, breakpoints.changed, lambda *_: self.editor.gutter.update())
        self._show()

    def _on_cursor(self, changed) -> None:
        self._show()

    def location(self) -> tuple[str | None, int | None, QColor]:
        """File, line and marking colour the view shows for the cursor now."""
        frame = self.cursor.frame
        state = self.cursor.state
        if state is None:
            return None, None, theme.CURRENT_LINE
        stack = self.cursor.stack
        if frame is not None:
            innermost = stack and stack[-1].frame_id == frame.frame_id
            colour = theme.CURRENT_LINE if innermost else theme.CALLER_LINE
            if innermost and state.record.get("kind") == "exception":
                colour = theme.EXCEPTION_LINE
            return frame.file, frame.line, colour
        rec = state.record
        file, line = rec.get("file"), rec.get("line")
        if isinstance(file, str) and file:
            return file, line if type(line) is int else None, theme.CURRENT_LINE
        return self.path, None, theme.CURRENT_LINE

    def _document(self, path: str):
        entry = self._docs.get(path)
        if entry is None:
            text = self.index.source(path)
            if text is None:
                entry = (None, None, {})
            else:
                doc = QTextDocument(self)
                doc.setDocumentLayout(QPlainTextDocumentLayout(doc))
                doc.setDefaultFont(theme.mono_font())
                doc.setPlainText(text)
                entry = (doc, PygmentsHighlighter(doc, path, text), dict(self.index.line_hits(path)))
            self._docs[path] = entry
        return entry

    def _editor(self, path: str, doc: QTextDocument, hits: dict) -> CodeEditor:
        """The editor that shows `path`; beyond EDITORS the least recently shown one goes."""
        ed = self._editors.pop(path, None)
        if ed is None:
            if not self._editors and self.editor.path is None:
                ed = self.editor                         # the first file uses the editor made up front
            else:
                ed = CodeEditor(self.breakpoints)
                self.stack.addWidget(ed)
            ed.path, ed.hits = path, hits
            ed.setDocument(doc)
            ed._fit_gutter()
        self._editors[path] = ed
        while len(self._editors) > self.EDITORS:
            _, old = self._editors.popitem(last=False)
            self.stack.removeWidget(old)
            old.deleteLater()
        return ed

    def _show(self) -> None:
        path, line, colour = self.location()
        if path is None:
            self.title.setText("No source at this position")
            self.missing.setText("This record belongs to no file.\nStep to a call, line or command.")
            self.stack.setCurrentWidget(self.missing)
            return
        doc, _, hits = self._document(path)
        where = f"{path}:{line}" if line else path
        if doc is None:
            self.title.setText(where)
            logged = _logged_code(self.index, path, line)
            self.missing.setText(logged or f"The source of {path} was not recorded in this archive.\n"
                                 "(The inspector shows only what the job ran, never the local disk.)")
            self.stack.setCurrentWidget(self.missing)
            self.path = path
            return
        self.title.setText(where)
        self.path = path
        self.editor = self._editor(path, doc, hits)
        self.stack.setCurrentWidget(self.editor)
        self.editor.show_line(line, colour)


def _logged_code(index, path: str, line: int | None) -> str | None:
    """For a frame of a traceback read from a grid job's logs: the code lines the tracebacks show
    (the current one marked) and that the file itself is not in the tarball; else None."""
    from jemgui.models.gridlogs.logs import traceback_code

    code, logged = traceback_code(index, path)
    if not code and not logged:
        return None
    import html

    rows = "".join(f"<tr><td align='right' style='color:#9e9e9e; padding-right:8px'>{n}</td>"
                   f"<td style='{'background:#ffcdd2; font-weight:bold' if n == line else ''}'>"
                   f"{html.escape(text)}</td></tr>" for n, text in sorted(code.items()))
    where = ", ".join(logged[:6]) + (" and others" if len(logged) > 6 else "") if logged else "the logs"
    return (f"<p>{html.escape(path)} itself is not in the tarball: these are the lines of it that the "
            f"traceback logged in {html.escape(where)} shows.</p>"
            f"<table style='font-family: monospace; margin-top: 8px'>{rows}</table>")
