"""Python's cycle collector runs on the GUI thread only.

Automatic collection runs in whichever thread happens to allocate. When it
frees a cycle that holds a Qt object on a broker or indexing thread, the
object's destructor runs there: Qt takes its connection lock, then waits for
the GIL, which the GUI thread holds while it waits for that same lock (a
deadlock the live window tests met). pyqtgraph's `GarbageCollector` turns
automatic collection off and collects from a timer on the GUI thread.
"""

from __future__ import annotations

_collector = None


def collect_on_gui_thread(interval: float = 1.0) -> None:
    """Install the GUI-thread collector once (call on the GUI thread, with a QApplication)."""
    global _collector
    if _collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _collector = GarbageCollector(interval=interval)
