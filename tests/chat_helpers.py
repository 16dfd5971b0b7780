"""A person's open chat without a browser: a real Chainlit websocket session whose socket records
every event the browser would receive (messages, tokens, toasts, action buttons)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import chainlit as cl
import chainlit.config
import chainlit.data
import pytest
from chainlit.context import ChainlitContext, context_var
from chainlit.session import WebsocketSession

import app
from db.pool import Caller, Database
from services.platform.accounts import add_user, create_organization


class OpenChat:
    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.events: list[tuple[str, Any]] = []
        self.arrived = asyncio.Event()

        async def emit(event: str, data: Any) -> None:
            self.events.append((event, data))
            self.arrived.set()

        async def emit_call(*args: Any, **kwargs: Any) -> None:
            return None

        user = cl.User(identifier=caller.email, metadata={"user_id": str(caller.user_id), "provider": "test"})
        self.session = WebsocketSession(
            id=str(uuid.uuid4()),
            socket_id=str(uuid.uuid4()),
            emit=emit,
            emit_call=emit_call,
            user_env={},
            client_type="webapp",
            user=user,
            thread_id=str(uuid.uuid4()),
        )

    @contextmanager
    def active(self) -> Iterator[None]:
        """Handlers called inside run in this chat (as Chainlit's socket handlers do)."""
        token = context_var.set(ChainlitContext(self.session))
        try:
            yield
        finally:
            context_var.reset(token)

    def of(self, kind: str) -> list[Any]:
        return [data for event, data in self.events if event == kind]

    def toasts(self) -> list[str]:
        return [str(t["message"]) for t in self.of("toast")]

    def answers(self) -> list[dict[str, Any]]:
        """The assistant's messages, each in its latest state, in order."""
        latest: dict[str, dict[str, Any]] = {}
        for event, data in self.events:
            if event in ("new_message", "update_message") and data.get("type") == "assistant_message":
                latest[data["id"]] = dict(data)
        return list(latest.values())

    def answer(self) -> str:
        answers = self.answers()
        return str(answers[-1]["output"]) if answers else ""

    def buttons(self, message_id: str | None = None) -> list[cl.Action]:
        """The action buttons still shown (under one message, or the last answer)."""
        removed = {a["id"] for a in self.of("remove_action")}
        target = message_id or (self.answers()[-1]["id"] if self.answers() else None)
        return [cl.Action(**a) for a in self.of("action") if a["forId"] == target and a["id"] not in removed]

    async def click(self, label: str) -> None:
        """Click the button with this label under the last answer (what the UI's POST /project/action does)."""
        [button] = [b for b in self.buttons() if b.label == label]
        with self.active():
            await app.on_action(button)

    async def say(self, text: str) -> None:
        with self.active():
            await app.on_message(cl.Message(content=text))

    async def close(self) -> None:
        with self.active():
            await app.on_chat_end()
        await self.session.delete()


@asynccontextmanager
async def app_on_test_database(
    db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[None]:
    """app.py on the test database, with no chat history layer and a fresh notification feed."""
    monkeypatch.setattr(app, "_db", db)
    monkeypatch.setattr(app, "_feed", None)
    monkeypatch.setattr(chainlit.config, "FILES_DIRECTORY", tmp_path)
    monkeypatch.setattr(chainlit.data, "_data_layer", None)
    monkeypatch.setattr(chainlit.data, "_data_layer_initialized", True)
    try:
        yield
    finally:
        if app._feed is not None:
            await app._feed.stop()


@dataclass(frozen=True)
class Team:
    """An organization of our own (other tests' notifications and jobs never change what it sees),
    an admin and a member, and someone of another organization."""

    org: UUID
    name: str
    admin: Caller
    member: Caller
    outsider: Caller
    outsider_org: UUID


async def make_team(db: Database, prefix: str) -> Team:
    tag = uuid.uuid4().hex[:8]
    name = f"{prefix} {tag}"
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=name)
        other = await create_organization(conn, name=f"Elsewhere {tag}")
        people = {}
        for who, org_id, role in (("ann", org, "admin"), ("bob", org, "member"), ("zed", other, "admin")):
            email = f"{who}.{tag}@example.com"
            user_id = await add_user(conn, email=email, organization_id=org_id, role=role)
            people[who] = Caller(user_id=user_id, email=email)
    return Team(
        org=org,
        name=name,
        admin=people["ann"],
        member=people["bob"],
        outsider=people["zed"],
        outsider_org=other,
    )
