"""Landing page analysis: fetch a page, store its full content once per distinct content (hash), analyse
it section by section (a model with structured output, or the offline extractive analysis), and keep
each run in `landing_page_analyses` with what succeeded and what failed."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field
from pydantic_ai import Agent
from pydantic_ai.exceptions import AgentRunError, ModelHTTPError
from pydantic_ai.models import Model

from core.errors import InvalidArgument, NotFound
from db.pool import Caller, Conn, Database
from prompts import load_prompt
from services import brands as brand_service
from services.llm.model_choice import analysis_model, model_name
from services.models import BrandRef
from services.products import resolve_product
from services.research.lp_extract import (
    OFFLINE_LABEL,
    OFFLINE_METHOD,
    SECTION_FIELDS,
    SECTION_MODELS,
    SECTIONS,
    Section,
    offline_section,
)
from services.research.page_fetch import (
    Chunk,
    FetchedPage,
    chunk_markdown,
    fetch_page,
    normalize_url,
    pick_chunks_for_fields,
)
from settings import Settings

BUDGET = 12_000  # characters of page text per section's model call
MODEL_TIMEOUT = 90.0
Progress = Callable[[str], None]


class SectionOutcome(BaseModel):
    section: str
    status: Literal["ok", "offline", "failed"]
    found: int = 0
    sample: str = ""
    error: str | None = None


class LandingPageAnalysis(BaseModel):
    summary: str
    url: str
    brand: str
    title: str | None = None
    landing_page_id: UUID | None = None
    analysis_id: UUID | None = None
    competitor: str | None = None
    """Set for a competitor's page (stored in competitor_landing_pages, with its analysis)."""
    stored_new: bool = False
    method: str = ""
    chunks: int = 0
    note: str | None = None
    sections: list[SectionOutcome] = Field(default_factory=list)


def content_hash(markdown: str) -> str:
    return hashlib.sha256(markdown.encode()).hexdigest()


def prompt_version() -> str:
    return load_prompt("landing_page_analysis").version


@cache
def section_agent(section: Section) -> Agent[None, Any]:
    """One agent per section, declared once; the model is chosen per run (settings)."""
    return Agent(
        output_type=SECTION_MODELS[section],
        instructions=load_prompt("landing_page_analysis").text,
        name=f"landing_page_{section}",
        retries=2,
    )


def _passages(chunks: list[Chunk]) -> str:
    return "\n\n---\n\n".join(chunk.text for chunk in chunks)


def _error_text(error: Exception) -> str:
    if isinstance(error, ModelHTTPError):
        body = error.body
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return f"HTTP {error.status_code} {body['error'].get('type', '')}: {body['error'].get('message', '')}"
        return f"HTTP {error.status_code}"
    if isinstance(error, TimeoutError):
        return f"the model did not answer within {MODEL_TIMEOUT:.0f} s"
    return f"{type(error).__name__}: {error}"


async def run_full_analysis(
    chunks: list[Chunk],
    *,
    url: str,
    title: str | None,
    model: Model | str | None,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Every section, each on its own: (sections that succeeded, {section: why it failed}).

    With no model, the offline extractive analysis fills every section (it does not fail)."""
    sections: dict[str, Any] = {}
    errors: dict[str, str] = {}
    done = 0

    async def one(section: Section) -> None:
        nonlocal done
        fields = SECTION_FIELDS[section]
        picked = pick_chunks_for_fields(chunks, fields, BUDGET)
        chosen = sorted({c.index: c for f in fields for c in picked[f]}.values(), key=lambda c: c.index)
        try:
            if model is None:
                output = offline_section(section, chosen, chunks)
            else:
                request = f"Section: {section}\nURL: {url}\nTitle: {title or ''}\n\n{_passages(chosen)}"
                result = await section_agent(section).run(
                    request, model=model, model_settings={"max_retries": 0, "max_tokens": 2000},
                    timeout=MODEL_TIMEOUT,
                )  # fmt: skip
                output = result.output
            data = output.model_dump(mode="json")
            sections[section] = data if section == "belief_first_analysis" else data[section]
        except (ModelHTTPError, AgentRunError, TimeoutError, OSError, ValueError) as error:
            errors[section] = _error_text(error)
        done += 1
        if progress is not None:
            progress(f"Analysed {done} of {len(SECTIONS)} sections ({section})")

    if model is not None and not isinstance(model, str):
        async with model:  # the provider's HTTP client closes when the run ends
            await asyncio.gather(*(one(s) for s in SECTIONS))
    else:
        await asyncio.gather(*(one(s) for s in SECTIONS))
    return {s: sections[s] for s in SECTIONS if s in sections}, {
        s: errors[s] for s in SECTIONS if s in errors
    }


_STORE_PAGE = """
insert into brand_landing_pages (brand_id, organization_id, product_id, url, title, raw_markdown, content_hash)
values (%(brand)s, %(org)s, %(product)s, %(url)s, %(title)s, %(markdown)s, %(hash)s)
on conflict (brand_id, url, content_hash) do nothing
returning id
"""


async def store_page(
    conn: Conn, *, brand: BrandRef, product_id: UUID | None, page: FetchedPage
) -> tuple[UUID, bool]:
    """The page's row (id, stored now?): identical content at the same URL is stored once."""
    digest = content_hash(page.markdown)
    params = {
        "brand": brand.id, "org": brand.organization_id, "product": product_id, "url": page.url,
        "title": page.title, "markdown": page.markdown, "hash": digest,
    }  # fmt: skip
    row = await (await conn.execute(_STORE_PAGE, params)).fetchone()
    if row is not None:
        return row["id"], True
    cur = await conn.execute(
        "select id from brand_landing_pages where brand_id = %s and url = %s and content_hash = %s",
        (brand.id, page.url, digest),
    )
    existing = await cur.fetchone()
    assert existing is not None  # the conflict means it exists, and RLS let us write it
    return existing["id"], False


_SAVE = """
insert into landing_page_analyses (organization_id, brand_id, landing_page_id, url, sections, errors, prompt_version)
values (%s, %s, %s, %s, %s, %s, %s) returning id
"""
_COLUMNS = {
    "benefits", "persona_signals", "copy_patterns", "objection_handling", "belief_first_analysis", "testimonials"
}  # fmt: skip


async def save_analysis(
    conn: Conn, *, brand: BrandRef, page_id: UUID, url: str, sections: dict[str, Any],
    errors: dict[str, str], method: str,
) -> UUID:  # fmt: skip
    """The run's row; the page's own columns take the sections that succeeded (failed ones keep theirs)."""
    cur = await conn.execute(
        _SAVE, (brand.organization_id, brand.id, page_id, url, Jsonb(sections), Jsonb(errors), method)
    )
    row = await cur.fetchone()
    assert row is not None
    for column, value in sections.items():
        if column in _COLUMNS:  # names from a fixed set, never from input
            await conn.execute(
                sql.SQL("update brand_landing_pages set {} = %s where id = %s").format(
                    sql.Identifier(column)
                ),
                (Jsonb(value), page_id),
            )
    return row["id"]


_STORE_COMPETITOR = """
insert into competitor_landing_pages (brand_id, organization_id, competitor_name, url, raw_markdown, content_hash,
                                      analysis)
values (%(brand)s, %(org)s, %(competitor)s, %(url)s, %(markdown)s, %(hash)s, %(analysis)s)
on conflict (brand_id, url, content_hash) do update set competitor_name = excluded.competitor_name,
  analysis = excluded.analysis, scraped_at = now()
returning id, (xmax = 0) as inserted
"""


async def store_competitor_page(
    conn: Conn, *, brand: BrandRef, competitor: str, page: FetchedPage, sections: dict[str, Any],
    errors: dict[str, str], method: str,
) -> tuple[UUID, bool]:  # fmt: skip
    """A competitor's page with its analysis (id, stored now?): once per distinct content, the latest
    analysis kept."""
    analysis = {"sections": sections, "errors": errors, "method": method, "title": page.title}
    params = {
        "brand": brand.id, "org": brand.organization_id, "competitor": competitor, "url": page.url,
        "markdown": page.markdown, "hash": content_hash(page.markdown), "analysis": Jsonb(analysis),
    }  # fmt: skip
    row = await (await conn.execute(_STORE_COMPETITOR, params)).fetchone()
    assert row is not None
    return row["id"], bool(row["inserted"])


def _outcome(section: str, sections: dict[str, Any], errors: dict[str, str], offline: bool) -> SectionOutcome:
    if section in errors:
        return SectionOutcome(section=section, status="failed", error=errors[section])
    data = sections.get(section)
    if isinstance(data, dict):  # belief-first: count what it filled
        items = [v for v in data.values() if v]
        found = sum(len(v) if isinstance(v, list) else 1 for v in items)
        first = next((v if isinstance(v, str) else v[0] for v in items), "")
    else:
        found = len(data or [])
        head = (data or [""])[0]
        first = head.get("quote") or head.get("objection", "") if isinstance(head, dict) else str(head)
    return SectionOutcome(
        section=section, status="offline" if offline else "ok", found=found, sample=str(first)[:160]
    )


async def analyze_landing_page(
    db: Database, caller: Caller, *, url: str | None, brand: str, product: str | None = None, settings: Settings,
    progress: Progress | None = None, competitor: str | None = None,
) -> LandingPageAnalysis:  # fmt: skip
    """Fetch, store (once per distinct content) and analyse one page for one of the caller's brands, or
    (with `competitor`) a competitor's page kept as the brand's research."""
    report = progress or (lambda _message: None)
    competitor = " ".join(competitor.split()) if competitor is not None else None
    if competitor is not None and (not competitor or product):
        raise InvalidArgument(
            "A competitor's page needs the competitor's name (competitor:\"Name\") and no product:"
            " it is kept with the brand's research, not linked to one of your products."
        )
    async with db.as_user(caller) as conn:
        brand_ref = await brand_service.resolve_brand(conn, name=brand)
        product_ref = await resolve_product(conn, name=product, brand_id=brand_ref.id) if product else None
    if not url or not url.strip():
        raise InvalidArgument(
            "Which page? Give its address, e.g. url:https://example.com/products/calm-chews."
        )
    report("Fetching the page")
    page = await _read_page(db, caller, brand_ref, url, settings)
    chunks = chunk_markdown(page.markdown)
    if not chunks:
        raise NotFound(f"{page.url} has no readable text (it may be drawn by JavaScript).")
    model = analysis_model(settings)
    method = prompt_version() if model is not None else OFFLINE_METHOD
    report(
        f"Read {len(chunks)} passage(s); analysing 6 sections with {model_name(model) if model else 'offline rules'}"
    )
    sections, errors = await run_full_analysis(
        chunks, url=page.url, title=page.title, model=model, progress=report
    )
    if competitor is not None:
        async with db.as_user(caller) as conn:
            page_id, new = await store_competitor_page(
                conn, brand=brand_ref, competitor=competitor, page=page, sections=sections, errors=errors,
                method=method,
            )  # fmt: skip
        analysis_id = None
    else:
        page_id, new, analysis_id = await _store_own(
            db, caller, brand_ref, product_ref, page, sections, errors, method
        )
    outcomes = [_outcome(s, sections, errors, model is None) for s in SECTIONS]
    ok = [o.section for o in outcomes if o.status != "failed"]
    whose = f"{brand_ref.name}'s research (competitor: {competitor})" if competitor else brand_ref.name
    text = f"Analysed {page.title or page.url} for {whose}: {len(ok)} of {len(SECTIONS)} sections done"
    text += " (" + ", ".join(f"{o.section}: {o.found}" for o in outcomes if o.status != "failed") + ")."
    if errors:
        text += (
            " Failed: " + "; ".join(f"{s} ({why})" for s, why in errors.items()) + ". Run it again to retry."
        )
    text += " Stored the page." if new else " The page is unchanged since it was last stored (kept once)."
    if model is None:
        text = f"{OFFLINE_LABEL} {text}"
    if page.note:
        text += f" Note: {page.note}"
    return LandingPageAnalysis(
        summary=text, url=page.url, brand=brand_ref.name, title=page.title, landing_page_id=page_id,
        analysis_id=analysis_id, stored_new=new, method=method, chunks=len(chunks), note=page.note,
        sections=outcomes, competitor=competitor,
    )  # fmt: skip


RESERVED_SUFFIXES = (".example", ".invalid", ".test")
"""Names reserved for examples and tests (RFC 2606, 6761): they never resolve, so there is nothing to fetch."""


async def _read_page(
    db: Database, caller: Caller, brand: BrandRef, url: str, settings: Settings
) -> FetchedPage:
    """The page from the web; a page on a reserved example name (the demo's shops) is read from the copy
    stored with the brand, and the answer says so."""
    wanted = normalize_url(url)
    host = (urlsplit(wanted).hostname or "").lower()
    if not host.endswith(RESERVED_SUFFIXES):
        return await fetch_page(wanted, allow_private=settings.fetch_private_addresses)
    async with db.as_user(caller) as conn:
        cur = await conn.execute(
            "select title, raw_markdown from brand_landing_pages where brand_id = %s and url = %s"
            " and raw_markdown is not null order by scraped_at desc, id limit 1",
            (brand.id, wanted),
        )
        stored = await cur.fetchone()
    if stored is None:
        raise NotFound(
            f"{host} is a reserved example address that never resolves, and {brand.name} has no stored copy"
            f" of {wanted}: give the address of a live page."
        )
    markdown = stored["raw_markdown"]
    return FetchedPage(
        url=wanted, final_url=wanted, title=stored["title"], markdown=markdown, bytes_read=len(markdown.encode()),
        note=f"{host} is a reserved example address that never resolves, so the copy stored with {brand.name}"
        " was read instead of the web.",
    )  # fmt: skip


async def _store_own(
    db: Database, caller: Caller, brand_ref: BrandRef, product_ref: Any, page: FetchedPage,
    sections: dict[str, Any], errors: dict[str, str], method: str,
) -> tuple[UUID, bool, UUID]:  # fmt: skip
    async with db.as_user(caller) as conn:
        page_id, new = await store_page(
            conn, brand=brand_ref, product_id=product_ref.id if product_ref else None, page=page
        )
        analysis_id = await save_analysis(
            conn,
            brand=brand_ref,
            page_id=page_id,
            url=page.url,
            sections=sections,
            errors=errors,
            method=method,
        )
    return page_id, new, analysis_id


class AnalysisRow(BaseModel):
    id: UUID
    brand: str | None
    url: str
    method: str | None
    sections_done: int
    sections_failed: int
    created_at: datetime


async def list_analyses(
    conn: Conn, *, brand_id: UUID | None = None, url: str | None = None, limit: int = 20
) -> list[AnalysisRow]:
    """The caller's organizations' analyses (RLS decides), newest first."""
    cur = await conn.execute(
        """
        select a.id, b.name as brand, a.url, a.prompt_version as method,
               (select count(*) from jsonb_object_keys(a.sections))::int as sections_done,
               (select count(*) from jsonb_object_keys(a.errors))::int as sections_failed, a.created_at
        from landing_page_analyses a left join brands b on b.id = a.brand_id
        where (%(brand)s::uuid is null or a.brand_id = %(brand)s) and (%(url)s::text is null or a.url = %(url)s)
        order by a.created_at desc limit %(limit)s
        """,
        {"brand": brand_id, "url": url, "limit": limit},
    )
    return [AnalysisRow(**row) for row in await cur.fetchall()]
