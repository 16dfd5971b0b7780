"""Supabase Auth sign-in: the real supabase client against a local fake of GoTrue's wire format."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from core.errors import ExternalServiceError
from fakes.supabase_auth import FakeSupabaseAuth
from services.platform.supabase_auth import verify_supabase_password

KEY = "sb_publishable_k3y-never-to-be-shown"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def supabase() -> Iterator[FakeSupabaseAuth]:
    with FakeSupabaseAuth(api_key=KEY, users={"maya@northwind.example": PASSWORD}) as fake:
        yield fake


async def sign_in(url: str, email: str = "maya@northwind.example", password: str = PASSWORD) -> str | None:
    return await verify_supabase_password(url=url, key=KEY, email=email, password=password)


async def test_the_right_password_gives_the_users_email(supabase: FakeSupabaseAuth) -> None:
    assert await sign_in(supabase.url, email="Maya@Northwind.example") == "maya@northwind.example"
    [request] = supabase.requests
    assert (request.method, request.path, request.status) == (
        "POST",
        "/auth/v1/token?grant_type=password",
        200,
    )
    assert request.headers["apikey"] == KEY
    assert request.body["email"] == "Maya@Northwind.example" and request.body["password"] == PASSWORD


async def test_a_wrong_password_or_an_unknown_email_is_refused(supabase: FakeSupabaseAuth) -> None:
    assert await sign_in(supabase.url, password="wrong") is None
    assert await sign_in(supabase.url, email="nobody@example.com") is None
    assert [r.status for r in supabase.requests] == [400, 400]
    assert all(r.headers["apikey"] == KEY for r in supabase.requests)
    assert await sign_in(supabase.url, password="") is None
    assert len(supabase.requests) == 2  # an empty password is refused without asking


async def test_supabase_down_is_a_clear_error() -> None:
    with FakeSupabaseAuth(api_key=KEY, users={}) as stopped:
        url = stopped.url
    # The fake has stopped: nothing listens on its port any more.
    with pytest.raises(
        ExternalServiceError, match=re.escape("Supabase Auth is unreachable: All connection attempts failed")
    ):
        await sign_in(url)


@pytest.mark.parametrize("status", [500, 503])
async def test_a_server_error_is_a_clear_error(supabase: FakeSupabaseAuth, status: int) -> None:
    supabase.fail_with = (status, {"code": "unexpected_failure", "message": "database is restarting"})
    with pytest.raises(
        ExternalServiceError, match=r"^Supabase Auth is unreachable: .*database is restarting"
    ):
        await sign_in(supabase.url)


async def test_a_wrong_api_key_says_to_check_the_setting(supabase: FakeSupabaseAuth) -> None:
    with pytest.raises(
        ExternalServiceError,
        match=re.escape("Supabase Auth refused the API key (HTTP 401). Check SUPABASE_KEY."),
    ):
        await verify_supabase_password(
            url=supabase.url, key="sb_publishable_wrong", email="maya@northwind.example", password=PASSWORD
        )
    assert supabase.requests[0].status == 401


async def test_a_malformed_url_says_to_check_the_setting() -> None:
    with pytest.raises(
        ExternalServiceError,
        match=re.escape("Supabase is misconfigured: Invalid URL. Check SUPABASE_URL and SUPABASE_KEY."),
    ):
        await sign_in("supabase.example.com")


async def test_the_key_and_password_never_appear_in_an_error_message(supabase: FakeSupabaseAuth) -> None:
    # A proxy in front of Supabase that echoes what it was sent.
    supabase.fail_with = (502, {"message": f"upstream refused apikey={KEY} password={PASSWORD}"})
    with pytest.raises(ExternalServiceError) as failure:
        await sign_in(supabase.url)
    assert str(failure.value) == "Supabase Auth is unreachable: upstream refused apikey=*** password=***"


async def test_an_answer_that_is_not_gotrues_says_to_check_the_url(supabase: FakeSupabaseAuth) -> None:
    supabase.fail_with = (200, {"page": "a proxy's welcome page"})
    with pytest.raises(
        ExternalServiceError,
        match=re.escape("Supabase Auth gave an unexpected answer (ValidationError). Check SUPABASE_URL."),
    ):
        await sign_in(supabase.url)
