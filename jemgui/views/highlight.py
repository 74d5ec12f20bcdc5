"""Pygments colours for the source view, lexed once per file and applied per line."""

from __future__ import annotations

from pygments.lexers import BashLexer, PythonLexer, TextLexer, guess_lexer_for_filename
from pygments.styles import get_style_by_name
from pygments.util import ClassNotFound
from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

STYLE = "friendly"
#: pygments strips leading blank lines by default, which would shift every line number
KEEP_LINES = {"stripnl": False, "ensurenl": False}


def lexer_for(path: str, text: str):
    """Python or bash by name or first line; another pygments lexer if the name says so."""
    first = text.split("\n", 1)[0]
    if path.endswith((".py", ".pyw")) or (first.startswith("#!") and "python" in first):
        return PythonLexer(**KEEP_LINES)
    if path.endswith((".sh", ".bash")) or (first.startswith("#!") and "sh" in first):
        return BashLexer(**KEEP_LINES)
    try:
        return guess_lexer_for_filename(path, text, **KEEP_LINES)
    except ClassNotFound:
        return TextLexer(**KEEP_LINES)


def _formats(style) -> dict:
    out = {}
    for token, spec in style:
        if not (spec["color"] or spec["bold"] or spec["italic"]):
            out[token] = None
            continue
        fmt = QTextCharFormat()
        if spec["color"]:
            fmt.setForeground(QColor("#" + spec["color"]))
        if spec["bold"]:
            fmt.setFontWeight(QFont.Weight.Bold)
        if spec["italic"]:
            fmt.setFontItalic(True)
        out[token] = fmt
    return out


class PygmentsHighlighter(QSyntaxHighlighter):
    """Lexes the whole text once (pygments needs context) and colours each block from that."""

    _style_formats: dict | None = None

    def __init__(self, document: QTextDocument, path: str, text: str):
        super().__init__(document)
        if PygmentsHighlighter._style_formats is None:
            PygmentsHighlighter._style_formats = _formats(get_style_by_name(STYLE))
        self._lines = self._spans(lexer_for(path, text), text)

    def _spans(self, lexer, text: str) -> list[list[tuple[int, int, QTextCharFormat]]]:
        formats = self._style_formats
        lines: list[list] = [[]]
        col = 0
        for token, value in lexer.get_tokens(text):
            while token not in formats and token.parent is not None:
                token = token.parent
            fmt = formats.get(token)
            parts = value.split("\n")
            for i, part in enumerate(parts):
                if i:
                    lines.append([])
                    col = 0
                if part and fmt is not None:
                    lines[-1].append((col, len(part), fmt))
                col += len(part)
        return lines

    def highlightBlock(self, text: str) -> None:  # Qt override
        n = self.currentBlock().blockNumber()
        if n < len(self._lines):
            for start, length, fmt in self._lines[n]:
                self.setFormat(start, length, fmt)
