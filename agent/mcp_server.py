"""`viraltracker mcp`: the tool registry as an MCP server (stdio, or streamable HTTP with a bearer token).

Every registered tool is listed with the schema the chat's model sees (the same function signature and
docstring) and runs with the same argument checks and `Deps` as in chat: identity comes from the
transport (the `--user`/token of the stdio process, the HTTP request's bearer token), never from a
tool argument. A tool's result is its full result model as structured content, plus its summary and
the model's short form as text; a refusal is a tool error with the message a person reads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from io import TextIOWrapper
from typing import Any, TextIO
from uuid import uuid4

import anyio
import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.session import ServerSession
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from pydantic_ai import ToolReturn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from agent.render import actions_of
from core.errors import DatabaseUnavailable, UserFacingError
from db.pool import Caller, Database
from services.calendar_days import PERSON_TIMEZONE, local_today
from services.platform.api_tokens import TokenRefused, caller_for_token
from settings import get_settings
from tools.deps import Deps
from tools.registry import ToolSpec, agent_tools, all_specs, get_spec, result_of

log = logging.getLogger(__name__)

SERVER_NAME = "viraltracker"
INSTRUCTIONS = (
    "ViralTracker answers questions about the caller's Meta ads: performance, hooks, congruence, "
    "templates, personas. Start with `brands` to see which brands the caller has. Tools that change "
    "something only preview unless called again with confirm: true; ask the person first."
)
HTTP_PATH = "/mcp"
# Where `request.scope` carries the person the HTTP request's bearer token stands for.
CALLER_KEY = "viraltracker.caller"
Progress = Callable[[str | None, str], None]
"""(tool call id, message): what `Deps.progress` is."""
UNEXPECTED = "Something went wrong on our side and has been logged. Please try again."


def tool_definitions() -> list[types.Tool]:
    """Every registered tool as MCP lists it: the name, description and argument schema the chat's
    model reads (pydantic-ai's definition of the same function: the docstring's Args become
    per-argument descriptions)."""
    defined = {t.name: t.tool_def for t in agent_tools()}
    out: list[types.Tool] = []
    for spec in all_specs():
        definition = defined[spec.name]
        out.append(
            types.Tool(
                name=spec.name,
                description=definition.description or spec.description,
                inputSchema=definition.parameters_json_schema,
            )
        )
    return out


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], isError=True)


def _unknown_tool(name: str) -> str:
    names = ", ".join(s.name for s in all_specs())
    return f"Unknown tool '{name}'. The tools are: {names}."


def _answer(answer: ToolReturn) -> types.CallToolResult:
    """The tool's full result as structured content; its summary, follow-ups and short form as text."""
    result = result_of(answer.return_value, answer.metadata)
    short = json.dumps(answer.return_value, default=str)
    if result is None:
        return types.CallToolResult(content=[types.TextContent(type="text", text=short)])
    lines = [str(getattr(result, "summary", "") or "Done.")]
    for action in actions_of(result):
        if action.tool is not None:
            lines.append(f"{action.label}: call {action.tool} with {json.dumps(action.args)}")
    return types.CallToolResult(
        content=[
            types.TextContent(type="text", text="\n".join(lines)),
            types.TextContent(type="text", text=short),
        ],
        structuredContent=result.model_dump(mode="json"),
    )


async def call_tool(
    *,
    db: Database,
    caller: Caller,
    name: str,
    arguments: dict[str, Any],
    today: date | None = None,
    progress: Progress | None = None,
) -> types.CallToolResult:
    """Run one registered tool as `caller`, exactly as the chat would (the same argument model, the
    same function, the same deps); refusals come back as tool errors with their message."""
    spec: ToolSpec | None = get_spec(name)
    if spec is None:
        return _error(_unknown_tool(name))
    now = None if today is not None else datetime.now(UTC)
    deps = Deps(
        db=db,
        caller=caller,
        today=today or local_today(now or datetime.now(UTC), PERSON_TIMEZONE),
        now=now,
        settings=get_settings(),
        progress=progress,
        tool_call_id=f"mcp_{uuid4().hex[:16]}",
    )
    try:
        answer = await spec.call(deps, arguments)
    except UserFacingError as error:
        return _error(error.message)
    except Exception:
        log.exception("MCP tool %s failed for %s", name, caller.email)
        return _error(UNEXPECTED)
    return _answer(answer)


@asynccontextmanager
async def _progress_notifications(
    session: ServerSession, token: str | int, request_id: str
) -> AsyncIterator[Progress]:
    """A long tool's progress ("Scored 40 of 100 templates") as MCP progress notifications for a client
    that asked (a progressToken), sent in order before the result; `report` may be called from any thread."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def report(call_id: str | None, message: str) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, message)

    async def send() -> None:
        count = 0
        while (message := await queue.get()) is not None:
            count += 1
            await session.send_progress_notification(
                token, float(count), message=message, related_request_id=request_id
            )

    sender = asyncio.create_task(send())
    try:
        yield report
    finally:
        loop.call_soon_threadsafe(queue.put_nowait, None)
        try:
            await sender
        except Exception:  # a client gone mid-call must not turn the result into an error
            log.warning("progress notifications stopped", exc_info=True)


def build_server(db: Database, *, caller: Caller | None = None) -> Server[Any, Any]:
    """The MCP server over the registry. With `caller` (stdio) every call is theirs; without, each
    HTTP request's bearer token says who is calling (`BearerAuth` put them in the request's scope)."""
    server: Server[Any, Any] = Server(SERVER_NAME, instructions=INSTRUCTIONS)
    tools = tool_definitions()

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return tools

    @server.call_tool(validate_input=False)
    async def handle_call(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        who = caller
        if who is None:
            request = server.request_context.request
            who = request.scope.get(CALLER_KEY) if request is not None else None
        if not isinstance(who, Caller):
            return _error("Not signed in: send Authorization: Bearer <token>.")
        context = server.request_context
        token = context.meta.progressToken if context.meta is not None else None
        if token is None:
            return await call_tool(db=db, caller=who, name=name, arguments=arguments or {})
        async with _progress_notifications(context.session, token, str(context.request_id)) as report:
            return await call_tool(db=db, caller=who, name=name, arguments=arguments or {}, progress=report)

    return server


def reserve_stdout() -> TextIO:
    """Keep the process's stdout for the protocol alone: returns a stream on the real stdout and points
    file descriptor 1 at stderr, so a stray print (ours, a library's, a child process's) can't corrupt it."""
    sys.stdout.flush()
    protocol = TextIOWrapper(os.fdopen(os.dup(1), "wb"), encoding="utf-8")
    os.dup2(2, 1)
    return protocol


async def serve_stdio(db: Database, caller: Caller, *, stdout: TextIO | None = None) -> None:
    """Serve MCP on stdin/stdout as `caller` until the client closes stdin (`stdout`: from `reserve_stdout`)."""
    server = build_server(db, caller=caller)
    async with stdio_server(stdout=anyio.wrap_file(stdout) if stdout is not None else None) as (read, write):
        await server.run(read, write, server.create_initialization_options())


class BearerAuth:
    """ASGI middleware: a request without a valid, unrevoked ViralTracker token gets a 401 that says why;
    otherwise the token's person goes into the request's scope for the tool calls to run as."""

    def __init__(self, app: Any, db: Database) -> None:
        self.app = app
        self.db = db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = ""
        for key, value in scope.get("headers", []):
            if key.lower() == b"authorization":
                header = value.decode("latin-1")
        scheme, _, secret = header.partition(" ")
        if not header:
            await _refuse(
                scope,
                receive,
                send,
                "Missing bearer token: send 'Authorization: Bearer <token>'."
                " Create a token with `viraltracker token create --user EMAIL`.",
            )
            return
        if scheme.lower() != "bearer" or not secret.strip():
            await _refuse(scope, receive, send, "The Authorization header must be 'Bearer <token>'.")
            return
        try:
            async with self.db.as_owner() as conn:
                who = await caller_for_token(conn, secret=secret.strip())
        except TokenRefused as refusal:
            await _refuse(scope, receive, send, refusal.message)
            return
        except DatabaseUnavailable as error:
            await _unavailable(scope, receive, send, error.message)
            return
        scope[CALLER_KEY] = who
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, message: str) -> None:
    response = JSONResponse(
        {"error": "invalid_token", "error_description": message},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )
    await response(scope, receive, send)


RETRY_AFTER_SECONDS = 5
ID_READ_LIMIT = 64 * 1024
"""Bytes of a request read to find its JSON-RPC id when the token can't be checked (no one is known yet)."""


async def _unavailable(scope: Scope, receive: Receive, send: Send, message: str) -> None:
    """A JSON-RPC error for the request (a 503 with Retry-After, as for any service that is briefly down)."""
    request_id = await _request_id(receive)
    error = types.JSONRPCError(
        jsonrpc="2.0",
        id=request_id if request_id is not None else "server-error",  # as the SDK answers an unknown id
        error=types.ErrorData(code=types.INTERNAL_ERROR, message=message),
    )
    response = JSONResponse(
        error.model_dump(mode="json", by_alias=True, exclude_none=True),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
    await response(scope, receive, send)


async def _request_id(receive: Receive) -> str | int | None:
    """The id of the JSON-RPC request in the body, if it is one and fits in `ID_READ_LIMIT`."""
    body, more = b"", True
    while more and len(body) <= ID_READ_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if more:
        return None
    try:
        found = json.loads(body).get("id")
    except (ValueError, AttributeError):  # not JSON, or a batch
        return None
    return found if isinstance(found, str | int) and not isinstance(found, bool) else None


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def http_app(db: Database, *, host: str = "127.0.0.1") -> Starlette:
    """The streamable HTTP endpoint at /mcp (stateless: any number of processes behind a load balancer,
    no sticky sessions; each request names its person by its token)."""
    server = build_server(db)
    security = (
        TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
        if host in LOOPBACK
        else None
    )
    manager = StreamableHTTPSessionManager(
        app=server, stateless=True, json_response=True, security_settings=security
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    endpoint = BearerAuth(manager.handle_request, db)
    return Starlette(routes=[Route(HTTP_PATH, endpoint=endpoint)], lifespan=lifespan)


async def serve_http(db: Database, *, host: str, port: int) -> None:
    """Serve MCP over streamable HTTP on host:port until interrupted."""
    import uvicorn

    config = uvicorn.Config(http_app(db, host=host), host=host, port=port, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()
