"""The Meta sync's pieces that need no server: token encryption, account IDs, and reading Meta's rows."""

from __future__ import annotations

import json
import logging
import stat
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from core.errors import ConfigurationError, InvalidArgument
from services.meta.connections import normalize_account_id
from services.meta.rows import (
    INSIGHT_ROWS,
    ad_row,
    canonical_url,
    copy_line,
    destination_urls,
    performance_row,
)
from services.meta.vault import TokenVault
from settings import Settings


def _settings(tmp_path: Path, **env: str | None) -> Settings:
    values: dict[str, object] = {
        "VIRALTRACKER_HOME": tmp_path,
        "DATABASE_URL": None,
        "VIRALTRACKER_SECRET_KEY": None,
    }
    return Settings(**{**values, **env})


def test_tokens_are_encrypted_with_a_key_generated_once_and_kept_owner_only(tmp_path: Path) -> None:
    vault = TokenVault.from_settings(_settings(tmp_path))
    stored = vault.encrypt("EAAB-secret-token")
    assert "EAAB-secret-token" not in stored
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # The next process reads the same key and can decrypt.
    again = TokenVault.from_settings(_settings(tmp_path))
    token = again.decrypt(stored)
    assert token.get_secret_value() == "EAAB-secret-token"
    assert "EAAB" not in repr(token) and "EAAB" not in str(token)


def test_keys_rotate_and_a_wrong_key_says_what_to_do(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = TokenVault.from_settings(_settings(tmp_path, VIRALTRACKER_SECRET_KEY=old)).encrypt("tok")
    rotated = TokenVault.from_settings(_settings(tmp_path, VIRALTRACKER_SECRET_KEY=f"{new},{old}"))
    assert rotated.decrypt(stored).get_secret_value() == "tok"
    with pytest.raises(ConfigurationError, match="can't be decrypted with this VIRALTRACKER_SECRET_KEY"):
        TokenVault.from_settings(_settings(tmp_path, VIRALTRACKER_SECRET_KEY=new)).decrypt(stored)
    with pytest.raises(ConfigurationError, match="is not a valid key"):
        TokenVault.from_settings(_settings(tmp_path, VIRALTRACKER_SECRET_KEY="not-a-key"))


def test_a_production_database_needs_the_key_set(tmp_path: Path) -> None:
    settings = _settings(tmp_path, DATABASE_URL="postgresql://db.example.com/app")
    with pytest.raises(ConfigurationError, match="Set VIRALTRACKER_SECRET_KEY"):
        TokenVault.from_settings(settings)
    assert not (tmp_path / "secret.key").exists()


def test_account_ids_are_normalised_or_refused_clearly() -> None:
    assert normalize_account_id(" act_1234567890 ") == "act_1234567890"
    assert normalize_account_id("1234567890") == "act_1234567890"
    for bad in ("act_", "acct_123456", "12a45678", "act_12"):
        with pytest.raises(
            InvalidArgument, match=r"is not a Meta ad account ID\. It looks like act_1234567890"
        ):
            normalize_account_id(bad)


def test_an_insights_row_is_read_as_meta_means_it() -> None:
    row = {
        "ad_id": "120210000000001",
        "date_start": "2026-11-20",
        "spend": "123.456",
        "impressions": "10000",
        "reach": "8000",
        "clicks": "300",
        "inline_link_clicks": "240",
        "actions": [
            {"action_type": "link_click", "value": "240"},
            {"action_type": "video_view", "value": "2500"},
            {"action_type": "add_to_cart", "value": "12"},
            {"action_type": "omni_add_to_cart", "value": "14"},
            {"action_type": "purchase", "value": "5"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "5"},
            {"action_type": "omni_purchase", "value": "6"},
        ],
        "action_values": [
            {"action_type": "purchase", "value": "250.00"},
            {"action_type": "omni_purchase", "value": "300.50"},
        ],
        # Any start of the video: not the 3-second views.
        "video_play_actions": [{"action_type": "video_view", "value": "7000"}],
        "video_thruplay_watched_actions": [{"action_type": "video_view", "value": "900"}],
        "video_p25_watched_actions": [{"action_type": "video_view", "value": "2000"}],
        "video_p50_watched_actions": [{"action_type": "video_view", "value": "1200"}],
        "video_p75_watched_actions": [{"action_type": "video_view", "value": "800"}],
        "video_p100_watched_actions": [{"action_type": "video_view", "value": "400"}],
    }
    assert performance_row(row) == (
        "120210000000001",
        date(2026, 11, 20),
        Decimal("123.46"),
        10000,
        8000,
        300,
        240,
        14,  # omni (all channels, deduplicated) rather than a sum of overlapping types
        6,
        Decimal("300.50"),
        2500,
        900,
        2000,
        1200,
        800,
        400,
    )
    image = performance_row({"ad_id": "9", "date_start": "2026-11-20", "spend": "1", "impressions": "5"})
    assert image[6:] == (0, 0, 0, Decimal("0.00"), 0, 0, 0, 0, 0, 0)
    # A page is read as typed rows straight from its bytes; the same row reads the same.
    rows, paging = INSIGHT_ROWS.read(
        json.dumps({"data": [row], "paging": {"cursors": {"after": "c2"}, "next": "u"}})
    )
    assert [performance_row(r) for r in rows] == [performance_row(row)]
    assert (paging.after, paging.next) == ("c2", "u")


def test_an_odd_field_or_row_never_fails_a_page() -> None:
    good = {
        "ad_id": "7",
        "ad_name": "Tab\there",
        "date_start": "2026-11-20",
        "spend": "2.50",
        "impressions": "40",
        "actions": [{"action_type": "video_view", "value": "12"}],
    }
    odd = {**good, "ad_id": "8", "actions": "not a list", "impressions": "12.0", "spend": "1.005"}
    page = json.dumps({"data": [good, odd, {"ad_id": "9"}, {"date_start": "2026-11-20"}, "junk"]})
    rows, paging = INSIGHT_ROWS.read(page)
    lines = [line for line in map(copy_line, rows) if line is not None]
    assert lines == [
        ("7", "2026-11-20", "Tab\\there\t7\t2026-11-20\t2.50\t40\t0\t0\t0\t0\t0\t0.00\t12\t0\t0\t0\t0\t0\n"),
        # a list that is not one reads as absent; 12.0 impressions are 12; money is kept to the cent
        ("8", "2026-11-20", "Tab\\there\t8\t2026-11-20\t1.00\t12\t0\t0\t0\t0\t0\t0.00\t0\t0\t0\t0\t0\t0\n"),
    ]
    assert paging.next is None


def test_destinations_are_found_in_every_creative_shape_and_canonicalised() -> None:
    carousel = {
        "object_story_spec": {
            "link_data": {
                "link": "https://www.acme.example/collections/chews?utm_source=fb&utm_campaign=x",
                "child_attachments": [
                    {"link": "https://acme.example/products/joint-chews/?fbclid=abc"},
                    {"link": "https://acme.example/products/calming-chews?variant=2#reviews"},
                ],
            }
        }
    }
    urls = destination_urls(carousel)
    assert len(urls) == 3
    assert [canonical_url(u) for u in urls] == [
        "https://acme.example/collections/chews",
        "https://acme.example/products/joint-chews",
        "https://acme.example/products/calming-chews?variant=2",
    ]
    dynamic = {"asset_feed_spec": {"link_urls": [{"website_url": "https://acme.example/pages/quiz"}]}}
    assert destination_urls(dynamic) == ["https://acme.example/pages/quiz"]
    assert ad_row({"id": "1", "creative": carousel})["format"] == "carousel"
    assert ad_row({"id": "2", "creative": {"video_id": "77", "object_type": "VIDEO"}})["format"] == "video"
    assert ad_row({"id": "3", "creative": {"object_type": "SHARE"}})["format"] == "image"


def test_a_token_never_shows_in_a_client_message() -> None:
    from services.meta.api import MetaClient

    client = MetaClient(token=SecretStr("EAAB-very-secret"), graph_url="http://127.0.0.1:9")
    assert client.scrub("GET /act_1/insights?access_token=EAAB-very-secret&limit=500") == (
        "GET /act_1/insights?access_token=***&limit=500"
    )
    assert "EAAB" not in repr(client)


def test_secret_query_parameters_are_masked_in_http_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    import services.meta.api  # noqa: F401  (installs the filter)

    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        logging.getLogger("urllib3.connectionpool").debug(
            '%s "%s %s" %s',
            "https://graph.example:443",
            "GET",
            "/v26.0/oauth/access_token?client_id=1&client_secret=s3cr3t&code=AQD-code&error_code=7",
            200,
        )
    [line] = [r.getMessage() for r in caplog.records]
    assert "s3cr3t" not in line and "AQD-code" not in line
    assert "client_secret=***&code=***&error_code=7" in line
