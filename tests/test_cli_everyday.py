"""The everyday command line, as a person at a terminal meets it: failures in one line with the fix and a
non-zero exit, a quiet chat that prints its address once it listens, a default person, and `doctor`.

Most run the CLI in this process (typer's runner); two start the real `viraltracker chat`."""

from __future__ import annotations

import asyncio
import logging
import os
import selectors
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from typer.testing import CliRunner, Result

from cli import app
from cli.doctor import Check, python_check
from core.errors import SetupError
from db.migrate import MIGRATIONS_DIR, migrate
from db.pool import Caller, Database
from services.platform.accounts import add_user, create_organization
from settings import get_settings
from tests.cli_helpers import CLI, free_port

OFFLINE = {
    "ANTHROPIC_API_KEY": None,
    "GEMINI_API_KEY": None,
    "GOOGLE_API_KEY": None,
    "VIRALTRACKER_MODEL": None,
    "VIRALTRACKER_USER": None,
    "VIRALTRACKER_TOKEN": None,
}
UNSET_KEYS = {
    "META_APP_ID": None,
    "META_APP_SECRET": None,
    "META_SYSTEM_USER_TOKEN": None,
    "SLACK_BOT_TOKEN": None,
    "SLACK_SIGNING_SECRET": None,
    "VIRALTRACKER_STORAGE_BUCKET": None,
    "SUPABASE_URL": None,
    "SUPABASE_SERVICE_ROLE_KEY": None,
}


def one_line(text: str) -> str:
    return " ".join(text.split())


def viraltracker(home: Path, *args: str, **env: str | None) -> Result:
    """`viraltracker ARGS` in this process, with its own home, offline, and `env` on top."""
    root = logging.getLogger()
    level = root.level
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), env={"VIRALTRACKER_HOME": str(home), **OFFLINE, **env})
    finally:
        get_settings.cache_clear()
        for handler in [h for h in root.handlers if getattr(h, "viraltracker", False)]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)  # the rest of the suite logs as it did


# -- 1. failures are loud ------------------------------------------------------------------------


def test_a_busy_port_is_one_line_naming_the_fix_and_exit_1(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = viraltracker(tmp_path, "chat", "--port", str(port))
    assert result.exit_code == 1
    assert result.stderr == f"Port {port} is in use: stop the other program or pass --port {port + 1}\n"
    assert result.stdout == ""  # no address printed for a server that never listened


def _broken_embedded_home(home: Path) -> Path:
    """A home whose embedded database can't start (its configuration file is garbled): its pgdata."""
    pgdata = home / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("16\n")
    (pgdata / "postgresql.conf").write_text("shared_buffers = = 1\n")
    return pgdata


def test_an_embedded_database_that_will_not_start_says_why_and_exits_1(tmp_path: Path) -> None:
    pgdata = _broken_embedded_home(tmp_path)
    result = viraltracker(tmp_path, "db", "up", DATABASE_URL=None)
    assert result.exit_code == 1
    assert result.stderr == (
        f'The embedded database in {pgdata} did not start: configuration file "{pgdata}/postgresql.conf"'
        f" contains errors. Fix what its log ({pgdata}/log) says, or set DATABASE_URL to use another"
        " Postgres.\n"
    )
    assert result.stdout == ""


def _url_with(url: str, **changes: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info.update(changes)
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in info.items() if v is not None})


def test_a_bad_database_url_names_the_cause_and_the_fix(database_url: str, tmp_path: Path) -> None:
    socket_dir = psycopg.conninfo.conninfo_to_dict(database_url)["host"]
    cases = {
        "notaurl": 'DATABASE_URL is not a Postgres URL (missing "=" after "notaurl" in connection info string):'
        " write it as postgresql://USER:PASSWORD@HOST:5432/DATABASE, or unset it to use the embedded database.",
        "postgresql://app:secret-pw@127.0.0.1:1/shop": "Cannot reach the database at 127.0.0.1:1/shop"
        " (DATABASE_URL): start that server or fix the URL's host and port, or unset DATABASE_URL to use the"
        " embedded database.",
        _url_with(
            database_url, dbname="no_such_db"
        ): f"There is no database 'no_such_db' at {socket_dir}:5432"
        "/no_such_db: create it (createdb no_such_db) or fix DATABASE_URL.",
        _url_with(
            database_url, user="nobody_here", password="secret-pw"
        ): f"The database at {socket_dir}:5432"
        f"/{psycopg.conninfo.conninfo_to_dict(database_url)['dbname']} refused the login in DATABASE_URL:"
        " check its user name and password.",
    }
    for url, message in cases.items():
        result = viraltracker(tmp_path, "db", "up", DATABASE_URL=url)
        assert (result.exit_code, result.stderr) == (1, message + "\n"), url
        assert "secret-pw" not in result.stderr


@pytest.fixture
async def from_the_future(own_db: Database) -> AsyncIterator[str]:
    """The module's database as a newer version left it: a migration this code does not ship."""
    name = "29990101000000_from_a_newer_version.sql"
    async with own_db.as_owner() as conn:
        await conn.execute("insert into schema_migrations (version) values (%s)", (name,))
    try:
        yield name
    finally:
        async with own_db.as_owner() as conn:
            await conn.execute("delete from schema_migrations where version = %s", (name,))


async def test_a_database_migrated_by_a_newer_version_is_refused(
    own_db: Database, from_the_future: str, tmp_path: Path
) -> None:
    result = await asyncio.to_thread(viraltracker, tmp_path, "db", "up", DATABASE_URL=own_db.url)
    assert result.exit_code == 1
    assert result.stderr == (
        f"The database has 1 migration(s) this version of ViralTracker does not have (latest {from_the_future}):"
        " update ViralTracker to the version that applied them, or use another database.\n"
    )


async def test_a_failing_migration_says_which_and_keeps_nothing(own_db: Database, tmp_path: Path) -> None:
    for path in MIGRATIONS_DIR.glob("*.sql"):
        (tmp_path / path.name).symlink_to(path)
    (tmp_path / "29990101000000_broken.sql").write_text("create table half_made (id int);\nnonsense here;\n")
    with pytest.raises(SetupError) as refused:
        await migrate(own_db, migrations_dir=tmp_path)
    assert refused.value.message == (
        'Migration 29990101000000_broken.sql failed: syntax error at or near "nonsense". Fix it, then run'
        " `viraltracker db up` again."
    )
    async with own_db.as_owner() as conn:
        cur = await conn.execute("select to_regclass('public.half_made') is null as gone")
        assert (await cur.fetchone()) == {"gone": True}


# -- 2. success is quiet -------------------------------------------------------------------------


def _chat(database_url: str, home: Path, *flags: str) -> tuple[list[str], str, subprocess.Popen[bytes]]:
    """`viraltracker chat` on a free port until it prints its logins: its stdout lines, its address; the
    process (still running) for the caller to stop. Asserts the address answers as soon as it is printed."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "VIRALTRACKER_HOME": str(home)}
    for key in OFFLINE:
        env.pop(key, None)
    process = subprocess.Popen(
        [CLI, "chat", "--port", str(port), *flags], env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    lines: list[str] = []
    pending = b""
    deadline = time.monotonic() + 90
    assert process.stdout is not None
    out = process.stdout.fileno()  # read the pipe itself: a buffered reader could hold a line back
    with selectors.DefaultSelector() as waiting:
        waiting.register(out, selectors.EVENT_READ)
        while not lines or not lines[-1].startswith("Demo logins"):
            assert time.monotonic() < deadline, f"no address in 90 s: {lines}"
            if not waiting.select(timeout=1):
                continue
            chunk = os.read(out, 65536)
            assert chunk, f"chat stopped: {lines}"
            *complete, pending = (pending + chunk).split(b"\n")
            for line in (c.decode() for c in complete):
                lines.append(line)
                if line.startswith("ViralTracker chat on"):
                    with socket.create_connection(("127.0.0.1", port), timeout=2):
                        pass  # printed only once the server listens
    return lines, f"http://127.0.0.1:{port}", process


def _stop(process: subprocess.Popen[bytes]) -> str:
    process.terminate()
    try:
        _, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate(timeout=10)
    return stderr.decode()


def test_chat_is_quiet_and_ends_with_the_address_and_the_logins(database_url: str, tmp_path: Path) -> None:
    lines, address, process = _chat(database_url, tmp_path)
    stderr = _stop(process)
    assert lines == [
        f"ViralTracker chat on {address}  (Ctrl-C to stop)",
        "Demo logins: maya@northwind.example / northwind-demo, leo@summit.example / summit-demo",
    ]
    assert "INFO" not in stderr
    assert "INFO uvicorn.error: Application startup complete." in (tmp_path / "viraltracker.log").read_text()


def test_verbose_shows_the_libraries_log_lines(tmp_path: Path) -> None:
    port = str(free_port())
    _broken_embedded_home(tmp_path / "quiet")
    quiet = viraltracker(tmp_path / "quiet", "chat", "--port", port, DATABASE_URL=None)
    assert quiet.exit_code == 1 and len(quiet.stderr.splitlines()) == 1  # the failure alone
    for flags in (["chat", "--port", port, "--verbose"], ["--verbose", "db", "up"]):
        home = tmp_path / flags[0].strip("-")
        _broken_embedded_home(home)  # a server of its own: pgserver keeps one handle per folder per process
        shown = viraltracker(home, *flags, DATABASE_URL=None)
        assert shown.exit_code == 1
        assert "INFO pgserver: PG_VERSION file found, skipping initdb" in shown.stderr, flags
        assert shown.stderr.splitlines()[-1].startswith("The embedded database in"), flags


# -- 3. fast one-off commands -------------------------------------------------------------------

HEAVY = (
    "chainlit", "uvicorn", "fastapi", "mcp", "slack_sdk", "aiohttp", "google.genai", "plotly", "prompt_toolkit",
    "pydantic_ai", "anthropic", "numpy", "tools.patterns", "tools.ad_creation",
)  # fmt: skip
"""Libraries (and tool modules) `ask` has no use for (a slash command, offline): each costs 0.05-0.4 s to
import."""


def test_ask_imports_none_of_the_heavy_libraries(database_url: str, tmp_path: Path, maya: Caller) -> None:
    # Three commands in one process (the README's examples and /usage): what any of them imported stays.
    probe = (
        "import sys\nfrom cli import main\ncodes, user = [], sys.argv[1:3]\n"
        "for command in ('/brands', '/top_hooks brand:\"Acme Pets\" days:30', '/usage'):\n"
        "    sys.argv[1:] = ['ask', command, *user]\n    try:\n        main()\n"
        "    except SystemExit as done:\n        codes.append(done.code)\n"
        f"sys.stderr.write(repr((codes, sorted(m for m in {HEAVY!r} if m in sys.modules))))"
    )
    env = {**os.environ, "DATABASE_URL": database_url, "VIRALTRACKER_HOME": str(tmp_path)}
    for key in OFFLINE:
        env.pop(key, None)
    done = subprocess.run(
        [sys.executable, "-c", probe, "--user", maya.email],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert "Acme Pets" in done.stdout, done.stderr
    assert "Top 10 hooks for Acme Pets" in done.stdout, done.stdout
    assert done.stderr.splitlines()[-1] == "([0, 0, 0], [])"


# -- 4. a default person -------------------------------------------------------------------------


async def _person(db: Database, email: str, brand: str) -> None:
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Org of {email}")
        await add_user(conn, email=email, organization_id=org, role="admin")
        await conn.execute("insert into brands (organization_id, name) values (%s, %s)", (org, brand))


async def test_ask_runs_as_the_only_user_then_needs_a_choice(own_db: Database, tmp_path: Path) -> None:
    def ask(**env: str) -> Result:
        return viraltracker(tmp_path, "ask", "/brands", DATABASE_URL=own_db.url, **env)

    none = await asyncio.to_thread(ask)
    assert (none.exit_code, one_line(none.stderr)) == (
        2,
        "There are no users yet: add one with `viraltracker user add EMAIL --org NAME` (or load the demo"
        " with `viraltracker demo seed`).",
    )
    tag = uuid4().hex[:6]
    await _person(own_db, f"solo-{tag}@one.example", f"Solo {tag}")
    only = await asyncio.to_thread(ask)
    assert only.exit_code == 0, only.stderr
    assert f"Solo {tag}" in only.stdout
    await _person(own_db, f"duo-{tag}@two.example", f"Duo {tag}")
    several = await asyncio.to_thread(ask)
    assert (several.exit_code, one_line(several.stderr)) == (
        2,
        f"Say who is asking: --user EMAIL, or set VIRALTRACKER_USER. The users here: duo-{tag}@two.example,"
        f" solo-{tag}@one.example.",
    )
    chosen = await asyncio.to_thread(ask, VIRALTRACKER_USER=f"duo-{tag}@two.example")
    assert chosen.exit_code == 0, chosen.stderr
    assert f"Duo {tag}" in chosen.stdout and f"Solo {tag}" not in chosen.stdout


# -- 5. doctor -----------------------------------------------------------------------------------

PYTHON = ".".join(map(str, sys.version_info[:3]))
ALL_KEYS = {
    "ANTHROPIC_API_KEY": "sk-ant-doctor-secret",
    "GEMINI_API_KEY": "gemini-doctor-secret",
    "META_APP_ID": "1234",
    "META_APP_SECRET": "meta-doctor-secret",
    "SLACK_BOT_TOKEN": "xoxb-doctor-secret",
    "SLACK_SIGNING_SECRET": "slack-doctor-secret",
    "VIRALTRACKER_STORAGE_BUCKET": "creatives",
    "SUPABASE_URL": "http://127.0.0.1:9",
    "SUPABASE_SERVICE_ROLE_KEY": "supabase-doctor-secret",
}


async def test_doctor_on_a_ready_install_says_ok_to_everything(own_db: Database, tmp_path: Path) -> None:
    async with own_db.as_owner() as conn:
        cur = await conn.execute("select procrastinate_register_worker_v1() as id")  # as a worker starts
        worker = await cur.fetchone()
    assert worker is not None
    port = free_port()
    try:
        result = await asyncio.to_thread(
            viraltracker, tmp_path, "doctor", "--port", str(port), DATABASE_URL=own_db.url, **ALL_KEYS
        )
    finally:
        async with own_db.as_owner() as conn:
            await conn.execute("select procrastinate_unregister_worker_v1(%s)", (worker["id"],))
    where = own_db.url.split("host=")[-1]
    assert result.stdout.splitlines() == [
        f"ok    Python      Python {PYTHON} in the virtual environment {sys.prefix}.",
        f"ok    Database    DATABASE_URL ({where}:5432/{psycopg.conninfo.conninfo_to_dict(own_db.url)['dbname']}):"
        " reachable.",
        "ok    Migrations  all applied.",
        "ok    pgvector    vector 0.6.2 installed.",
        "ok    Worker      1 job worker(s) alive; 0 job(s) waiting.",
        f"ok    Port        127.0.0.1:{port} is free for `viraltracker chat`.",
        "ok    Model       anthropic:claude-sonnet-4-6: full conversation.",
        "ok    Gemini      GEMINI_API_KEY set: generated ad images and Gemini embeddings.",
        "ok    Meta app    META_APP_ID and META_APP_SECRET set: people connect ad accounts.",
        "ok    Slack       SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET set: the Slack bot and posts.",
        "ok    Storage     Supabase Storage bucket creatives.",
        f"ok    Chromium    {shutil.which('chromium')} (for the browser tests).",
        "Ready: nothing failed, 0 warning(s).",
    ]
    assert result.exit_code == 0
    assert "secret" not in result.stdout


@pytest.fixture
def unmigrated(database_url: str) -> Iterator[str]:
    """A new, empty database on the test server (no migrations, no pgvector)."""
    name = f"vt_bare_{uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        yield _url_with(database_url, dbname=name)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def test_doctor_names_each_broken_part_and_its_fix(unmigrated: str, tmp_path: Path) -> None:
    port = free_port()
    shipped = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = viraltracker(
            tmp_path, "doctor", "--port", str(port), DATABASE_URL=unmigrated, PATH=str(tmp_path),
            **{**UNSET_KEYS, "META_APP_ID": "1234", "VIRALTRACKER_STORAGE_BUCKET": "creatives"},
        )  # fmt: skip
    lines = result.stdout.splitlines()
    assert lines[1:] == [
        f"ok    Database    DATABASE_URL ({unmigrated.split('host=')[-1]}:5432/{unmigrated.split('dbname=')[1].split()[0]}):"
        " reachable.",
        f"warn  Migrations  {len(shipped)} not applied yet (first: {shipped[0]}). Fix: `viraltracker db up` (the"
        " chat applies them when it starts).",
        "fail  pgvector    vector 0.6.2 is available but not installed in this database. Fix: `viraltracker db up`"
        " installs it (Supabase: Database → Extensions → vector).",
        "warn  Worker      not checked: the job tables come with the migrations. Fix: `viraltracker db up`.",
        f"warn  Port        Port {port} is in use on 127.0.0.1 (the chat already running, or another program)."
        f" Fix: stop it, or run `viraltracker chat --port {port + 1}`.",
        "warn  Model       no model key: offline (slash commands and simple questions only). Fix: set"
        " ANTHROPIC_API_KEY (or GEMINI_API_KEY) for full conversation.",
        "warn  Gemini      no key: ads get offline previews; patterns use the local embedding model. Fix: set"
        " GEMINI_API_KEY for generated images.",
        "fail  Meta app    META_APP_ID is set without META_APP_SECRET. Fix: set META_APP_SECRET too.",
        "warn  Slack       not connected: no Slack bot or posts. Fix: set SLACK_BOT_TOKEN.",
        "fail  Storage     VIRALTRACKER_STORAGE_BUCKET is set without SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY."
        " Fix: set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY, or unset VIRALTRACKER_STORAGE_BUCKET.",
        "warn  Chromium    not installed: the browser tests can't run. Fix: `make chromium`.",
        "3 failed (pgvector, Meta app, Storage), 7 warning(s).",
    ]
    assert result.exit_code == 1


def test_doctor_with_an_unreachable_database(tmp_path: Path) -> None:
    result = viraltracker(tmp_path, "doctor", DATABASE_URL="postgresql://app:pw@127.0.0.1:1/shop")
    lines = result.stdout.splitlines()
    assert lines[1:5] == [
        "fail  Database    Cannot reach the database at 127.0.0.1:1/shop (DATABASE_URL): start that server or fix"
        " the URL's host and port, or unset DATABASE_URL to use the embedded database.",
        "warn  Migrations  not checked: the database could not be opened (above).",
        "warn  pgvector    not checked: the database could not be opened (above).",
        "warn  Worker      not checked: the database could not be opened (above).",
    ]
    assert result.exit_code == 1


def test_doctor_python_check() -> None:
    assert python_check(version=(3, 12, 1), prefix="/app/.venv", base_prefix="/usr") == Check(
        "ok", "Python", "Python 3.12.1 in the virtual environment /app/.venv."
    )
    assert python_check(version=(3, 12, 1), prefix="/usr", base_prefix="/usr").line() == (
        "warn  Python      Python 3.12.1, not in a virtual environment. Fix: `make install`, then run"
        " .venv/bin/viraltracker."
    )
    assert python_check(version=(3, 10, 4), prefix="/app/.venv", base_prefix="/usr").line() == (
        "fail  Python      Python 3.10.4: ViralTracker needs 3.11 to 3.13. Fix: install Python 3.11+, then"
        " `make install`."
    )
