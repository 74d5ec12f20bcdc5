"""Read what every panel of the window shows, to check that they all show the same moment."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt


def shown(w) -> dict:
    """What each panel displays now, read from its widgets (not from the cursor)."""
    stack_items = [w.stack_view.tree.topLevelItem(i) for i in range(w.stack_view.tree.topLevelItemCount())]
    loc = w.locals_view.locals
    return {
        "table_pos": w.events.current_pos(),
        "plot_x": w.metrics.cursor_x(),
        "slider": w.transport_bar.slider.value(),
        "source_line": w.source.editor.current_line,
        "source_path": w.source.editor.path,
        "source_title": w.source.title.text(),
        "stack": [(it.text(0), it.text(1)) for it in stack_items],
        "stack_selected": w.stack_view.selected_frame_id(),
        "locals": {loc.topLevelItem(i).text(0): loc.topLevelItem(i).data(2, Qt.ItemDataRole.UserRole)
                   for i in range(loc.topLevelItemCount())},
    }


def assert_views_agree(w) -> dict:
    """Every panel shows the cursor's position, thread and frame; returns what they show."""
    cur, ix = w.inspection.cursor, w.inspection.index
    s = shown(w)
    pos = cur.pos
    assert s["table_pos"] == pos, f"event table at {s['table_pos']}, cursor at {pos}"
    assert s["slider"] == pos
    assert math.isclose(s["plot_x"], ix.time_at(pos), abs_tol=1e-6), "plot cursor is not at the record's time"
    frame = cur.frame
    stack = cur.stack
    assert s["stack"] == [(f.func, f"{f.file}:{f.line}") for f in reversed(stack)]
    if frame is None:
        assert s["locals"] == {}
        return s
    assert s["stack_selected"] == frame.frame_id
    assert s["source_path"] == frame.file and s["source_line"] == frame.line
    assert s["source_title"] == f"{frame.file}:{frame.line}"
    assert s["locals"] == {k: v[1] for k, v in frame.locals.items()}
    return s
