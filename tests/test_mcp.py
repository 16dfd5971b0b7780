"""`viraltracker mcp`: a real MCP client over stdio and streamable HTTP gets the chat's tools, figures
and tenancy (identity from the transport only), clear tool errors, and 401s without a valid token."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from agent.runner import run_turn
from db.pool import Caller, Database
from services.platform.api_tokens import CreatedToken, create_token, revoke_token
from tests.ad_helpers import Shop, drop_shop, new_shop
from tests.cli_helpers import CLI, mcp_http_server, run_cli
from tools.registry import agent_tools, all_specs

TOP_HOOKS_ARGS = {"brand": "Acme Pets", "days": 30, "metric": "hook_rate", "limit": 5}
TOP_HOOKS_SLASH = '/top_hooks brand:"Acme Pets" days:30 metric:hook_rate limit:5'
TIMEOUT = timedelta(seconds=60)


@pytest.fixture
async def shop(db: Database) -> AsyncIterator[Shop]:
    """An organization of the test's own (an admin, a member, a brand with "Joint Chews"): tests that
    write use it, so the demo organizations every other test reads stay as seeded."""
    shop = await new_shop(db, "mcp", ["Joint Chews"])
    yield shop
    await drop_shop(db, shop)


def _env(database_url: str, home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "VIRALTRACKER_HOME": str(home), **(extra or {})}
    for key in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "VIRALTRACKER_TOKEN"):
        if key not in (extra or {}):
            env.pop(key, None)
    return env


@asynccontextmanager
async def stdio_session(
    database_url: str, home: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[ClientSession]:
    """`viraltracker mcp ARGS` as a subprocess and an initialized client session on its stdio
    (the process is ended when the block exits)."""
    params = StdioServerParameters(command=CLI, args=["mcp", *args], env=_env(database_url, home, env))
    with (home / "mcp-stderr.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session,
        ):
            await session.initialize()
            yield session


def _text(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


async def _chat_result(db: Database, caller: Caller, message: str) -> dict[str, Any]:
    turn = await run_turn(db=db, caller=caller, message=message)
    [call] = turn.tool_calls
    assert call.error is None and call.result is not None, turn.text
    return call.result


async def test_stdio_lists_the_registry_and_answers_top_hooks_as_chat_does(
    db: Database, database_url: str, maya: Caller, tmp_path: Path
) -> None:
    expected = await _chat_result(db, maya, TOP_HOOKS_SLASH)
    defined = {t.name: t.tool_def for t in agent_tools()}
    async with stdio_session(database_url, tmp_path, "--user", maya.email) as session:
        listed = (await session.list_tools()).tools
        hooks = await session.call_tool("top_hooks", TOP_HOOKS_ARGS)
        heard: list[tuple[float, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            heard.append((progress, message))

        persona = await session.call_tool(
            "synthesize_persona", {"brand": "Acme Pets"}, progress_callback=on_progress
        )

    assert sorted(t.name for t in listed) == sorted(s.name for s in all_specs())
    for tool in listed:
        spec = next(s for s in all_specs() if s.name == tool.name)
        # The schema the chat's model reads, over exactly the registry's arguments.
        assert tool.inputSchema == defined[tool.name].parameters_json_schema
        assert list(tool.inputSchema["properties"]) == spec.arguments
        assert tool.inputSchema.get("required", []) == spec.required
        assert tool.description == defined[tool.name].description
    assert hooks.isError is False
    assert hooks.structuredContent == expected
    assert len(expected["rows"]) == 5
    assert _text(hooks) == expected["summary"]
    # The model's short form too (what chat's model reads): every field, at most 10 rows.
    short = hooks.content[1]
    assert isinstance(short, TextContent)
    assert json.loads(short.text) == expected
    # A long tool's progress reaches a client that asked for it, in order, before the result.
    assert persona.isError is False, _text(persona)
    assert heard == [
        (1.0, "Reading ad analyses, reviews, landing pages and offer variants"),
        (2.0, "Persona ready"),
    ]


async def test_another_organizations_user_gets_nothing_of_the_first(
    database_url: str, maya: Caller, leo: Caller, tmp_path: Path
) -> None:
    async with stdio_session(database_url, tmp_path, "--user", leo.email) as session:
        hooks = await session.call_tool("top_hooks", TOP_HOOKS_ARGS)
        brands = await session.call_tool("brands", {})
        smuggled = await session.call_tool("brands", {"user_id": str(maya.user_id)})

    assert hooks.isError is True
    assert hooks.structuredContent is None
    assert _text(hooks).startswith("No brand named 'Acme Pets'.")
    assert "Acme Pets" not in _text(hooks).removeprefix("No brand named 'Acme Pets'.")
    assert brands.isError is False
    assert brands.structuredContent is not None
    names = sorted(b["name"] for b in brands.structuredContent["brands"])
    assert names == ["Lumen Sleep", "Peak Fuel"]
    assert "Acme Pets" not in json.dumps([c.model_dump() for c in brands.content])
    # Identity never comes from arguments: there is no argument to name someone else.
    assert smuggled.isError is True
    assert _text(smuggled) == "Unknown argument 'user_id' for /brands. It takes: no arguments."


async def test_bad_arguments_and_unconfirmed_writes(
    db: Database, database_url: str, tmp_path: Path, shop: Shop
) -> None:
    product_id = shop.products["Joint Chews"]
    threshold = await _threshold(db, product_id)
    new_threshold = 65 if threshold != 65 else 60
    change = {"product": f"Joint Chews {shop.tag}", "threshold": new_threshold}
    async with stdio_session(database_url, tmp_path, "--user", shop.admin.email) as session:
        bad_metric = await session.call_tool("top_hooks", {"brand": shop.brand, "metric": "virality"})
        missing = await session.call_tool("top_hooks", {"days": 7})
        bad_type = await session.call_tool("top_hooks", {"brand": shop.brand, "days": "a week"})
        out_of_range = await session.call_tool("top_hooks", {"brand": shop.brand, "limit": 0})
        unknown = await session.call_tool("top_hook", {"brand": shop.brand})
        preview = await session.call_tool("template_auto", change)
        after_preview = await _threshold(db, product_id)
        confirmed = await session.call_tool("template_auto", {**change, "confirm": True})
        after_confirm = await _threshold(db, product_id)

    assert bad_metric.isError is True
    assert _text(bad_metric) == (
        "metric must be one of: hook_rate, hold_rate, thruplay_rate, ctr, cpa, roas (got 'virality')."
    )
    assert missing.isError is True
    assert _text(missing).startswith("/top_hooks needs brand.")
    assert bad_type.isError is True
    assert _text(bad_type) == "days must be a whole number (got 'a week')."
    assert out_of_range.isError is True
    assert _text(out_of_range) == "limit must be between 1 and 100 (got 0)."
    assert unknown.isError is True
    assert _text(unknown).startswith("Unknown tool 'top_hook'. The tools are: ")
    # A write previews first, exactly as in chat, and says how to confirm; only confirm:true writes.
    assert preview.isError is False
    assert "Nothing has changed yet" in _text(preview)
    assert after_preview == threshold
    hint = json.dumps({**change, "threshold": f"{new_threshold:g}", "confirm": True})
    assert f"Save: call template_auto with {hint}" in _text(preview)
    assert confirmed.isError is False
    assert _text(confirmed).startswith("Saved.")
    assert after_confirm == new_threshold


async def _threshold(db: Database, product_id: UUID) -> float:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select auto_template_threshold as t from products where id = %s", (product_id,)
        )
        row = await cur.fetchone()
    assert row is not None
    return float(row["t"])


@pytest.fixture
def http_server(database_url: str, tmp_path: Path, demo: object) -> Iterator[str]:
    """`viraltracker mcp --http` on 127.0.0.1 (a free port); its URL. Killed at the end."""
    with mcp_http_server(_env(database_url, tmp_path), tmp_path / "mcp-http.log") as url:
        yield url


_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
_ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
async def maya_token(db: Database, maya: Caller) -> AsyncIterator[CreatedToken]:
    """A token of Maya's for one test, deleted after it: the demo users keep only what was seeded."""
    async with db.as_owner() as conn:
        created = await create_token(conn, user=maya, name="Claude Desktop")
    yield created
    async with db.as_owner() as conn:
        await conn.execute("delete from api_tokens where id = %s", (created.token.id,))


async def test_http_with_a_bearer_token(
    db: Database, http_server: str, maya: Caller, maya_token: CreatedToken
) -> None:
    expected = await _chat_result(db, maya, TOP_HOOKS_SLASH)
    created = maya_token
    headers = {"Authorization": f"Bearer {created.secret}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as client,
        streamable_http_client(http_server, http_client=client) as (read, write, _),
        ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session,
    ):
        await session.initialize()
        hooks = await session.call_tool("top_hooks", TOP_HOOKS_ARGS)
    assert hooks.isError is False
    assert hooks.structuredContent == expected
    async with db.as_owner() as conn:
        cur = await conn.execute("select last_used_at from api_tokens where id = %s", (created.token.id,))
        used = await cur.fetchone()
    assert used is not None and used["last_used_at"] is not None

    async with httpx.AsyncClient(timeout=30) as client:
        missing = await client.post(http_server, json=_INITIALIZE, headers=_ACCEPT)
        wrong = await client.post(
            http_server, json=_INITIALIZE, headers={**_ACCEPT, "Authorization": "Bearer vt_not-a-real-token"}
        )
        async with db.as_owner() as conn:
            await revoke_token(conn, token_id=str(created.token.id))
        revoked = await client.post(http_server, json=_INITIALIZE, headers={**_ACCEPT, **headers})
    assert missing.status_code == 401
    assert missing.json()["error_description"].startswith("Missing bearer token")
    assert wrong.status_code == 401
    assert wrong.json()["error_description"].startswith("Unknown token")
    assert revoked.status_code == 401
    assert revoked.json()["error_description"].startswith("This token was revoked.")
    assert revoked.headers["www-authenticate"].startswith("Bearer")


def test_token_commands_show_the_secret_once(database_url: str, tmp_path: Path, shop: Shop) -> None:
    email = shop.admin.email
    created = run_cli(database_url, tmp_path, "token", "create", "--user", email, "--name", "CI")
    assert created.returncode == 0, created.stderr
    secret = next(line for line in created.stdout.splitlines() if line.startswith("vt_"))
    token_id = created.stdout.split("(id ")[1][:8]
    listed = run_cli(database_url, tmp_path, "token", "list", "--user", email)
    assert listed.returncode == 0, listed.stderr
    assert token_id in listed.stdout and "CI" in listed.stdout and "never" in listed.stdout
    assert secret not in listed.stdout and secret[:10] in listed.stdout
    revoked = run_cli(database_url, tmp_path, "token", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    assert f"Token 'CI' ({token_id}) is revoked" in revoked.stdout
    unknown = run_cli(database_url, tmp_path, "token", "revoke", "ffffffff")
    assert unknown.returncode == 2
    assert "No token with id 'ffffffff'" in unknown.stderr


async def test_stdio_with_a_token_keeps_stdout_for_the_protocol(
    db: Database, database_url: str, tmp_path: Path, shop: Shop
) -> None:
    """VIRALTRACKER_TOKEN names the person; every line on stdout is a JSON-RPC message."""
    async with db.as_owner() as conn:
        secret = (await create_token(conn, user=shop.member, name="stdio")).secret
    messages = [
        _INITIALIZE,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "brands", "arguments": {}}},
    ]
    process = await asyncio.create_subprocess_exec(
        CLI,
        "mcp",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(database_url, tmp_path, {"VIRALTRACKER_TOKEN": secret}),
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode())
        await process.stdin.drain()
        replies = [json.loads(await asyncio.wait_for(process.stdout.readline(), 60)) for _ in range(2)]
        process.stdin.close()
        rest, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert [r.get("id") for r in replies] == [1, 2]
    assert rest == b""
    brands = replies[1]["result"]["structuredContent"]["brands"]
    assert [b["name"] for b in brands] == [shop.brand]
    assert f"as {shop.member.email}" in stderr.decode()


def test_stdio_refuses_an_unknown_token(database_url: str, tmp_path: Path, demo: object) -> None:
    refused = subprocess.run(
        [CLI, "mcp"],
        input="",
        capture_output=True,
        text=True,
        env=_env(database_url, tmp_path, {"VIRALTRACKER_TOKEN": "vt_nope"}),
        timeout=120,
    )
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert "Unknown token" in refused.stderr
    nobody = subprocess.run(
        [CLI, "mcp"], input="", capture_output=True, text=True, env=_env(database_url, tmp_path), timeout=120
    )
    assert nobody.returncode == 2
    assert nobody.stdout == ""
    assert (
        "Say who is asking: --user EMAIL, VIRALTRACKER_TOKEN (their token), or set VIRALTRACKER_USER. The users here: "
        in " ".join(nobody.stderr.split())
    )
