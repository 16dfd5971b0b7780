"""The `viraltracker` command's app, its sub-command groups, output and the database runner."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table as RichTable

from core.errors import DatabaseUnavailable, SetupError, UserFacingError
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
rates_app = typer.Typer(
    help="Currency rates an organization keeps, to add up accounts in other currencies.", no_args_is_help=True
)
app.add_typer(rates_app, name="rates")
templates_app = typer.Typer(help="The template library: import, list, reviewers.", no_args_is_help=True)
app.add_typer(templates_app, name="templates")

# Piped output (not a terminal) gets wide lines instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)


_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_terminal = {"verbose": False}
"""`--verbose`: the libraries' log lines in the terminal too (set by the app's callback)."""


@app.callback()
def _options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show log lines (pgserver, uvicorn, Chainlit, httpx…) in the terminal too.",
        ),
    ] = False,
) -> None:
    _terminal["verbose"] = verbose


def _setup_logging(*, terminal_level: int | None = None) -> None:
    """Every log line (INFO and up) to the log file; to stderr only from `terminal_level` up, or all of
    them with --verbose. Called again (the chat, a test), it replaces its own handlers."""
    from services.platform.server_files import touch_private

    settings = get_settings()
    touch_private(settings.log_file)  # owner-only, whatever the umask
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "viraltracker", False)]:
        root.removeHandler(handler)
        handler.close()
    to_file = logging.FileHandler(settings.log_file)
    handlers: list[logging.Handler] = [to_file]
    if _terminal["verbose"] or terminal_level is not None:
        to_terminal = logging.StreamHandler(sys.stderr)
        to_terminal.setLevel(logging.INFO if _terminal["verbose"] else terminal_level or logging.WARNING)
        handlers.append(to_terminal)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        handler.viraltracker = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.INFO)


def _fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, then exit `code` (no traceback)."""
    err.print(message, style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


async def _open_database() -> Any:
    """The database, open: the embedded one started (or attached), else DATABASE_URL's. A `SetupError`
    naming the cause and the fix when it can't be."""
    import psycopg
    from psycopg_pool import PoolTimeout

    from db.diagnose import open_failure
    from db.pool import Database

    settings = get_settings()
    db = Database.from_settings(settings)
    try:
        await db.open()
    except DatabaseUnavailable as error:
        cause = error.__cause__ or error
        raise SetupError(open_failure(db.url, cause) if settings.database_url else error.message) from None
    except (psycopg.Error, PoolTimeout) as error:
        raise SetupError(open_failure(db.url, error)) from None
    return db


def _run(work: Callable[[Any], Awaitable[T]], *, migrate_first: bool = True) -> T:
    """Open the database (embedded unless DATABASE_URL), optionally migrate, run `work(db)`."""
    from db.migrate import migrate
    from services.platform.observability import configure_tracing

    configure_tracing(get_settings())

    async def main() -> T:
        db = await _open_database()
        try:
            if migrate_first:
                await migrate(db)
            return await work(db)
        finally:
            await db.close()

    _setup_logging()
    try:
        return asyncio.run(main())
    except SetupError as error:
        _fail(error.message)  # the details are in the log file
    except DatabaseUnavailable as error:
        _fail(error.message)
    except UserFacingError as error:
        _fail(error.message, 2)


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


async def _default_caller(db: Any, email: str | None, *, flag: str = "--user EMAIL") -> Any:
    """--user's person, else VIRALTRACKER_USER's, else the only user (several: a message naming them)."""
    from services.platform.accounts import default_caller

    async with db.as_owner() as conn:
        return await default_caller(conn, email=email or get_settings().default_user, flag=flag)


def main() -> None:
    app()
