"""The `viraltracker` command as another program (or a person in a shell) uses it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from db.pool import Caller, Database
from tests.cli_helpers import run_cli
from tests.oracle import last_days, metric, primary_hook, raw_ads


async def test_ask_json_prints_text_and_tool_calls(
    database_url: str, tmp_path: Path, db: Database, maya: Caller
) -> None:
    done = run_cli(
        database_url,
        tmp_path,
        "ask",
        '/top_hooks brand:"Acme Pets" days:30 limit:3',
        "--user",
        maya.email,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    payload: dict[str, Any] = json.loads(done.stdout)
    assert set(payload) == {"text", "tool_calls"}
    [call] = payload["tool_calls"]
    assert call["tool"] == "top_hooks" and call["args"] == {"brand": "Acme Pets", "days": 30, "limit": 3}
    assert call["error"] is None
    row = call["result"]["rows"][0]
    for key in ("meta_ad_id", "ad_name", "spend", "impressions", "link_clicks", "purchases", "purchase_value",
                "ctr", "cpc", "cpm", "cpa", "roas", "hook_rate", "hold_rate", "thruplay_rate"):  # fmt: skip
        assert key in row
    ads = await raw_ads(db, "Acme Pets", *last_days(30))
    best = max(
        (a for a in ads.values() if a["format"] == "video" and a["spend"] >= 50 and primary_hook(a["cls"])),
        key=lambda a: (metric(a, "hook_rate") or 0, a["spend"]),
    )
    assert row["meta_ad_id"] == best["meta_ad_id"]
    assert row["hook_rate"] == pytest.approx(metric(best, "hook_rate"))


def test_ask_prints_a_table_for_people(database_url: str, tmp_path: Path, maya: Caller) -> None:
    done = run_cli(
        database_url, tmp_path, "ask", '/congruence_summary brand:"Acme Pets"', "--user", maya.email
    )
    assert done.returncode == 0, done.stderr
    assert "Congruence by dimension" in done.stdout
    for dimension in ("product", "offer", "angle", "benefits", "claims", "audience", "voice_tone"):
        assert dimension in done.stdout


def test_refused_command_exits_2_with_the_message(database_url: str, tmp_path: Path, maya: Caller) -> None:
    done = run_cli(
        database_url, tmp_path, "ask", '/top_hooks brand:"Acme Pet"', "--user", maya.email, "--json"
    )
    assert done.returncode == 2
    payload = json.loads(done.stdout)
    assert payload["text"] == "No brand named 'Acme Pet'. Did you mean 'Acme Pets'?"
    assert "Traceback" not in done.stdout + done.stderr


def test_unknown_user_is_told_how_to_add_one(database_url: str, tmp_path: Path, demo: object) -> None:
    done = run_cli(database_url, tmp_path, "ask", "/brands", "--user", "nobody@example.com")
    assert done.returncode == 2
    assert "No user with email 'nobody@example.com'." in done.stderr
    assert "Traceback" not in done.stderr


def test_onboarding_org_and_user(database_url: str, tmp_path: Path, demo: object) -> None:
    assert run_cli(database_url, tmp_path, "org", "create", "Cli Test Org").returncode == 0
    added = run_cli(
        database_url,
        tmp_path,
        "user",
        "add",
        "new@cli.example",
        "--org",
        "Cli Test Org",
        "--password",
        "pw-123456",
    )
    assert added.returncode == 0, added.stderr
    asked = run_cli(database_url, tmp_path, "ask", "/brands", "--user", "new@cli.example", "--json")
    assert json.loads(asked.stdout)["tool_calls"][0]["result"]["brands"] == []
    missing = run_cli(database_url, tmp_path, "user", "add", "x@cli.example", "--org", "Nope Org")
    assert missing.returncode == 2
    assert "No organization named 'Nope Org'." in missing.stderr


def test_help_is_readable(database_url: str, tmp_path: Path) -> None:
    done = run_cli(database_url, tmp_path, "--help")
    assert done.returncode == 0
    for command in ("db", "demo", "org", "user", "import", "ask", "shell"):
        assert command in done.stdout


def test_import_then_ask_about_the_imported_brand(database_url: str, tmp_path: Path, demo: object) -> None:
    source = Path(__file__).parent / "fixtures" / "meta_ads_export.csv"
    # Same export, other ad ids: the CSV import tests own the fixture's ids.
    fixture = tmp_path / "export.csv"
    fixture.write_bytes(source.read_bytes().replace(b"1202100", b"1202177"))
    assert run_cli(database_url, tmp_path, "org", "create", "Cli Import Org").returncode == 0
    assert (
        run_cli(
            database_url, tmp_path, "user", "add", "imp@cli.example", "--org", "Cli Import Org"
        ).returncode
        == 0
    )
    done = run_cli(
        database_url,
        tmp_path,
        "import",
        "meta-csv",
        str(fixture),
        "--brand",
        "Cli Import Brand",
        "--org",
        "Cli Import Org",
    )
    assert done.returncode == 0, done.stderr
    assert "Imported" in done.stdout and "(new brand)" in done.stdout
    again = run_cli(
        database_url,
        tmp_path,
        "import",
        "meta-csv",
        str(fixture),
        "--brand",
        "Cli Import Brand",
        "--org",
        "Cli Import Org",
    )
    said = " ".join(again.stdout.split())
    assert "0 new ads, 3 already known; 0 new ad-days, 9 already present" in said
    asked = run_cli(database_url, tmp_path, "ask", "/brands", "--user", "imp@cli.example", "--json")
    [brand] = json.loads(asked.stdout)["tool_calls"][0]["result"]["brands"]
    assert brand["name"] == "Cli Import Brand" and brand["ads"] > 0 and brand["classified_ads"] == 0
    wrong = run_cli(
        database_url,
        tmp_path,
        "import",
        "meta-csv",
        str(source.parent / "not_an_ads_export.csv"),
        "--brand",
        "Other",
        "--org",
        "Cli Import Org",
    )
    assert wrong.returncode == 2
    assert "doesn't look like an Ads Manager daily ad-level export" in wrong.stderr
