"""The job's facts in one strip, and a failure badge that takes the cursor to the failure."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from jemgui.models.cursor import POS, Cursor
from jemgui.models.text import printable
from jemgui.views import theme
from jemgui.views.binding import subscribe

STATE_COLOURS = {"DONE": "#2e7d32", "FAILED": "#c62828", "KILLED": "#c62828", "RUNNING": "#1565c0"}


def short_user(dn: str) -> str:
    """The last CN of a grid DN (`/DC=org/.../CN=Jane Doe` -> `Jane Doe`), else the DN."""
    cns = [part[3:] for part in dn.split("/") if part.startswith("CN=")]
    return cns[-1] if cns else dn


def badge_text(failure: dict) -> str:
    """`✖  KeyError: 'x'  at reco.py:46`; a command shows its status, an uncertain failure a `?`."""
    kind = failure.get("kind", "exception")
    if kind == "command":
        text = f"✖  {failure.get('type')}: {failure.get('message')}"
    elif kind == "signal":
        text = f"✖  {failure.get('type')}: crashed"
    else:
        text = f"✖  {str(failure.get('type') or 'exception').rsplit('.', 1)[-1]}: {failure.get('message')}"
    if not failure.get("certain", True):
        text = "?" + text[1:]
    if len(text) > 48:
        text = text[:47] + "…"
    return f"{text}  at {failure['file'].rsplit('/', 1)[-1]}:{failure.get('line')}" if failure.get("file") else text


VERDICT_COLOURS = {"site": "#6a1b9a", "task": "#c62828", "unclear": "#ef6c00"}


def verdict_html(summary: dict) -> str:
    """A grid job's verdict (site, task or unclear) with its reason and first evidence, or ''."""
    hint = summary.get("hint") or {}
    cls = hint.get("class")
    if cls not in VERDICT_COLOURS or "evidence" not in hint:
        return ""
    evidence = hint.get("evidence") or []
    first = evidence[0] if evidence else None
    seen = (f"&nbsp;<span style='color:#b0bec5'>· {html.escape(str(first.get('file')))}:{first.get('line')}"
            f" {html.escape(str(first.get('text'))[:90])}</span>") if first else ""
    return (f"<span style='color:#90a4ae'>Verdict</span>&nbsp;<b style='color:white; background:"
            f"{VERDICT_COLOURS[cls]}'>&nbsp;{cls.upper()}&nbsp;</b>&nbsp;{html.escape(hint.get('reason', ''))}{seen}")


def verdict_lines(summary: dict) -> list[str]:
    """The verdict and every line of its evidence, for the tooltip."""
    hint = summary.get("hint") or {}
    if hint.get("class") not in VERDICT_COLOURS or "evidence" not in hint:
        return []
    return [f"Looks like a {hint['class']} problem: {hint.get('reason', '')}"] + [
        f"  {e.get('file')}:{e.get('line')}: {e.get('text')}" for e in hint.get("evidence") or []]


class JobHeader(QFrame):
    """Shows the job summary; its badge changes only the cursor (seek to the failure)."""

    def __init__(self, index, cursor: Cursor, summary: dict, parent: QWidget | None = None):
        super().__init__(parent)
        self.index, self.cursor, self.summary = index, cursor, summary
        self.indexing = False  #: the index is still being built: counts grow, the failure may be early
        self.setObjectName("jobHeader")
        self.setStyleSheet("QFrame#jobHeader { background: #263238; }"
                           " QFrame#jobHeader QLabel { color: #eceff1; }")
        self.facts = QLabel()
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.facts.setMinimumWidth(200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.now = QLabel()
        self.now.setToolTip("The job's state at the cursor")
        self.badge = QPushButton()
        self.badge.setObjectName("failureBadge")
        self.badge.setCursor(Qt.CursorShape.PointingHandCursor)
        self.badge.clicked.connect(self.go_to_failure)
        self.failure_pos: int | None = None
        self._early: dict | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.facts, 1)
        layout.addWidget(self.now)
        layout.addWidget(self.badge)
        self.show_summary(summary)
        subscribe(self, cursor.changed, self._on_cursor)
        self._show_now()

    def show_summary(self, summary: dict, indexing: bool = False) -> None:
        """Show the job's facts and its failure (again, when the summary changed)."""
        self.summary, self.indexing = summary, indexing
        self._show_facts()
        failure = summary.get("failure")
        if failure is None and self._early is not None and indexing:
            return  # the early failure stays until the whole index says otherwise
        self._early = None
        self.failure_pos = failure.get("position") if failure else None
        if failure:
            self._show_failure(failure)
            return
        job = summary.get("job") or {}
        state = self._state()
        exit_code = summary.get("exit_code", job.get("exit_code"))
        ok = state == "DONE" or exit_code == 0
        running = not ok and exit_code is None and state in ("STARTED", "RUNNING")
        self.badge.setText("…  Indexing, no failure so far" if indexing and not ok else "✔  Succeeded" if ok
                           else "▶  Running, no failure so far" if running else f"No exception recorded ({state})")
        self.badge.setToolTip((summary.get("hint") or {}).get("based_on", ""))
        self.badge.setStyleSheet("QPushButton#failureBadge { background: %s; color: white;"
                                 " font-weight: bold; border-radius: 4px; padding: 4px 10px; }"
                                 % ("#2e7d32" if ok else "#1565c0" if running or indexing else "#ef6c00"))

    def show_early_failure(self, failure: dict) -> None:
        """The failure read from the streams' ends while indexing runs (its record may not be indexed yet)."""
        if self.failure_pos is not None:
            return
        self._early = failure
        self._show_failure(failure)

    def _state(self) -> str:
        s = self.summary
        if self.indexing:  # the last state so far is not the job's
            return "indexing"
        return s.get("final_state") or ("ended abruptly" if s.get("ended_abruptly") else "?")

    def _show_facts(self) -> None:
        summary, index = self.summary, self.index
        job = summary.get("job") or {}
        state = self._state()
        exit_code = summary.get("exit_code", job.get("exit_code"))
        records = max(index.count, summary.get("records") or 0)  # a growing index: its count now
        facts = [
            ("Job", job.get("id") or summary.get("label") or "?"),
            ("Name", job.get("name")),
            ("Site", job.get("site")),
            ("Host", job.get("host")),
            ("User", short_user(job["user"]) if job.get("user") else None),
            ("Exit", None if exit_code is None and state in ("STARTED", "RUNNING", "indexing")  # not yet
             else "?" if exit_code is None else str(exit_code)),
            ("Duration", theme.duration(summary.get("duration"))),
            ("Records", f"{records:,}" + (" so far" if self.indexing else "")),
        ]
        parts = [f"<span style='color:#90a4ae'>{k}</span>&nbsp;<b>{html.escape(printable(v))}</b>"
                 for k, v in facts if v not in (None, "")]
        colour = STATE_COLOURS.get(state, "#ef6c00")
        parts.insert(5, f"<span style='color:#90a4ae'>State</span>&nbsp;"
                        f"<b style='color:white; background:{colour}'>&nbsp;{html.escape(printable(state))}&nbsp;</b>")
        verdict = verdict_html(summary)
        if verdict:
            parts.insert(6, verdict)
        self.facts.setText("&nbsp;&nbsp;&nbsp;".join(parts))
        tips = [f"User: {printable(job['user'])}"] if job.get("user") else []
        tips += verdict_lines(summary)
        if tips:
            self.facts.setToolTip("\n".join(tips))

    def grow(self) -> None:
        """The index grew: show its count (the rest waits for the whole index)."""
        self._show_facts()

    def _show_failure(self, failure: dict) -> None:
        self.badge.setText(printable(badge_text(failure)))  # what the archive wrote, on one line
        hint = self.summary.get("hint") or {}
        where = printable(f"{failure.get('file') or '?'}:{failure.get('line')}")
        doubt = "" if failure.get("certain", True) else f"\nUncertain: {printable(failure.get('why'))}"
        self.badge.setToolTip(f"Go to the failure (Ctrl+Shift+F, record {failure.get('record')}): "
                              f"{printable(failure.get('type'))}: {printable(failure.get('message'))}\nat {where} in "
                              f"{printable(failure.get('func'))}{doubt}\n"
                              + ("Indexing has not reached it yet: the badge was read from the end of the streams"
                                 if failure.get("early") else
                                 f"Looks like a {hint.get('class', '?')} problem: {hint.get('reason', '?')}"))
        colour, hover = ("#c62828", "#e53935") if failure.get("certain", True) else ("#ef6c00", "#fb8c00")
        self.badge.setStyleSheet(f"QPushButton#failureBadge {{ background: {colour}; color: white;"
                                 " font-weight: bold; border-radius: 4px; padding: 4px 10px; }"
                                 f" QPushButton#failureBadge:hover {{ background: {hover}; }}")

    def go_to_failure(self) -> bool:
        """Put the cursor on the job's failure: the raise, the failed command or the crash.

        An early failure (read from the streams' ends) is reached once indexing got to it.
        """
        pos = self.failure_pos
        if pos is None and self._early is not None:
            pos = self.index.pos_of(self._early["pid"], self._early["seq"])
        if pos is None:
            return False
        self.cursor.seek(pos)
        return True

    def _on_cursor(self, changed) -> None:
        if POS in changed:
            self._show_now()

    def _show_now(self) -> None:
        state = self.cursor.state
        job_state = state.job_state if state is not None else None
        self.now.setText(f"<span style='color:#90a4ae'>at cursor</span>&nbsp;<b>{html.escape(printable(job_state or '–'))}</b>&nbsp;&nbsp;")
