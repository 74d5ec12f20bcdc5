"""Tie a Qt-free model event to a widget's lifetime, so a closed view is never called."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject

from jemgui.models.cursor import Event


def subscribe(widget: QObject, event: Event, callback: Callable) -> None:
    """Call `callback` on `event` until `widget` is destroyed."""
    event.connect(callback)
    widget.destroyed.connect(lambda *_: event.disconnect(callback))
