"""`viraltracker doctor`: is this install ready? One line per check (ok, warn or fail) with the fix."""

from __future__ import annotations

import asyncio
import shutil
import sys
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import typer

from cli.base import app, console
from core.errors import SetupError
from settings import Settings, get_settings

Status = Literal["ok", "warn", "fail"]
NEEDS_DATABASE = "not checked: the database could not be opened (above)."


@dataclass(frozen=True)
class Check:
    status: Status
    name: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.status:<5} {self.name:<11} {self.detail}" + (f" Fix: {self.fix}" if self.fix else "")


def python_check(*, version: tuple[int, int, int], prefix: str, base_prefix: str) -> Check:
    """Python 3.11-3.13, run from a virtual environment (`make install` makes `.venv`)."""
    shown = ".".join(map(str, version))
    if not (3, 11) <= version[:2] <= (3, 13):
        return Check(
            "fail", "Python", f"Python {shown}: ViralTracker needs 3.11 to 3.13.",
            "install Python 3.11+, then `make install`.",
        )  # fmt: skip
    if prefix == base_prefix:
        return Check(
            "warn", "Python", f"Python {shown}, not in a virtual environment.",
            "`make install`, then run .venv/bin/viraltracker.",
        )  # fmt: skip
    return Check("ok", "Python", f"Python {shown} in the virtual environment {prefix}.")


def port_check(host: str, port: int) -> Check:
    """Whether `viraltracker chat` could listen on host:port now."""
    from cli.serve import listening_socket

    try:
        listening_socket(host, port).close()
    except SetupError as error:
        return Check(
            "warn", "Port", f"{error.message.split(':')[0]} on {host} (the chat already running, or another"
            " program).", f"stop it, or run `viraltracker chat --port {port + 1}`.",
        )  # fmt: skip
    return Check("ok", "Port", f"{host}:{port} is free for `viraltracker chat`.")


def key_checks(settings: Settings) -> list[Check]:
    """Which keys are set (never their values) and what each turns on."""
    from services.llm.model_choice import configured_model

    checks: list[Check] = []
    model = configured_model(settings)
    if model is None:
        checks.append(Check(
            "warn", "Model", "no model key: offline (slash commands and simple questions only).",
            "set ANTHROPIC_API_KEY (or GEMINI_API_KEY) for full conversation.",
        ))  # fmt: skip
    else:
        checks.append(Check("ok", "Model", f"{model}: full conversation."))
    gemini = (
        "GEMINI_API_KEY" if settings.gemini_api_key else "GOOGLE_API_KEY" if settings.google_api_key else ""
    )
    if gemini:
        checks.append(Check("ok", "Gemini", f"{gemini} set: generated ad images and Gemini embeddings."))
    else:
        checks.append(Check(
            "warn", "Gemini", "no key: ads get offline previews; patterns use the local embedding model.",
            "set GEMINI_API_KEY for generated images.",
        ))  # fmt: skip
    app_id, app_secret = bool(settings.meta_app_id), settings.meta_app_secret is not None
    if app_id != app_secret:
        have, missing = ("META_APP_ID", "META_APP_SECRET") if app_id else ("META_APP_SECRET", "META_APP_ID")
        checks.append(Check("fail", "Meta app", f"{have} is set without {missing}.", f"set {missing} too."))
    elif app_id:
        checks.append(
            Check("ok", "Meta app", "META_APP_ID and META_APP_SECRET set: people connect ad accounts.")
        )
    elif settings.meta_system_user_token is not None:
        checks.append(Check("ok", "Meta app", "META_SYSTEM_USER_TOKEN set: ad accounts sync with it."))
    else:
        checks.append(Check(
            "warn", "Meta app", "no Meta app: no live sync (CSV imports still work).",
            "set META_APP_ID and META_APP_SECRET (or META_SYSTEM_USER_TOKEN).",
        ))  # fmt: skip
    bot, signing = settings.slack_bot_token is not None, settings.slack_signing_secret is not None
    if bot and signing:
        checks.append(
            Check("ok", "Slack", "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET set: the Slack bot and posts.")
        )
    elif bot:
        checks.append(Check(
            "warn", "Slack", "SLACK_BOT_TOKEN set: posts to Slack work, the bot does not answer.",
            "set SLACK_SIGNING_SECRET for the bot.",
        ))  # fmt: skip
    else:
        checks.append(Check("warn", "Slack", "not connected: no Slack bot or posts.", "set SLACK_BOT_TOKEN."))
    if settings.storage_bucket:
        unset = [n for n, v in (("SUPABASE_URL", settings.supabase_url),
                                  ("SUPABASE_SERVICE_ROLE_KEY", settings.supabase_service_role_key)) if not v]  # fmt: skip
        if unset:
            checks.append(Check(
                "fail", "Storage", f"VIRALTRACKER_STORAGE_BUCKET is set without {' and '.join(unset)}.",
                f"set {' and '.join(unset)}, or unset VIRALTRACKER_STORAGE_BUCKET.",
            ))  # fmt: skip
        else:
            checks.append(Check("ok", "Storage", f"Supabase Storage bucket {settings.storage_bucket}."))
    else:
        checks.append(
            Check("ok", "Storage", f"files in {settings.viraltracker_home / 'assets'} (this machine).")
        )
    return checks


async def database_checks(settings: Settings) -> list[Check]:
    """Reachable, migrations current, pgvector present, a job worker alive."""
    from cli.base import _open_database
    from db.diagnose import where
    from db.migrate import migration_state, newer_database
    from jobs.api import health

    which = f"DATABASE_URL ({where(settings.database_url)})" if settings.database_url else (
        f"embedded Postgres in {settings.pgdata}"
    )  # fmt: skip
    try:
        db = await _open_database()
    except SetupError as error:
        return [
            Check("fail", "Database", error.message),
            *(Check("warn", name, NEEDS_DATABASE) for name in ("Migrations", "pgvector", "Worker")),
        ]
    checks = [Check("ok", "Database", f"{which}: reachable.")]
    try:
        state = await migration_state(db)
        if state.unknown:
            checks.append(Check("fail", "Migrations", newer_database(state.unknown)))
        elif state.pending:
            checks.append(Check(
                "warn", "Migrations", f"{len(state.pending)} not applied yet (first: {state.pending[0]}).",
                "`viraltracker db up` (the chat applies them when it starts).",
            ))  # fmt: skip
        else:
            checks.append(Check("ok", "Migrations", "all applied."))
        async with db.as_owner() as conn:
            cur = await conn.execute(
                "select (select extversion from pg_extension where extname = 'vector') as installed,"
                " (select default_version from pg_available_extensions where name = 'vector') as available"
            )
            row: dict[str, Any] = dict(await cur.fetchone() or {})
        if row.get("installed"):
            checks.append(Check("ok", "pgvector", f"vector {row['installed']} installed."))
        elif row.get("available"):
            checks.append(Check(
                "fail", "pgvector", f"vector {row['available']} is available but not installed in this database.",
                "`viraltracker db up` installs it (Supabase: Database → Extensions → vector).",
            ))  # fmt: skip
        else:
            checks.append(Check(
                "fail", "pgvector", "this Postgres server has no pgvector.",
                "install pgvector on the server, or use the embedded database (unset DATABASE_URL).",
            ))  # fmt: skip
        if state.pending:
            checks.append(Check("warn", "Worker", "not checked: the job tables come with the migrations.",
                                "`viraltracker db up`."))  # fmt: skip
        else:
            report = await health(db, stalled_after=settings.jobs_stalled_seconds)
            if report.workers:
                checks.append(
                    Check(
                        "ok",
                        "Worker",
                        f"{report.workers} job worker(s) alive; {report.waiting} job(s) waiting.",
                    )
                )
            else:
                runs_one = (
                    "the chat app runs one itself, or start" if settings.database_url is None else "start"
                )
                checks.append(Check(
                    "warn", "Worker", f"no job worker alive: syncs, classification and schedules wait ({report.waiting} waiting).",
                    f"{runs_one} `viraltracker worker`.",
                ))  # fmt: skip
    finally:
        await db.close()
    return checks


def chromium_check() -> Check:
    found = shutil.which("chromium")
    if found is None:
        return Check("warn", "Chromium", "not installed: the browser tests can't run.", "`make chromium`.")
    return Check("ok", "Chromium", f"{found} (for the browser tests).")


@app.command()
def doctor(
    port: Annotated[int, typer.Option(help="The port `viraltracker chat` will use.")] = 8000,
    host: Annotated[str, typer.Option(help="The interface `viraltracker chat` will use.")] = "127.0.0.1",
) -> None:
    """Check this install: Python, the database, the chat's port, keys, a job worker, chromium (exit 1 on a fail)."""
    from cli.base import _setup_logging

    settings = get_settings()
    _setup_logging()
    checks = [
        python_check(
            version=(sys.version_info.major, sys.version_info.minor, sys.version_info.micro),
            prefix=sys.prefix,
            base_prefix=sys.base_prefix,
        ),
        *asyncio.run(database_checks(settings)),
        port_check(host, port),
        *key_checks(settings),
        chromium_check(),
    ]
    for check in checks:
        console.print(check.line(), markup=False, highlight=False, soft_wrap=True)
    failed = [c.name for c in checks if c.status == "fail"]
    warned = sum(c.status == "warn" for c in checks)
    console.print(
        f"{len(failed)} failed ({', '.join(failed)}), {warned} warning(s)." if failed
        else f"Ready: nothing failed, {warned} warning(s).",
        markup=False, highlight=False,
    )  # fmt: skip
    if failed:
        raise typer.Exit(1)
