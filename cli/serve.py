"""`viraltracker` commands that run things: ask, shell, chat, worker, jobs status, mcp, token."""

from __future__ import annotations

import errno
import json
import logging
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from cli.base import (
    _caller,
    _default_caller,
    _fail,
    _print_turn,
    _run,
    _setup_logging,
    _terminal,
    app,
    console,
    err,
    jobs_app,
)
from core.errors import SetupError
from settings import get_settings


@app.command()
def ask(
    message: Annotated[
        str,
        typer.Argument(help="A question or a slash command, e.g. '/top_hooks brand:\"Acme Pets\" days:30'."),
    ],
    user: Annotated[
        str | None,
        typer.Option(
            "--user", help="Who is asking (their email); default VIRALTRACKER_USER, or the only user."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"text", "tool_calls"} as JSON.')] = False,
) -> None:
    """Answer one message through the same pipeline as the chat (exit 2 when a command is refused)."""
    from agent.slash import is_slash

    async def work(db: Any) -> Any:
        caller = await _default_caller(db, user)
        if is_slash(message):  # the tool it names, without the agent: the same answer, sooner
            from agent.slash_turn import answer_slash

            return await answer_slash(db=db, caller=caller, message=message)
        from agent.build import configured_model
        from agent.runner import run_turn

        return await run_turn(db=db, caller=caller, message=message, model=configured_model(get_settings()))

    turn = _run(work)
    if as_json:
        sys.stdout.write(json.dumps(turn.model_dump(mode="json", include={"text", "tool_calls"})) + "\n")
    else:
        _print_turn(turn)
    if turn.refused:
        raise typer.Exit(2)


@app.command()
def shell(
    user: Annotated[
        str | None,
        typer.Option("--user", help="Who is chatting (email); default VIRALTRACKER_USER, or the only user."),
    ] = None,
) -> None:
    """Chat in the terminal (history and line editing; Ctrl-D or /quit to leave)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    from agent.build import configured_model, model_label
    from agent.runner import run_turn
    from services.platform.server_files import touch_private

    settings = get_settings()
    model = configured_model(settings)

    async def work(db: Any) -> None:
        caller = await _default_caller(db, user)
        console.print(
            f"Signed in as {caller.email}. Model: {model_label(model)}. Type /help, or /quit to leave."
        )
        if model is None:
            console.print(
                "Offline mode understands slash commands and simple questions; set ANTHROPIC_API_KEY or GEMINI_API_KEY for full conversation."
            )
        session: PromptSession[str] = PromptSession(
            history=FileHistory(str(touch_private(settings.viraltracker_home / "shell_history")))
        )
        history: list[Any] = []
        while True:
            try:
                text = await session.prompt_async("you> ")
            except (EOFError, KeyboardInterrupt):
                break
            if not text.strip():
                continue
            if text.strip() in ("/quit", "/exit"):
                break
            with console.status("Thinking…"):
                turn = await run_turn(db=db, caller=caller, message=text, history=history, model=model)
            history = turn.messages
            _print_turn(turn)

    _run(work)


DEMO_LOGINS = "Demo logins: maya@northwind.example / northwind-demo, leo@summit.example / summit-demo"


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (handed to uvicorn, so nothing can take the port in between), or the
    reason it can't be, with the fix, as a `SetupError`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no conflict
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise SetupError(
                f"Port {port} is in use: stop the other program or pass --port {port + 1}"
            ) from None
        if error.errno == errno.EACCES:
            raise SetupError(f"Port {port} needs administrator rights here: pass --port 8000") from None
        raise SetupError(
            f"Cannot listen on {host}:{port} ({error.strerror}): pass another --host or --port"
        ) from None
    sock.set_inheritable(True)
    return sock


@app.command()
def chat(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show every log line here too (else only problems).")
    ] = False,
) -> None:
    """Start the chat app (Chainlit) on the same database: log in with a demo user and chat."""
    import os

    import uvicorn

    from db.migrate import migrate

    settings = get_settings()
    _terminal["verbose"] = _terminal["verbose"] or verbose
    try:
        sock = listening_socket(host, port)
    except SetupError as error:
        _fail(error.message)
    try:
        _run(migrate, migrate_first=False)
    except typer.Exit:
        sock.close()
        raise
    # Chainlit reads its signing key from the environment, and its .chainlit/ folder and chainlit.md
    # from the working directory (both read when it is first imported); session files: agent/chainlit_tuning.
    os.environ["CHAINLIT_AUTH_SECRET"] = settings.auth_secret()
    os.chdir(Path(__file__).resolve().parent.parent)  # the project folder, where app.py and .chainlit/ are
    # The app's problems in the terminal; everything (uvicorn's, Chainlit's, pgserver's) in the log file.
    _setup_logging(terminal_level=logging.WARNING)
    from web import web_app

    class Announcing(uvicorn.Server):
        """Prints the address only once the server accepts connections."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                console.print(f"ViralTracker chat on http://{host}:{port}  (Ctrl-C to stop)")
                console.print(DEMO_LOGINS)

    # One worker: socket.io sessions live in this process (scale with processes, sticky sessions).
    # log_config=None: uvicorn's lines go through ours (the log file), not its own terminal handlers.
    config = uvicorn.Config(
        web_app(), host=host, port=port, log_config=None, access_log=False, ws="auto",
        ws_per_message_deflate=True,
    )  # fmt: skip
    try:
        Announcing(config).run(sockets=[sock])
    except SystemExit as stop:
        if stop.code not in (0, None):  # uvicorn exits 3 when the app's startup fails
            _fail(
                f"The chat app did not start: the reason is in {settings.log_file} (or run with --verbose)."
            )
    finally:
        sock.close()


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Jobs this worker runs at once.")] = 4,
    queues: Annotated[
        str | None, typer.Option(help="Comma-separated queues to take jobs from (default: all).")
    ] = None,
    import_modules: Annotated[
        list[str] | None,
        typer.Option("--import", help="A module that registers more job types (plugins); repeatable."),
    ] = None,
) -> None:
    """Run a background job worker until Ctrl-C / SIGTERM (start any number, anywhere, same database).

    It needs a session-mode or direct connection (LISTEN/NOTIFY): JOBS_DATABASE_URL if DATABASE_URL
    is a transaction pooler."""
    import importlib

    from jobs.worker import run_worker

    for module in import_modules or []:
        importlib.import_module(module)
    # job_runs records every run; procrastinate's two log lines per job would cost more than a no-op job.
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    names = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    console.print(f"Job worker: {concurrency} at a time, queues {', '.join(names) if names else 'all'}")
    _run(lambda db: run_worker(db, get_settings(), concurrency=concurrency, queues=names))


@jobs_app.command("status")
def jobs_status() -> None:
    """Queue health: jobs waiting (and the oldest), running, stalled, failures in the last 24 h."""
    from jobs.api import health

    report = _run(lambda db: health(db, stalled_after=get_settings().jobs_stalled_seconds))
    table = RichTable(show_header=False)
    table.add_column()
    table.add_column(justify="right")
    table.add_row("Waiting", f"{report.waiting:,}")
    oldest = report.oldest_waiting_seconds
    table.add_row("Oldest waiting", f"{oldest:,.0f} s" if oldest is not None else "-")
    table.add_row("Waiting to retry", f"{report.retry_waiting:,}")
    table.add_row("Running", f"{report.running:,}")
    table.add_row("Stalled", f"{report.stalled:,}")
    table.add_row("Live workers", f"{report.workers:,}")
    table.add_row("Succeeded (24 h)", f"{report.succeeded_24h:,}")
    table.add_row("Failed (24 h)", f"{report.failed_24h:,}")
    table.add_row("Schedules on", f"{report.schedules_enabled:,}")
    upcoming = report.next_schedule_at
    table.add_row("Next scheduled run", f"{upcoming:%Y-%m-%d %H:%M} UTC" if upcoming else "-")
    console.print(table)
    console.print(report.summary, markup=False, highlight=False)


@app.command("mcp")
def mcp_serve(
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            help="stdio: who is calling (their email); else VIRALTRACKER_TOKEN's person, VIRALTRACKER_USER,"
            " or the only user.",
        ),
    ] = None,
    http: Annotated[
        bool, typer.Option("--http", help="Serve streamable HTTP (bearer tokens) instead of stdio.")
    ] = False,
    host: Annotated[str, typer.Option(help="--http: the interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="--http: the port to listen on.")] = 8765,
) -> None:
    """Serve the tools over MCP (Claude Desktop or any MCP client): stdio as one person, or HTTP at /mcp
    where each request's `Authorization: Bearer <token>` says who is calling."""
    from agent.mcp_server import reserve_stdout, serve_http, serve_stdio
    from services.platform.api_tokens import caller_for_token

    settings = get_settings()
    # The mcp library logs every request at INFO; the log file needs only its problems.
    logging.getLogger("mcp").setLevel(logging.WARNING)
    if http:
        if user is not None:
            err.print("[red]Over HTTP each request's bearer token says who is calling: drop --user.[/red]")
            raise typer.Exit(2)
        console.print(f"ViralTracker MCP on http://{host}:{port}/mcp  (Ctrl-C to stop)")
        _run(lambda db: serve_http(db, host=host, port=port))
        return
    token = settings.api_token.get_secret_value() if settings.api_token else None
    protocol = reserve_stdout()

    async def work(db: Any) -> None:
        if user is None and token is not None:
            async with db.as_owner() as conn:
                caller = await caller_for_token(conn, secret=token)
        else:
            caller = await _default_caller(db, user, flag="--user EMAIL, VIRALTRACKER_TOKEN (their token)")
        err.print(f"ViralTracker MCP (stdio) as {caller.email}", markup=False, highlight=False)
        await serve_stdio(db, caller, stdout=protocol)

    _run(work)


token_app = typer.Typer(help="Access tokens for the MCP server's HTTP transport.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", help="Whose token it is (their email).")],
    name: Annotated[str, typer.Option(help="What it is for, e.g. 'Claude Desktop'.")] = "MCP client",
) -> None:
    """Create a token for one person (shown once: only its hash is kept)."""
    from services.platform.api_tokens import create_token

    async def work(db: Any) -> Any:
        caller = await _caller(db, user)
        async with db.as_owner() as conn:
            return await create_token(conn, user=caller, name=name)

    created = _run(work)
    console.print(
        f"Token '{created.token.name}' for {user} (id {str(created.token.id)[:8]}). It is shown only now:",
        markup=False,
        highlight=False,
    )
    console.print(created.secret, markup=False, highlight=False)
    console.print("Send it as 'Authorization: Bearer <token>' to `viraltracker mcp --http`.", markup=False)


@token_app.command("list")
def token_list(user: Annotated[str, typer.Option("--user", help="Whose tokens (their email).")]) -> None:
    """A person's tokens (never the secrets): id, name, start of the token, created, last used, revoked."""
    from services.platform.api_tokens import list_tokens

    async def work(db: Any) -> Any:
        caller = await _caller(db, user)
        async with db.as_owner() as conn:
            return await list_tokens(conn, user=caller)

    found = _run(work)
    table = RichTable(title=f"{len(found)} token(s) for {user}")
    for column in ("id", "name", "token", "created", "last used", "revoked"):
        table.add_column(column, overflow="fold")
    for t in found:
        table.add_row(
            str(t.id)[:8],
            t.name,
            f"{t.token_prefix}…",
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "",
        )
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (its first 6+ characters).")],
) -> None:
    """Revoke a token: requests with it are refused from now on."""
    from services.platform.api_tokens import revoke_token

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            return await revoke_token(conn, token_id=token_id)

    revoked = _run(work)
    console.print(
        f"Token '{revoked.name}' ({str(revoked.id)[:8]}) is revoked: requests with it are refused.",
        markup=False,
        highlight=False,
    )
