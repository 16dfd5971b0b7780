"""Buttons under an answer. Each one is a slash command the person could type: the chat shows it as
a button, the CLI prints it as a hint, and either way it runs as whoever clicks or types it."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

from core.errors import NotAllowed
from services.platform.accounts import Membership

Answer = TypeVar("Answer", bound=BaseModel)
NOTHING_YET = "Nothing has changed yet: confirm to go ahead."


class ActionButton(BaseModel):
    """One follow-up: `label` on the button, the command it runs (`tool` + `args`).

    The arguments only name the object (a run, a schedule); the tool checks again who is asking
    and what they may do. A write asks first: its button runs the tool's preview, whose answer
    carries Confirm (the same command with `confirm:true`) and Cancel (`tool` None: nothing runs).
    `once` buttons disappear from the chat after one click (a confirmation's pair).
    """

    label: str
    tool: str | None = None
    args: dict[str, str | int | bool] = {}
    once: bool = False

    @property
    def command(self) -> str | None:
        """The slash command this button runs, e.g. `/jobs retry:1f0c2a9e confirm:true`."""
        if self.tool is None:
            return None
        return " ".join([f"/{self.tool}", *(f"{key}:{_value(v)}" for key, v in self.args.items())])

    @property
    def hint(self) -> str | None:
        """What the CLI prints instead of a button: 'Retry: /jobs retry:1f0c2a9e'."""
        return f"{self.label}: {self.command}" if self.command else None


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return f'"{text}"' if any(c.isspace() for c in text) or not text else text


def confirmation(
    *, tool: str, args: dict[str, str | int | bool], label: str = "Confirm"
) -> list[ActionButton]:
    """The Confirm/Cancel pair under a preview."""
    return [
        ActionButton(label=label, tool=tool, args={**args, "confirm": True}, once=True),
        ActionButton(label="Cancel", once=True),
    ]


def ask_first(
    answer: type[Answer],
    question: str,
    *,
    tool: str,
    args: dict[str, str | int | bool],
    label: str,
    note: str = "",
    **fields: Any,
) -> Answer:
    """A write's preview: `question` and that nothing has changed yet (then `note`), with Confirm
    (`label`: the same call with confirm:true) and Cancel; `fields` fill the rest of the answer."""
    return answer(
        summary=f"{question} {NOTHING_YET}{note}",
        actions=confirmation(tool=tool, args=args, label=label),
        **fields,
    )


def admin_of(
    roles: dict[UUID, Membership], organization_id: UUID, *, organization: str, to: str
) -> Membership:
    """The caller's membership of the organization if they are its admin (only admins change what an
    organization shares: schedules, Slack posts, settings); else `NotAllowed` saying who may."""
    found = roles.get(organization_id)
    if found is None or found.role != "admin":
        raise NotAllowed(
            f"Only admins of {organization} can {to}; you are a {found.role if found else 'guest'}."
            " Ask an admin to do it."
        )
    return found
