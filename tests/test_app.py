"""Chainlit handlers (app.py) with a real Chainlit context and a recording emitter: what the UI is sent."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import chainlit as cl
import chainlit.config
import chainlit.data
import pytest
from chainlit.context import ChainlitContext, context_var
from chainlit.emitter import BaseChainlitEmitter
from chainlit.session import HTTPSession
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

import app
from agent.history import make_data_layer
from db.pool import Caller, Database
from tools.registry import all_specs


class RecordingEmitter(BaseChainlitEmitter):
    """Records what the server would send to the browser."""

    def __init__(self, session: HTTPSession) -> None:
        super().__init__(session)
        self.sent: list[tuple[str, Any]] = []

    async def send_step(self, step_dict: Any) -> None:
        self.sent.append(("send_step", dict(step_dict)))

    async def update_step(self, step_dict: Any) -> None:
        self.sent.append(("update_step", dict(step_dict)))

    async def stream_start(self, step_dict: Any) -> None:
        self.sent.append(("stream_start", dict(step_dict)))

    async def send_token(
        self, id: str, token: str, is_sequence: bool = False, is_input: bool = False
    ) -> None:
        self.sent.append(("token", token))

    async def send_toast(self, message: str, type: Any = "info") -> None:
        self.sent.append(("toast", message))

    async def set_commands(self, commands: Any) -> None:
        self.sent.append(("set_commands", commands))

    def set_chat_settings(self, settings: Any) -> None:  # sync, as Chainlit's own
        self.session.chat_settings = settings

    async def set_modes(self, modes: Any) -> None:
        self.sent.append(("set_modes", [m.to_dict() for m in modes]))

    async def emit(self, event: str, data: Any) -> None:
        self.sent.append((event, data))

    async def send_element(self, element_dict: Any) -> None:
        self.sent.append(("element", dict(element_dict)))

    def of(self, kind: str) -> list[Any]:
        return [payload for k, payload in self.sent if k == kind]

    def tool_steps(self) -> list[dict[str, Any]]:
        return [s for s in self.of("update_step") if s.get("type") == "tool"]

    def answer(self) -> str:
        messages = [
            s for s in self.of("send_step") + self.of("update_step") if s.get("type") == "assistant_message"
        ]
        return str(messages[-1]["output"]) if messages else ""


@pytest.fixture
async def chat(
    db: Database, database_url: str, maya: Caller, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[RecordingEmitter]:
    monkeypatch.setattr(app, "_db", db)
    monkeypatch.setattr(app, "_feed", None)  # this test's own notification feed, stopped below
    # Session files in this test's folder: an app server elsewhere clears the shared `.files` one.
    monkeypatch.setattr(chainlit.config, "FILES_DIRECTORY", tmp_path)
    # Chat history goes to the test database, through Chainlit's own data layer.
    layer = make_data_layer(database_url)
    monkeypatch.setattr(chainlit.data, "_data_layer", layer)
    monkeypatch.setattr(chainlit.data, "_data_layer_initialized", True)
    user = cl.User(identifier=maya.email, metadata={"user_id": str(maya.user_id), "provider": "credentials"})
    session = HTTPSession(id=str(uuid.uuid4()), client_type="webapp", thread_id=str(uuid.uuid4()), user=user)
    emitter = RecordingEmitter(session)
    token = context_var.set(ChainlitContext(session, emitter))
    yield emitter
    # Let Chainlit's fire-and-forget persistence tasks finish before the context goes.
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and "data_layer" in repr(t)]
    await asyncio.gather(*pending, return_exceptions=True)
    await asyncio.sleep(0.05)
    context_var.reset(token)
    await layer.close()
    if app._feed is not None:
        await app._feed.stop()


async def test_steps_are_stamped_in_order_without_stalling_the_server(chat: RecordingEmitter) -> None:
    """History is ordered by the steps' `created_at` text: stamps made back to back still differ and
    sort in creation order, and making steps and messages does not sleep on the event loop
    (Chainlit's own way sleeps 1 ms in each constructor: 400 would take at least 0.4 s)."""
    loop = asyncio.get_running_loop()
    for make in (lambda i: cl.Step(name=f"s{i}"), lambda i: cl.Message(content=f"m{i}")):
        started = loop.time()
        for i in range(400):
            make(i)
        assert loop.time() - started < 0.3
    steps = [cl.Step(name=f"s{i}") for i in range(400)]
    stamps = [s.created_at for s in steps]  # a Message is stamped when it is sent
    assert all(isinstance(s, str) and s.endswith("Z") for s in stamps)
    assert sorted(stamps) == stamps and len(set(stamps)) == len(stamps)


async def test_chat_start_lists_commands_and_says_it_is_offline(chat: RecordingEmitter) -> None:
    await app.on_chat_start()
    [commands] = chat.of("set_commands")
    assert [c["id"] for c in commands] == [*(s.name for s in app.ordered_specs()), "help"]
    assert {c["id"] for c in commands} >= {s.name for s in all_specs()}
    assert all(c["description"] for c in commands)
    note, *others = chat.of("toast")
    assert note.startswith("Running offline. I'm the offline assistant") and "ANTHROPIC_API_KEY" in note
    # Then her unread notifications (the demo's welcome, at least), also a toast.
    assert len(others) == 1 and others[0].startswith("You have ") and others[0].endswith("— /notifications")
    assert chat.answer() == ""  # no message: the welcome screen and its starters stay


async def test_starters_use_the_users_own_brands(chat: RecordingEmitter, maya: Caller) -> None:
    user = cl.User(identifier=maya.email, metadata={"user_id": str(maya.user_id)})
    starters = await app.starters(user)
    # Each of her brands, in turn: not only the first.
    assert [s.label for s in starters] == [
        "Best hooks for Acme Pets",
        "Hook categories for Bloom Botanicals",
        "Worst ads by CPA for Acme Pets",
        "Landing page congruence for Bloom Botanicals",
    ]
    assert starters[1].message == '/hook_analysis brand:"Bloom Botanicals" days:90'
    assert not any("Peak Fuel" in s.message for s in starters)


async def test_chat_start_offers_a_brand_picker_and_shows_the_status(chat: RecordingEmitter) -> None:
    await app.on_chat_start()
    [picker] = chat.of("chat_settings")
    assert [(w["id"], w["label"], w["initial"]) for w in picker] == [("brand", "Brand", "Acme Pets")]
    assert [i["value"] for i in picker[0]["items"]] == ["Acme Pets", "Bloom Botanicals"]
    assert app.thread_brand() == "Acme Pets"
    # Offline and her unread count, beside the composer for as long as the chat is open.
    [[status]] = chat.of("set_modes")
    [shown] = status["options"]
    assert re.fullmatch(r"Offline · \d+ unread", shown["name"])
    assert shown["description"].startswith(
        "Questions that name no brand are about Acme Pets (change it with ⚙). "
        "Running offline: slash commands and simple questions (type /help). You have "
    )


async def test_the_picked_brand_answers_commands_that_name_none(chat: RecordingEmitter) -> None:
    await app.on_chat_start()
    await app.on_settings_update({"brand": "Bloom Botanicals"})
    assert chat.of("toast")[-1] == "Questions that name no brand are now about Bloom Botanicals."
    assert chat.of("set_modes")[-1][0]["options"][0]["description"].startswith(
        "Questions that name no brand are about Bloom Botanicals (change it with ⚙). "
    )
    await app.on_message(cl.Message(content="days:30", command="top_hooks"))
    assert chat.answer().startswith("Top 10 hooks for Bloom Botanicals by hook_rate")


async def test_a_brand_not_hers_is_refused_and_changes_nothing(chat: RecordingEmitter) -> None:
    await app.on_chat_start()
    await app.on_settings_update({"brand": "Bloom Botanicals"})
    await app.on_settings_update({"brand": "Peak Fuel"})  # Leo's: a socket can send anything
    assert chat.of("toast")[-1] == "Peak Fuel is not one of your brands: Acme Pets, Bloom Botanicals."
    assert app.thread_brand() == "Bloom Botanicals"
    assert chat.of("chat_settings")[-1][0]["initial"] == "Bloom Botanicals"


async def test_a_resumed_chat_keeps_its_brand(chat: RecordingEmitter) -> None:
    cl.context.session.chat_settings = {"brand": "Bloom Botanicals"}  # as Chainlit restores it
    await app.on_chat_resume({"id": "t", "metadata": {}})  # type: ignore[typeddict-item]
    assert chat.of("chat_settings")[-1][0]["initial"] == "Bloom Botanicals"
    await app.on_message(cl.Message(content="days:30", command="top_hooks"))
    assert chat.answer().startswith("Top 10 hooks for Bloom Botanicals by hook_rate")


async def test_reading_the_notifications_updates_the_status(
    chat: RecordingEmitter, db: Database, maya: Caller
) -> None:
    await app.on_chat_start()
    assert chat.of("set_modes")[-1][0]["options"][0]["name"].endswith(" unread")
    await app.on_message(cl.Message(content="mark_all_read:true", command="notifications"))
    assert chat.of("set_modes")[-1][0]["options"][0]["name"] == "Offline"
    async with db.as_owner() as conn:  # unread again, as other tests expect her demo notifications
        await conn.execute("delete from notification_reads where user_id = %s", (maya.user_id,))


async def test_command_runs_with_a_named_step_streamed_answer_table_and_chart(chat: RecordingEmitter) -> None:
    message = cl.Message(content='brand:"Acme Pets" days:30 limit:5', command="top_hooks")
    await app.on_message(message)
    [step] = chat.tool_steps()
    assert step["name"] == "Ranking hooks by hook_rate for Acme Pets, last 30 days"
    assert step["output"].startswith("Top 5 hooks for Acme Pets by hook_rate")
    assert not step.get("isError")
    assert len(chat.of("stream_start")) == 1 and chat.of("token")  # streamed, not sent whole
    assert chat.answer().startswith("Top 5 hooks for Acme Pets by hook_rate")
    kinds = sorted(e["type"] for e in chat.of("element"))
    assert kinds == ["custom", "plotly"]  # the tables (ResultTables) and the chart
    assert len(app.session_history()) == 4  # request, tool call, tool return, answer


async def test_the_conversation_is_kept_with_the_thread(chat: RecordingEmitter, db: Database) -> None:
    await app.on_message(cl.Message(content='/top_hooks brand:"Acme Pets" days:30'))
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select metadata from threads where id = %s", (cl.context.session.thread_id,)
        )
        row = await cur.fetchone()
    assert row is not None
    stored = row["metadata"][app.HISTORY_KEY]
    assert '"tool_name":"top_hooks"' in stored and "Acme Pets" in stored


async def test_a_failure_is_a_plain_message_on_an_error_step(chat: RecordingEmitter) -> None:
    await app.on_message(cl.Message(content='/hook_analysis brand:"Acme Pet"'))
    [step] = chat.tool_steps()
    assert step["isError"] is True
    assert chat.answer() == "No brand named 'Acme Pet'. Did you mean 'Acme Pets'?"
    assert "Traceback" not in str(chat.sent)


async def test_streamed_text_and_tool_call_turn_from_a_model(
    chat: RecordingEmitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scripted(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        last = messages[-1]
        assert isinstance(last, ModelRequest)
        returns = [p for p in last.parts if isinstance(p, ToolReturnPart)]
        if not returns:
            yield "Checking congruence. "
            yield {0: DeltaToolCall(name="congruence_summary", json_args='{"brand": "Acme Pets"}')}
        else:
            weakest = min(returns[0].content["dimensions"], key=lambda d: d["aligned"])
            yield "Weakest dimension: "
            yield weakest["dimension"]

    monkeypatch.setattr(app, "configured_model", lambda settings: FunctionModel(stream_function=scripted))
    await app.on_message(cl.Message(content="how congruent are my Acme Pets ads?"))
    [step] = chat.tool_steps()
    assert step["name"] == "Summarising congruence for Acme Pets, last 30 days"
    tokens = "".join(chat.of("token"))
    assert "Checking congruence." in chat.answer() or "Checking congruence." in tokens
    assert chat.answer().endswith(
        tuple(("product", "offer", "angle", "benefits", "claims", "audience", "voice_tone"))
    )
    assert sorted(e["type"] for e in chat.of("element")) == ["custom", "plotly"]


async def test_resume_restores_the_conversation(chat: RecordingEmitter) -> None:
    await app.on_message(cl.Message(content='/top_hooks brand:"Acme Pets" days:30'))
    stored = cl.user_session.get(app.HISTORY_KEY)
    cl.user_session.set(app.HISTORY_KEY, "")
    await app.on_chat_resume({"id": "t", "metadata": {app.HISTORY_KEY: stored}})  # type: ignore[typeddict-item]
    await app.on_message(cl.Message(content="and for the last 60 days?"))
    assert "last 60 days" in chat.answer()
    assert chat.tool_steps()[-1]["name"] == "Ranking hooks by hook_rate for Acme Pets, last 60 days"


async def test_sign_in_by_password_header_or_oauth_maps_to_our_users(
    chat: RecordingEmitter, maya: Caller
) -> None:
    from starlette.datastructures import Headers

    signed_in = await app.password_auth("maya@northwind.example", "northwind-demo")
    assert signed_in is not None and signed_in.metadata["user_id"] == str(maya.user_id)
    assert await app.password_auth("maya@northwind.example", "wrong") is None
    assert await app.password_auth("nobody@example.com", "northwind-demo") is None
    by_header = await app.header_auth(Headers({"X-Forwarded-Email": "MAYA@northwind.example"}))
    assert by_header is not None and by_header.metadata == {
        "user_id": str(maya.user_id),
        "provider": "header",
        "session_version": 0,
    }
    assert await app.header_auth(Headers({"X-Forwarded-Email": "stranger@example.com"})) is None
    assert await app.header_auth(Headers({})) is None
    google = cl.User(identifier="maya@northwind.example")
    by_oauth = await app.oauth_auth("google", "token", {"email": "maya@northwind.example"}, google)
    assert by_oauth is not None and by_oauth.metadata["provider"] == "google"
    assert await app.oauth_auth("google", "t", {"email": "x@y.z"}, cl.User(identifier="x@y.z")) is None


async def test_with_supabase_configured_the_password_is_checked_there(
    chat: RecordingEmitter, maya: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakes.supabase_auth import FakeSupabaseAuth
    from settings import Settings

    users = {"maya@northwind.example": "supabase-pw", "outsider@example.com": "pw"}
    with FakeSupabaseAuth(api_key="sb-key", users=users) as fake:
        settings = Settings(SUPABASE_URL=fake.url, SUPABASE_KEY="sb-key")  # type: ignore[call-arg]
        monkeypatch.setattr(app, "get_settings", lambda: settings)
        signed_in = await app.password_auth("maya@northwind.example", "supabase-pw")
        assert signed_in is not None and signed_in.metadata == {
            "user_id": str(maya.user_id),
            "provider": "supabase",
            "session_version": 0,
        }
        assert (
            await app.password_auth("maya@northwind.example", "northwind-demo") is None
        )  # the local hash is not used
        assert await app.password_auth("outsider@example.com", "pw") is None  # Supabase knows them; we don't
    assert (
        await app.password_auth("maya@northwind.example", "supabase-pw") is None
    )  # Supabase down: refused, logged


async def test_stop_cancels_a_running_turn(chat: RecordingEmitter, monkeypatch: pytest.MonkeyPatch) -> None:
    started = asyncio.Event()

    async def slow(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        started.set()
        await asyncio.sleep(30)
        yield "too late"

    monkeypatch.setattr(app, "configured_model", lambda settings: FunctionModel(stream_function=slow))
    run = asyncio.create_task(app.on_message(cl.Message(content="a long question")))
    await asyncio.wait_for(started.wait(), timeout=10)
    run.cancel()  # what Chainlit's stop button does to the message task
    with pytest.raises(asyncio.CancelledError):
        await run
    assert "too late" not in str(chat.sent)
    assert app.session_history() == []  # a cancelled turn leaves no half-turn in the conversation
