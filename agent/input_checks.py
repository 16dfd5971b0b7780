"""What a chat message must be before anything runs or is stored: text Postgres can keep (no NUL
byte, no lone surrogate) and at most MAX_MESSAGE_CHARS long. The same check serves the web chat,
Slack, the CLI and the shell (all go through agent.runner.run_turn)."""

from __future__ import annotations

from services.storable import unstorable

MAX_MESSAGE_CHARS = 100_000
"""About 25,000 words: far beyond any question or pasted brief, well below the socket's frame cap."""
SOCKET_MAX_CHARS = 8_000_000
"""The chat socket's frame cap (Chainlit's engine.io default is 1,000,000): a message between our
limit and this still arrives, so the person reads the limit instead of a dropped connection."""


def message_refusal(message: str) -> str | None:
    """Why the message can't be taken as it is (said to the person), or None when it can."""
    if (why := unstorable(message)) is not None:
        return f"That message contains {why}, which can't be stored; remove it and send again."
    if len(message) > MAX_MESSAGE_CHARS:
        return (
            f"That message is {len(message):,} characters; the limit is {MAX_MESSAGE_CHARS:,}. "
            "Nothing was changed; send a shorter one."
        )
    return None
