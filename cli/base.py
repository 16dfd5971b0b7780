"""The `viraltracker` command's app, its sub-command groups, output and the database runner."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table as RichTable

from core.errors import DatabaseUnavailable, UserFacingError
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
    from db.migrate import migrate
    from db.pool import Database
    from services.platform.observability import configure_tracing

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


def main() -> None:
    app()
