"""The address policy of fetches made on someone's behalf (services/platform/public_fetch.py): every spelling
of a non-public address is refused, and a checked connection goes to the address that was checked."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest

from core.errors import InvalidArgument
from services.platform import public_fetch
from services.platform.public_fetch import PrivateAddress, public_address, public_client
from services.research.page_fetch import fetch_page


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://127.1/x.png",  # short form of 127.0.0.1
        "http://2130706433/x.png",  # decimal
        "http://0x7f000001/x.png",  # hexadecimal
        "http://localhost:8080/x.png",
        "http://0.0.0.0/x.png",
        "http://10.0.0.8/x.png",
        "http://172.16.5.4/x.png",
        "http://192.168.1.1/x.png",
        "http://100.64.0.1/x.png",  # carrier-grade NAT
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://224.0.0.1/x.png",  # multicast
        "http://255.255.255.255/x.png",
        "http://[::1]/x.png",
        "http://[::]/x.png",
        "http://[::ffff:127.0.0.1]/x.png",  # IPv4-mapped
        "http://[::ffff:7f00:1]/x.png",
        "http://[64:ff9b::7f00:1]/x.png",  # NAT64 of 127.0.0.1
        "http://[2002:7f00:1::]/x.png",  # 6to4 of 127.0.0.1
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/x.png",  # Teredo of 127.0.0.1
        "http://[fc00::1]/x.png",  # unique local
        "http://[fe80::1]/x.png",  # link-local
        "http://[ff02::1]/x.png",  # multicast
    ],
)
async def test_every_spelling_of_a_private_address_is_refused(url: str) -> None:
    with pytest.raises(PrivateAddress) as refused:
        await public_address(url)
    assert refused.value.message == (
        f"{url} points at a private network address: only public web addresses can be read."
    )


async def test_a_checked_request_goes_to_the_checked_address_under_its_own_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second DNS lookup could answer 127.0.0.1 (DNS rebinding): there is none. The connection is
    made to the address checked, with the name asked for in the Host header and the TLS name."""
    answers = iter(["93.184.215.14", "127.0.0.1"])  # what a rebinding DNS server would say, in turn
    lookups: list[str] = []

    async def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), 0))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    seen: list[httpx.Request] = []

    def internet(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"ok")

    monkeypatch.setattr(public_fetch, "_internet", lambda: httpx.MockTransport(internet))
    async with public_client(allow_private=False) as http:
        response = await http.get("https://shop.example/ad.png")
    assert response.text == "ok" and str(response.request.url) == "https://shop.example/ad.png"
    assert lookups == ["shop.example"]
    [sent] = seen
    assert str(sent.url) == "https://93.184.215.14/ad.png"
    assert (sent.headers["host"], sent.extensions["sni_hostname"]) == ("shop.example", "shop.example")


async def test_an_address_httpx_cannot_read_is_refused_with_its_reason() -> None:
    with pytest.raises(InvalidArgument) as refused:
        await fetch_page("http://0177.0.0.1/")  # octal 127.0.0.1, which httpx refuses to parse
    assert refused.value.message == (
        "http://0177.0.0.1/ is not a web address that can be read (Invalid IPv4 address: '0177.0.0.1')."
    )
