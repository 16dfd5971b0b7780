"""The address policy of every fetch the server makes on someone's behalf (landing pages, template
images, ad media): only public internet addresses, checked at each redirect and pinned at connect.

A web address a person (or their data) names could point the server at its own network: loopback,
a private range, the cloud metadata service (169.254.169.254), or the same behind another spelling
(a decimal `2130706433`, `::ffff:127.0.0.1`, a NAT64 or 6to4 wrapping). The host is resolved, every
address it resolves to must be public, and the connection goes to the address that was checked (a
second lookup could answer differently). Fixed API base URLs from settings (Anthropic, Gemini,
Slack, Reddit, Meta Graph) are not chosen by a person and do not go through here.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import httpx

from core.errors import ExternalServiceError, InvalidArgument

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
PRIVATE_REASON = "only public web addresses can be read"


class PrivateAddress(InvalidArgument):
    """The address (or a redirect's) is on loopback, a private network or otherwise not public."""

    def __init__(self, url: str) -> None:
        super().__init__(f"{url} points at a private network address: {PRIVATE_REASON}.")
        self.url = url

    def said_of(self, asked: str) -> str:
        """The refusal as one clause (no full stop), naming the redirect when `asked` led to it."""
        if asked == self.url:
            return self.message.removesuffix(".")
        return f"{asked} redirects to {self.url}, a private network address: {PRIVATE_REASON}"


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether the address is on the public internet, including any IPv4 address an IPv6 one wraps."""
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if inner is None and address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return is_public(inner)
    return True


async def public_address(url: str) -> str:
    """The address to connect to for `url`'s host, after checking that every address it resolves to
    is public. Raises PrivateAddress, or ExternalServiceError when the host does not resolve."""
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL as error:  # e.g. an octal address, 0177.0.0.1
        raise InvalidArgument(f"{url} is not a web address that can be read ({error}).") from None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError as error:
        raise ExternalServiceError(
            f"Could not find the server of {url} ({host} does not resolve)."
        ) from error
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses or not all(is_public(a) for a in addresses):
        raise PrivateAddress(url)
    return str(addresses[0])


def _internet() -> httpx.AsyncBaseTransport:
    """Where checked requests go (a test stands a fake web server in for the internet here)."""
    return httpx.AsyncHTTPTransport()


class PublicOnlyTransport(httpx.AsyncBaseTransport):
    """Sends each request (each redirect is one) only to a public address, connecting to the address
    that was checked; the Host header and TLS name stay those of the address asked for."""

    def __init__(self, wrapped: httpx.AsyncBaseTransport | None = None) -> None:
        self.wrapped = wrapped or _internet()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        address = await public_address(str(request.url))
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=address),
            headers=request.headers,  # carries Host: the name asked for
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": request.url.host},
        )
        return await self.wrapped.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self.wrapped.aclose()


def public_client(*, allow_private: bool, **options: Any) -> httpx.AsyncClient:
    """An httpx client for fetches on someone's behalf: public addresses only, unless `allow_private`
    (Settings.fetch_private_addresses: local testing against servers on 127.0.0.1)."""
    if allow_private:
        return httpx.AsyncClient(**options)
    return httpx.AsyncClient(transport=PublicOnlyTransport(), **options)
