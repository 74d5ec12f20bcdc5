"""Text from an archive or the broker, made safe to show: `printable`.

A string in a record, a manifest or an announcement is whatever its writer
put there. Printed raw, an escape sequence can set the terminal's title,
clear the screen or move the cursor, and a line break can start a line that
looks like the tool's own ("Outcome exit code 0"). Every such string goes
through `printable` before a terminal or a window title or tooltip shows it:
control characters (C0, DEL, C1), line and paragraph separators and the
bidirectional overrides become visible escapes.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNSAFE = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F),
           *range(0x2066, 0x206A)]
_TABLE = {c: _NAMED.get(chr(c)) or (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _UNSAFE}


def printable(text: object) -> str:
    """`text` (anything: str() of it) on one line, its control characters written as escapes."""
    return str(text).translate(_TABLE)
