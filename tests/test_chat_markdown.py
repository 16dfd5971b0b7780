"""The chat's Markdown keeps every `key:word` (Chainlit's renderer would read `:word` as a directive)."""

from __future__ import annotations

import pytest

from agent.chat_markdown import StreamedAsWritten, as_written


@pytest.mark.parametrize(
    ("written", "markdown"),
    [
        ("/sync_meta confirm:true period:week days:30", "/sync_meta confirm\\:true period\\:week days:30"),
        ("account:act_1234567890 at 12:30", "account\\:act_1234567890 at 12:30"),
        # Shown verbatim by Markdown already: code spans, fenced code, links.
        ("try `/jobs confirm:true` or confirm:true", "try `/jobs confirm:true` or confirm\\:true"),
        (
            "```\nfilter:recommended\n```\nfilter:recommended",
            "```\nfilter:recommended\n```\nfilter\\:recommended",
        ),
        ("see https://example.com/a:b and <mailto:a:b>", "see https://example.com/a:b and <mailto:a:b>"),
        ("already escaped a\\:b", "already escaped a\\:b"),
        ("a leaf ::name", "a leaf :\\:name"),
    ],
)
def test_directive_colons_are_escaped_outside_code_and_links(written: str, markdown: str) -> None:
    assert as_written(written) == markdown


def test_a_streamed_answer_ends_as_the_whole_text_escaped() -> None:
    text = "Preview only: run /jobs run:sync confirm:true (`confirm:true` in code) period:week."
    stream = StreamedAsWritten()
    shown = ""
    replaced = 0
    for start in range(0, len(text), 3):  # cuts inside words, colons and code spans
        token, replaces = stream.add(text[start : start + 3])
        shown = token if replaces else shown + token
        replaced += replaces
    assert shown == as_written(text)
    assert "run\\:sync confirm\\:true (`confirm:true` in code) period\\:week" in shown
    assert 0 < replaced < 10  # mostly appended; the whole text resent only when a cut was escaped late


def test_a_command_copied_as_markdown_runs_the_same() -> None:
    """The answer's copy button copies its Markdown (escaped colons): pasted back, it runs the same."""
    from agent.slash import parse_slash

    typed = "/jobs view:failed confirm:true limit:5"
    assert as_written(typed) == "/jobs view\\:failed confirm\\:true limit:5"
    assert parse_slash(as_written(typed)) == parse_slash(typed)
