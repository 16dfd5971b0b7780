"""Text shown in the chat reads exactly as written.

Chainlit's Markdown renderer includes remark-directive, which reads `:word` after text as a
directive and drops it: `confirm:true` would show as `confirm`. Each such colon is escaped (`\\:`,
standard Markdown, shown as `:`; a copied selection reads `confirm:true`), except where Markdown
shows text verbatim anyway: code spans, fenced code, autolinks and bare URLs.
Only the chat uses this: the CLI, Slack and MCP get the text as written.
"""

from __future__ import annotations

import re

# A colon that starts a directive: before an ASCII letter (remark-directive's names), not already escaped.
_DIRECTIVE_COLON = re.compile(r"(?<!\\)((?:\\\\)*):(?=[A-Za-z])")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# Verbatim inline text: a code span (matching backtick runs), an autolink, a bare URL.
_VERBATIM = re.compile(
    r"(`+)[\s\S]*?(?<!`)\1(?!`)|<[A-Za-z][A-Za-z0-9+.-]*:[^\s<>]*>|\b(?:https?://|www\.)[^\s<]+"
)


def as_written(text: str) -> str:
    """`text` as Markdown for the chat, so that every `key:word` in it shows as written."""
    out: list[str] = []
    fence: str | None = None
    prose: list[str] = []
    for line in text.splitlines(keepends=True):
        opened = _FENCE.match(line)
        if fence is None and opened:
            out.append(_escape_prose("".join(prose)))
            prose = []
            fence = opened.group(1)
            out.append(line)
        elif fence is not None:
            out.append(line)
            if line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
                fence = None
        else:
            prose.append(line)
    out.append(_escape_prose("".join(prose)))
    return "".join(out)


def _escape_prose(text: str) -> str:
    """Escape directive colons outside code spans and links (a span may cross lines in a paragraph)."""
    parts: list[str] = []
    start = 0
    for verbatim in _VERBATIM.finditer(text):
        parts.append(_DIRECTIVE_COLON.sub(r"\1\\:", text[start : verbatim.start()]))
        parts.append(verbatim.group(0))
        start = verbatim.end()
    parts.append(_DIRECTIVE_COLON.sub(r"\1\\:", text[start:]))
    return "".join(parts)


class StreamedAsWritten:
    """An answer streamed into the chat: each piece of text as the token to send next, escaped with
    `as_written`; when escaping changed what was already sent (`confirm:` then `true`), the whole text."""

    def __init__(self) -> None:
        self.written = ""
        self.shown = ""

    def add(self, delta: str) -> tuple[str, bool]:
        """The token to stream and whether it replaces everything sent so far."""
        self.written += delta
        shown = as_written(self.written)
        replaces = not shown.startswith(self.shown)
        token = shown if replaces else shown[len(self.shown) :]
        self.shown = shown
        return token, replaces
