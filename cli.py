"""`viraltracker`: set up the database, seed demo data, onboard people, import, and chat from a shell."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table as RichTable

from services.errors import DatabaseUnavailable, UserFacingError
from settings import get_settings

T = TypeVar("T")

app = typer.Typer(
    help="ViralTracker Agent: ask questions about your Meta ads.", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database: start the embedded server and apply migrations.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
import_app = typer.Typer(help="Import data from files.", no_args_is_help=True)
sync_app = typer.Typer(help="Sync live sources.", no_args_is_help=True)
meta_app = typer.Typer(help="Meta ad accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(import_app, name="import")
app.add_typer(sync_app, name="sync")
app.add_typer(meta_app, name="meta")
jobs_app = typer.Typer(help="Background jobs: health, schedules, runs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
templates_app = typer.Typer(help="The template library: import, list, reviewers.", no_args_is_help=True)
app.add_typer(templates_app, name="templates")

# Piped output (not a terminal) gets wide lines instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)


def _setup_logging() -> None:
    from services.platform.server_files import touch_private

    settings = get_settings()
    touch_private(settings.log_file)  # owner-only, whatever the umask
    logging.basicConfig(
        filename=settings.log_file,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _run(work: Callable[[Any], Awaitable[T]], *, migrate_first: bool = True) -> T:
    """Open the database (embedded unless DATABASE_URL), optionally migrate, run `work(db)`."""
    from agent.observability import configure_tracing
    from db.migrate import migrate
    from db.pool import Database

    configure_tracing(get_settings())

    async def main() -> T:
        async with Database.from_settings() as db:
            if migrate_first:
                await migrate(db)
            return await work(db)

    _setup_logging()
    try:
        return asyncio.run(main())
    except DatabaseUnavailable as error:
        err.print(f"[red]{error.message}[/red]")  # the reason is in the log file
        raise typer.Exit(1) from None
    except UserFacingError as error:
        err.print(f"[red]{error.message}[/red]")
        raise typer.Exit(2) from None


@db_app.command("up")
def db_up() -> None:
    """Start the embedded Postgres if DATABASE_URL is not set, and apply pending migrations."""
    from db.migrate import migrate

    applied = _run(migrate, migrate_first=False)
    console.print(f"Migrations applied: {', '.join(applied) if applied else 'none (already up to date)'}")


@demo_app.command("seed")
def demo_seed(
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 7,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing if there is already data.")
    ] = False,
) -> None:
    """Load realistic demo data: 2 organizations, 4 brands, 300+ ads with 90 days of performance."""
    from services.platform.demo import seed_demo

    with console.status("Seeding demo data…") as status:
        summary = _run(
            lambda db: seed_demo(
                db, seed=seed, if_empty=if_empty, progress=lambda step: status.update(f"Seeding {step}…")
            )
        )
    if summary.skipped:
        console.print("Demo data already present; nothing changed.")
    else:
        console.print(
            f"Seeded {summary.organizations} organizations, {len(summary.brands)} brands ({', '.join(summary.brands)}), "
            f"{summary.ads} ads ({summary.classified_ads} classified), {summary.performance_rows:,} daily rows."
        )
    table = RichTable(title="Demo logins")
    for column in ("email", "password", "organization", "role"):
        table.add_column(column)
    for user in summary.users:
        table.add_row(user.email, user.password, user.organization, user.role)
    console.print(table)


@org_app.command("create")
def org_create(name: Annotated[str, typer.Argument(help="The organization's name.")]) -> None:
    """Create an organization (or confirm it exists)."""
    from services.platform.accounts import create_organization

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            return await create_organization(conn, name=name)

    org_id = _run(work)
    console.print(f"Organization '{name}' ready ({org_id}).")


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Argument(help="The person's email (their login).")],
    org: Annotated[str, typer.Option("--org", help="The organization they belong to.")],
    role: Annotated[str, typer.Option(help="admin or member.")] = "member",
    password: Annotated[
        str | None, typer.Option(help="Their password; one is generated and printed if omitted.")
    ] = None,
) -> None:
    """Add a user to an organization (creating the user if new)."""
    from services.platform.accounts import add_user, find_organization

    chosen = password or secrets.token_urlsafe(12)

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            org_id = await find_organization(conn, name=org)
            return await add_user(conn, email=email, organization_id=org_id, role=role, password=chosen)

    _run(work)
    console.print(f"{email} is a {role} of '{org}'.")
    if password is None:
        console.print(f"Generated password: {chosen}")


@import_app.command("meta-csv")
def import_meta_csv(
    file: Annotated[Path, typer.Argument(help="An Ads Manager export: daily breakdown, ad level, CSV.")],
    brand: Annotated[
        str, typer.Option("--brand", help="The brand these ads belong to (created if missing).")
    ],
    org: Annotated[
        str | None, typer.Option("--org", help="The brand's organization (needed when there are several).")
    ] = None,
) -> None:
    """Import an Ads Manager export (re-importing the same file changes nothing)."""
    from services.meta.csv_import import import_meta_csv as run_import

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Importing", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        summary = _run(lambda db: run_import(db, path=file, brand_name=brand, org_name=org, progress=step))
    created = " (new brand)" if summary.brand_created else ""
    console.print(
        f"Imported {summary.rows_read:,} rows into {summary.brand}{created} / {summary.organization}: "
        f"{summary.ads_created} new ads, {summary.ads_updated} already known; {summary.days_inserted:,} new ad-days, "
        f"{summary.days_updated:,} already present (refreshed); {summary.since} to {summary.until}."
    )


@import_app.command("reviews")
def import_reviews(
    file: Annotated[
        Path, typer.Argument(help="Amazon reviews, CSV or JSON (an export, a scraper's output).")
    ],
    brand: Annotated[str, typer.Option("--brand", help="The brand the reviews are about.")],
    product: Annotated[str | None, typer.Option("--product", help="The brand's product they review.")] = None,
    org: Annotated[
        str | None, typer.Option("--org", help="The brand's organization, if names repeat.")
    ] = None,
) -> None:
    """Import Amazon reviews for a brand (re-importing the same file adds nothing)."""
    from services.research.reviews import import_reviews as run_import

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Importing reviews", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = _run(
            lambda db: run_import(db, None, path=file, brand=brand, product=product, org=org, progress=step)
        )
    console.print(result.summary, markup=False, highlight=False)


@meta_app.command("link")
def meta_link(
    brand: Annotated[str, typer.Option("--brand", help="The brand the ad account belongs to.")],
    account: Annotated[str, typer.Option("--account", help="The ad account ID, act_1234567890.")],
) -> None:
    """Link a brand to an ad account read with META_SYSTEM_USER_TOKEN (checked with Meta first)."""
    from services.meta.sync import link_account

    linked = _run(lambda db: link_account(db, None, brand_name=brand, account=account))
    console.print(linked.summary)


@sync_app.command("meta")
def sync_meta(
    brand: Annotated[str, typer.Option("--brand", help="The brand whose linked ad accounts to sync.")],
    days: Annotated[
        int | None,
        typer.Option(help="Fetch this many days back instead of resuming from the last sync."),
    ] = None,
    ads_only: Annotated[
        bool, typer.Option("--ads-only", help="Only the ads and their landing pages, no daily results.")
    ] = False,
) -> None:
    """Sync a brand's ads and daily ad-level insights from Meta (incremental; re-runs never duplicate)."""
    from services.meta.sync import MetaSync
    from services.process import calm_garbage_collector

    calm_garbage_collector()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Meta sync", total=1.0)

        def step(what: str, done: float) -> None:
            progress.update(task, description=what, completed=done)

        result = _run(lambda db: MetaSync(db, None, progress=step).run(brand, days=days, ads_only=ads_only))
    console.print(result.summary, markup=False, highlight=False)
    if not result.ok:
        raise typer.Exit(1)


_WIDE_COLUMNS = ("hook_text", "ad_name", "ad", "landing_page", "note", "text", "title", "message", "error")


def _print_turn(turn: Any) -> None:
    from agent.render import actions_of, files_of, tables_for

    console.print(turn.text, markup=False, highlight=False)
    for result in turn.results:
        for table in tables_for(result):
            rich_table = RichTable(title=table.title, show_lines=False)
            for column in table.columns:
                wide = column in _WIDE_COLUMNS
                rich_table.add_column(column, overflow="fold", max_width=48 if wide else None)
            for row in table.rows:
                rich_table.add_row(*row)
            console.print(rich_table)
        for _, path in files_of(result):  # exports (blueprints): the file to open
            console.print(f"File: {path}", markup=False, highlight=False)
        hints = [a.hint for a in actions_of(result) if a.hint]
        if hints:
            console.print("\n".join(hints), markup=False, highlight=False)


async def _caller(db: Any, email: str) -> Any:
    from services.platform.accounts import find_caller

    async with db.as_owner() as conn:
        return await find_caller(conn, email=email)


@app.command()
def ask(
    message: Annotated[
        str,
        typer.Argument(help="A question or a slash command, e.g. '/top_hooks brand:\"Acme Pets\" days:30'."),
    ],
    user: Annotated[str, typer.Option("--user", help="Who is asking (their email).")],
    as_json: Annotated[bool, typer.Option("--json", help='Print {"text", "tool_calls"} as JSON.')] = False,
) -> None:
    """Answer one message through the same pipeline as the chat (exit 2 when a command is refused)."""
    from agent.build import configured_model
    from agent.runner import run_turn

    async def work(db: Any) -> Any:
        caller = await _caller(db, user)
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
        str | None, typer.Option("--user", help="Who is chatting (email); defaults to the first demo user.")
    ] = None,
) -> None:
    """Chat in the terminal (history and line editing; Ctrl-D or /quit to leave)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    from agent.build import configured_model, model_label
    from agent.runner import run_turn
    from services.platform.demo import DEMO_USERS
    from services.platform.server_files import touch_private

    settings = get_settings()
    email = user or DEMO_USERS[0].email
    model = configured_model(settings)

    async def work(db: Any) -> None:
        caller = await _caller(db, email)
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


@app.command()
def chat(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Start the chat app (Chainlit) on the same database: log in with a demo user and chat."""
    import os

    import uvicorn

    from db.migrate import migrate

    settings = get_settings()
    _run(migrate, migrate_first=False)
    console.print(f"ViralTracker chat on http://{host}:{port}  (Ctrl-C to stop)")
    console.print("Demo logins: maya@northwind.example / northwind-demo, leo@summit.example / summit-demo")
    # Chainlit reads its signing key from the environment, and its .chainlit/ folder, chainlit.md
    # and the sessions' .files/ from the working directory (both read when it is first imported).
    os.environ["CHAINLIT_AUTH_SECRET"] = settings.auth_secret()
    os.chdir(Path(__file__).resolve().parent)
    # The app's log lines on stdout as well as in the log file, as they were under `chainlit run`.
    console_log = logging.StreamHandler(sys.stdout)
    console_log.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(name)s - %(message)s"))
    logging.getLogger().addHandler(console_log)
    from web import web_app

    # One worker: socket.io sessions live in this process (scale with processes, sticky sessions).
    uvicorn.run(web_app(), host=host, port=port, log_level="error", ws="auto", ws_per_message_deflate=True)


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


@templates_app.command("import")
def templates_import(
    sources: Annotated[
        list[str], typer.Argument(help="Image files, folders of images, or http(s) addresses of images.")
    ],
    category: Annotated[str | None, typer.Option(help="e.g. ugc, testimonial, before_after, offer.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="static, carousel, story or video.")] = None,
    tags: Annotated[str | None, typer.Option(help="Comma-separated tags.")] = None,
    source: Annotated[str | None, typer.Option(help="Where they come from, e.g. 'Meta Ad Library'.")] = None,
    description: Annotated[str | None, typer.Option(help="A description for every template.")] = None,
) -> None:
    """Import template images into the pending review queue (a folder's templates.json or
    templates.csv gives per-file metadata; re-importing the same image changes nothing)."""
    from services.templates.library import TemplateMeta, import_templates

    given = {"category": category, "format": fmt, "source": source, "description": description}
    meta = TemplateMeta(**{k: v for k, v in given.items() if v}, tags=(tags or "").split(","))
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Importing templates", total=1.0)

        def step(what: str, done: float) -> None:
            progress.update(task, description=what, completed=done)

        result = _run(
            lambda db: import_templates(db, refs=sources, settings=get_settings(), meta=meta, progress=step)
        )
    for item in result.items:
        mark = {"imported": "+", "already_had": "=", "refused": "x"}[item.outcome]
        console.print(f"{mark} {item.message}", markup=False, highlight=False)
    console.print(result.summary, markup=False, highlight=False)
    if result.refused:
        raise typer.Exit(1)


@templates_app.command("list")
def templates_list(
    status: Annotated[str | None, typer.Option(help="pending, approved or rejected (default: all).")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
) -> None:
    """The template library as the operator sees it (every status), newest first, with image files."""
    from services.templates.library import list_templates, template_file

    if status not in (None, "pending", "approved", "rejected"):
        err.print(f"[red]--status must be pending, approved or rejected (got '{status}').[/red]")
        raise typer.Exit(2)

    async def work(db: Any) -> Any:
        async with db.as_service() as conn:
            return await list_templates(conn, status=status, category=category, limit=limit)

    found = _run(work)
    table = RichTable(title=f"{len(found)} template(s)")
    for column in ("id", "name", "status", "category, format", "tags", "size", "image"):
        table.add_column(column, overflow="fold")
    settings = get_settings()
    for t in found:
        size = f"{t.width}×{t.height}" if t.width and t.height else ""
        kind = ", ".join(x for x in (t.category, t.format) if x)
        image = template_file(settings, t.image_path) or ""
        table.add_row(str(t.id)[:8], t.name or "", t.status, kind, ", ".join(t.tags), size, image)
    console.print(table)


@templates_app.command("reviewer")
def templates_reviewer(
    email: Annotated[str, typer.Argument(help="The person's email (an existing user).")],
    remove: Annotated[bool, typer.Option("--remove", help="Take the role back.")] = False,
) -> None:
    """Let someone review the template library (approve or reject pending templates), or stop them."""
    from services.templates.library import set_reviewer

    async def work(db: Any) -> bool:
        async with db.as_owner() as conn:
            return await set_reviewer(conn, email=email, remove=remove)

    changed = _run(work)
    if remove:
        console.print(f"{email} {'no longer reviews' if changed else 'was not a reviewer of'} templates.")
    else:
        console.print(f"{email} {'now reviews' if changed else 'already reviews'} templates.")


@app.command("mcp")
def mcp_serve(
    user: Annotated[
        str | None,
        typer.Option("--user", help="stdio: who is calling (their email); else VIRALTRACKER_TOKEN's person."),
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
    if user is None and token is None:
        err.print("[red]Say who is calling: --user EMAIL, or set VIRALTRACKER_TOKEN to their token.[/red]")
        raise typer.Exit(2)
    protocol = reserve_stdout()

    async def work(db: Any) -> None:
        if user is not None:
            caller = await _caller(db, user)
        else:
            async with db.as_owner() as conn:
                caller = await caller_for_token(conn, secret=token or "")
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
