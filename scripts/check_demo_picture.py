"""Check that a `jemgui demo --screenshot` picture shows the demo job at its failure.

    python scripts/check_demo_picture.py ARCHIVE PICTURE.png

It builds the window for ARCHIVE at its failure offscreen, the way the screenshot
was taken, reads its header (the job's facts and the failure badge) and checks
them, then checks that the picture's header strip is that header, pixel for
pixel: a picture of an empty window, of another job or of another moment fails.
Exit 0 and one line saying what it saw, or 1 and one line saying what differs.
"""

from __future__ import annotations

import sys

EXPECTED_FACTS = ("Job reco_task_17", "Name reco_job.sh", "Exit 1", "State FAILED")
EXPECTED_BADGE = ("CalibrationError: no gain for channel", "at transform.py:28")


def main(archive: str, picture: str) -> str:
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QImage

    from jemgui.app import (
        SCREENSHOT_SIZE,
        make_app,
        offscreen_window,
        open_now,
        settle,
        wait_for_queries,
    )

    shot = QImage(picture)
    if shot.isNull():
        raise AssertionError(f"{picture} is not a picture")
    app = make_app(offscreen=True)
    with offscreen_window(app) as window:
        open_now(window, archive, where="failure")
        wait_for_queries(app, window)
        settle(app, 20)
        header = window.header
        facts = " ".join(header.facts.text().replace("&nbsp;", " ").split())
        plain = " ".join(_plain(facts).split())
        badge = header.badge.text()
        missing = [f for f in EXPECTED_FACTS if f not in plain] + [b for b in EXPECTED_BADGE if b not in badge]
        if missing:
            raise AssertionError(f"the window's header lacks {missing}: facts {plain!r}, badge {badge!r}")
        if (shot.width(), shot.height()) != SCREENSHOT_SIZE:
            raise AssertionError(f"{picture} is {shot.width()}x{shot.height()}, not the window's size")
        strip = header.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
        at = header.mapTo(window, QPoint(0, 0))
        seen = shot.copy(at.x(), at.y(), strip.width(), strip.height()).convertToFormat(
            QImage.Format.Format_RGB32)
        if seen != strip:
            raise AssertionError(f"{picture}: its header strip is not the demo job's header at its failure")
    return f"{picture}: header {plain!r}, badge {badge!r}"


def _plain(rich: str) -> str:
    from PySide6.QtGui import QTextDocument

    doc = QTextDocument()
    doc.setHtml(rich)
    return doc.toPlainText()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    try:
        print(main(*sys.argv[1:]))
    except AssertionError as exc:
        sys.exit(f"check_demo_picture: {exc}")
