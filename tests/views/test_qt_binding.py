"""The installed Qt binding keeps Python's reference counts right when it calls slots.

PySide6 6.12.0 on CPython 3.11 drops a reference to None on every slot call
(and to True/False for bool signals), so a long session dies with "deallocating
None". This test fails on such a build before a user's session does.
"""

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    number = Signal(int)
    flag = Signal(bool)


def test_slot_calls_keep_reference_counts():
    e = _Emitter()
    e.number.connect(lambda v: None)
    e.flag.connect(lambda v: None)
    before = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    for i in range(200):
        e.number.emit(i)
        e.flag.emit(i % 2 == 0)
    after = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    assert after == before
