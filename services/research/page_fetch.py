"""Reading a landing page: fetch it politely (httpx), turn its HTML into markdown, cut the markdown
into chunks, and choose the chunks worth reading for each field (keyword scoring within a budget)."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urljoin, urlsplit, urlunsplit

import html2text
import httpx
from pydantic import BaseModel, Field

from core.errors import ExternalServiceError, InvalidArgument
from services.platform.public_fetch import public_address, public_client

USER_AGENT = "ViralTrackerBot/1.0 (+contact: bot@viraltracker.app)"
MAX_BYTES = 3 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
TOTAL_SECONDS = 45.0
HTML_TYPES = ("text/html", "application/xhtml+xml")
# Page furniture that is never the offer: navigation, scripts, styles, embedded media.
_FURNITURE = re.compile(
    r"<(script|style|noscript|nav|svg|template|iframe|footer)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)


class FetchedPage(BaseModel):
    url: str
    """The address as asked for (without its #fragment)."""
    final_url: str
    title: str | None
    markdown: str
    bytes_read: int
    truncated: bool = False
    note: str | None = None
    """Said to the person, e.g. that only the first 3 MB of a huge page were read."""


def normalize_url(url: str) -> str:
    """The address to fetch and store: http(s) only, no fragment; a bare domain gets https://."""
    text = url.strip().strip("<>")
    if text and "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"'{url}' is not a web address: give one like https://example.com/product.")
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


async def fetch_page(
    url: str,
    *,
    client: httpx.AsyncClient | None = None,
    max_bytes: int = MAX_BYTES,
    allow_private: bool = False,
) -> FetchedPage:
    """The page as markdown. Follows at most 5 redirects (a loop is named), reads at most `max_bytes`
    (a bigger page is cut at the cap, and `note` says so), and refuses anything but HTML. Addresses
    on loopback or private networks are refused unless `allow_private` (services/platform/public_fetch: each
    redirect is checked, the connection pinned to the checked address)."""
    wanted = normalize_url(url)
    own = client is None
    http = client or public_client(
        allow_private=allow_private, timeout=TIMEOUT, headers={"User-Agent": USER_AGENT}
    )
    try:
        async with asyncio.timeout(TOTAL_SECONDS):
            return await _fetch(http, wanted, max_bytes, allow_private)
    except TimeoutError as error:
        raise ExternalServiceError(f"{wanted} did not answer in time; try again later.") from error
    except httpx.TimeoutException as error:
        raise ExternalServiceError(f"{wanted} did not answer in time; try again later.") from error
    except httpx.HTTPError as error:
        raise ExternalServiceError(f"Could not reach {wanted} ({type(error).__name__}).") from error
    finally:
        if own:
            await http.aclose()


async def _fetch(http: httpx.AsyncClient, wanted: str, max_bytes: int, allow_private: bool) -> FetchedPage:
    current, seen = wanted, [wanted]
    for _ in range(MAX_REDIRECTS + 1):
        if not allow_private:
            await public_address(current)
        headers = {"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"}
        async with http.stream("GET", current, headers=headers, follow_redirects=False) as response:
            if response.is_redirect:
                target = normalize_url(urljoin(current, response.headers.get("location", "")))
                if target in seen:
                    chain = " → ".join([*seen[seen.index(target) :], target])
                    raise ExternalServiceError(f"{wanted} redirects in a loop ({chain}).")
                seen.append(target)
                current = target
                continue
            if response.status_code >= 400:
                phrase = f" ({response.reason_phrase})" if response.reason_phrase else ""
                raise ExternalServiceError(f"{current} answered {response.status_code}{phrase}.")
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind not in HTML_TYPES:
                raise InvalidArgument(f"{current} is not a web page ({kind or 'no content type'}).")
            body, truncated = bytearray(), False
            async for piece in response.aiter_bytes():
                body += piece
                if len(body) > max_bytes:
                    del body[max_bytes:]
                    truncated = True
                    break
            html = bytes(body).decode(response.charset_encoding or "utf-8", errors="replace")
            title_match = _TITLE.search(html)
            title = " ".join(title_match.group(1).split()) if title_match else None
            note = None
            if truncated:
                note = (
                    f"{current} is larger than {max_bytes / 1024 / 1024:g} MB: "
                    f"only its first {max_bytes / 1024 / 1024:g} MB were read."
                )
            return FetchedPage(
                url=wanted, final_url=current, title=title or None, markdown=html_to_markdown(html),
                bytes_read=len(body), truncated=truncated, note=note,
            )  # fmt: skip
    raise ExternalServiceError(f"{wanted} redirects more than {MAX_REDIRECTS} times ({' → '.join(seen)}).")


def html_to_markdown(html: str) -> str:
    """Markdown of the page's readable content (scripts, styles, navigation and footers dropped)."""
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_links = True
    converter.ignore_emphasis = False
    text = converter.handle(_FURNITURE.sub(" ", html))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# -- chunks -------------------------------------------------------------------------------------

CHUNK_CHARS = 2500
FIELD_KEYWORDS: dict[str, tuple[str, ...]] = {
    "benefits": ("benefit", "why", "love", "results", "help", "support", "improve", "better", "boost",
                 "reduce", "feel", "more energy", "✓", "✔"),
    "persona_signals": ("made for", "for people", "if you", "who ", "dealing with", "tired of", "struggl",
                        "moms", "parents", "women", "men ", "seniors", "owners", "busy"),
    "objections": ("faq", "question", "?", "guarantee", "refund", "worried", "safe", "side effect", "cancel",
                   "shipping", "does it", "will it", "how long", "money back"),
    "testimonials": ("customers say", "review", "verified", "testimonial", "★", "stars", "\"", "“", "—",
                     "said", "loved it"),
    "mechanism": ("how it works", "because", "root cause", "works by", "formula", "science", "ingredient",
                  "clinically", "patented", "mechanism", "the reason"),
    "desires": ("imagine", "finally", "want", "dream", "without", "freedom", "confidence", "again",
                "wake up", "enjoy"),
    "hooks": ("tired of", "finally", "secret", "stop", "?", "new", "why", "!"),
    "copy_patterns": ("guarantee", "save", "$", "limited", "today", "free shipping", "reviews", "try"),
}  # fmt: skip
FIELDS = tuple(FIELD_KEYWORDS)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


class Chunk(BaseModel):
    index: int
    heading: str | None
    text: str
    hints: list[str] = Field(default_factory=list)
    """The fields whose keywords the chunk carries (a page without headings still says what is where)."""

    @property
    def chars(self) -> int:
        return len(self.text)


def chunk_markdown(markdown: str, *, max_chars: int = CHUNK_CHARS) -> list[Chunk]:
    """Sections split at headings; a section (or a page without headings) longer than `max_chars` is
    cut at paragraph boundaries (a single huge paragraph at sentence, then character, boundaries)."""
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in markdown.splitlines():
        match = _HEADING.match(line)
        if match:
            sections.append((match.group(1).strip(), [line]))
        else:
            sections[-1][1].append(line)
    pieces: list[tuple[str | None, str]] = []
    for heading, lines in sections:
        text = "\n".join(lines).strip()
        if text:
            pieces += [(heading, part) for part in _split(text, max_chars)]
    chunks = [Chunk(index=i, heading=h, text=t) for i, (h, t) in enumerate(pieces)]
    for chunk in chunks:
        chunk.hints = [f for f in FIELDS if _score(chunk, f) > 0]
    return chunks


def _split(text: str, max_chars: int) -> list[str]:
    if len(text) <= max_chars:
        return [text]
    units: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        if len(paragraph) <= max_chars:
            units.append(paragraph)
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
            units += [sentence[i : i + max_chars] for i in range(0, len(sentence), max_chars)]
    parts, current = [], ""
    for unit in units:
        if current and len(current) + 2 + len(unit) > max_chars:
            parts.append(current)
            current = unit
        else:
            current = f"{current}\n\n{unit}" if current else unit
    return [*parts, current] if current else parts


def _score(chunk: Chunk, field: str) -> float:
    heading, body = (chunk.heading or "").casefold(), chunk.text.casefold()
    score = 0.0
    for word in FIELD_KEYWORDS[field]:
        score += 3 * heading.count(word) + min(body.count(word), 5)
    if field in ("hooks", "persona_signals") and chunk.index == 0:
        score += 2  # the top of the page carries the headline and who it is for
    return score / (1 + len(body) / 2000)


def pick_chunks_for_fields(chunks: list[Chunk], fields: list[str], budget: int) -> dict[str, list[Chunk]]:
    """For each field, its best-scoring chunks (whole chunks, best first) within an equal share of
    `budget` characters; a field no chunk speaks to gets the top of the page. Never cuts a chunk."""
    unknown = [f for f in fields if f not in FIELD_KEYWORDS]
    if unknown:
        raise InvalidArgument(f"Unknown field(s) {', '.join(unknown)}: use {', '.join(FIELDS)}.")
    share = budget // max(len(fields), 1)
    picked: dict[str, list[Chunk]] = {}
    for field in fields:
        ranked = sorted(chunks, key=lambda c: (-_score(c, field), c.index))
        scored = [c for c in ranked if _score(c, field) > 0] or list(chunks)
        chosen, used = [], 0
        for chunk in scored:
            if used + chunk.chars <= share:
                chosen.append(chunk)
                used += chunk.chars
        picked[field] = sorted(chosen, key=lambda c: c.index)
    return picked
