"""Reconstruction blueprints: a landing page analysis, section by section (what it says, why it works,
what to write for this brand), in the voice/tone the persona → offer variant → brand chain resolves.

A blueprint is stored with the options it was made with, its status and error, so a failed one is
re-run by id alone; two brands' blueprints of the same analysis compare section by section.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field
from pydantic_ai import Agent
from pydantic_ai.models import Model

from core.errors import Ambiguous, InvalidArgument, NotFound
from db.pool import Caller, Conn, Database
from prompts import load_prompt
from services.blueprints.exports import ExportFormat, write_export
from services.blueprints.offline import OFFLINE_NOTE, BrandFacts, offline_sections, page_sections
from services.brands import resolve_brand
from services.llm.model_choice import analysis_model
from services.platform.server_files import ServerFile
from services.presentable import Presentable, Table, table_of
from services.products import resolve_product
from services.research.voice import VoiceLevel, resolve_voice_tone
from settings import Settings

log = logging.getLogger(__name__)
MODEL_TIMEOUT = 180.0
MODEL_PAGE_CHARS = 24_000  # the page as the model reads it; each section keeps its heading and start
SHORT_ID = 8
Progress = Callable[[str], None]


class BlueprintSection(BaseModel):
    heading: str = Field(description="The page section's heading, exactly as given")
    says: str = Field(description="What the section says, in one or two plain sentences")
    why_it_works: str = Field(description="The persuasion job it does and why it moves this reader")
    write_for_brand: str = Field(description="What this brand should write here, in the given voice/tone")
    patterns: list[str] = Field(default_factory=list, description="e.g. social_proof, mechanism, offer")


class BlueprintDraft(BaseModel):
    """The model's output: one entry per page section, in page order."""

    sections: list[BlueprintSection]


class BlueprintContent(BaseModel):
    title: str
    brand: str
    url: str
    sections: list[BlueprintSection]
    voice_tone: str | None
    voice_level: VoiceLevel
    voice_source: str
    voice_chain: list[tuple[VoiceLevel, str | None]]
    generator: Literal["model", "offline"]
    note: str | None = None


class ExportedFile(BaseModel):
    name: str
    path: ServerFile
    """Where the chat delivers the file from; answers carry only its name."""
    format: str


class BlueprintRow(BaseModel):
    id: UUID
    organization_id: UUID
    brand_id: UUID
    brand: str
    name: str
    status: str
    error: str | None
    generator: str | None
    voice_tone_level: str | None
    options: dict[str, Any]
    landing_page_analysis_id: UUID | None
    content: BlueprintContent | None = None
    created_at: datetime


class ComparisonRow(BaseModel):
    section: str
    writes: list[str]
    """What each compared brand writes for this section ('' where its blueprint has no such section)."""


class BlueprintResult(BaseModel, Presentable):
    summary: str
    blueprint: BlueprintRow | None = None
    files: list[ExportedFile] = []
    compared_brands: list[str] = []
    comparison: list[ComparisonRow] = []
    actions: list[Any] = Field(default_factory=list)
    """Buttons (`tools.actions.ActionButton`), filled in by the tool."""

    def as_tables(self) -> list[Table]:
        if self.comparison:
            rows = [[row.section, *row.writes] for row in self.comparison]
            return [Table("Blueprints side by side", ["section", *self.compared_brands], rows)]
        content = self.blueprint.content if self.blueprint else None
        if content is None:
            return []
        columns = ["heading", "says", "why_it_works", "write_for_brand"]
        return [table_of(f"Blueprint — {content.title}", content.sections, columns)]

    def as_files(self) -> list[tuple[str, str]]:
        return [(f.name, f.path) for f in self.files]


# -- looking things up ----------------------------------------------------------------------------


def _hex_ref(ref: str, what: str) -> str:
    ref = ref.strip().casefold()
    if not re.fullmatch(r"[0-9a-f-]{8,36}", ref):
        raise InvalidArgument(f"'{ref}' is not a {what} id: give its first 8 or more characters.")
    return ref


async def find_analysis(conn: Conn, *, landing_page: str) -> dict[str, Any]:
    """The newest analysis of a page, by the analysis's id (or the landing page's), or by its URL."""
    ref = landing_page.strip()
    if not ref:
        raise InvalidArgument("Which landing page? Give its URL or its analysis id.")
    if re.fullmatch(r"[0-9a-fA-F-]{8,36}", ref):
        cur = await conn.execute(
            "select * from landing_page_analyses where id::text like %(r)s or landing_page_id::text like %(r)s"
            " order by created_at desc",
            {"r": ref.casefold() + "%"},
        )
    else:
        cur = await conn.execute(
            "select * from landing_page_analyses where rtrim(lower(url), '/') = rtrim(lower(%s), '/')"
            " order by created_at desc",
            (ref,),
        )
    rows = await cur.fetchall()
    if rows:
        return rows[0]
    if not ref.startswith(("http://", "https://")):
        raise NotFound(f"No landing page analysis '{ref}' in your organizations.")
    raise NotFound(f"{ref} has not been analysed yet: run /analyze_landing_page url:{ref} first.")


async def _page(conn: Conn, analysis: dict[str, Any]) -> tuple[str | None, str | None, UUID | None]:
    """(markdown, title, product id) of the analysed page: the brand's page, else a competitor's."""
    if analysis["landing_page_id"] is not None:
        cur = await conn.execute(
            "select raw_markdown, title, product_id from brand_landing_pages where id = %s",
            (analysis["landing_page_id"],),
        )
        row = await cur.fetchone()
        if row:
            return row["raw_markdown"], row["title"], row["product_id"]
    cur = await conn.execute(
        "select raw_markdown, competitor_name from competitor_landing_pages"
        " where rtrim(lower(url), '/') = rtrim(lower(%s), '/') and organization_id = %s"
        " order by scraped_at desc limit 1",
        (analysis["url"], analysis["organization_id"]),
    )
    row = await cur.fetchone()
    return (row["raw_markdown"], row["competitor_name"], None) if row else (None, None, None)


async def _named(conn: Conn, *, table: str, name: str, brand_id: UUID, what: str) -> UUID:
    """An offer variant or persona of the brand, by id prefix or by name (exact, else contained)."""
    if table == "product_offer_variants":
        query = (
            "select v.id, v.name from product_offer_variants v join products p on p.id = v.product_id"
            " where p.brand_id = %s order by v.name"
        )
    else:
        query = "select id, name from personas_4d where brand_id = %s order by name"
    cur = await conn.execute(query, (brand_id,))
    rows = await cur.fetchall()
    wanted = " ".join(name.split()).casefold()
    found = [r for r in rows if r["name"].casefold() == wanted or str(r["id"]).startswith(wanted)]
    found = found or [r for r in rows if wanted and wanted in r["name"].casefold()]
    if len(found) == 1:
        return UUID(str(found[0]["id"]))
    names = ", ".join(f"'{r['name']}'" for r in (found or rows)) or "none yet"
    if found:
        raise Ambiguous(f"'{name}' matches several {what}s: {names}.")
    raise NotFound(f"No {what} '{name}' for this brand. Its {what}s: {names}.")


# -- making one -----------------------------------------------------------------------------------


async def start_blueprint(
    db: Database,
    caller: Caller,
    *,
    brand: str,
    landing_page: str,
    product: str | None = None,
    offer_variant: str | None = None,
    persona: str | None = None,
    fmt: ExportFormat = "md",
) -> UUID:
    """Check every option and store a pending blueprint with them (nothing is stored if one is wrong)."""
    async with db.as_user(caller) as conn:
        brand_ref = await resolve_brand(conn, name=brand)
        analysis = await find_analysis(conn, landing_page=landing_page)
        _, title, page_product = await _page(conn, analysis)
        product_id: UUID | None = None
        if product:
            product_id = (await resolve_product(conn, name=product, brand_id=brand_ref.id)).id
        elif page_product is not None and analysis["brand_id"] == brand_ref.id:
            product_id = page_product
        variant_id = (
            await _named(conn, table="product_offer_variants", name=offer_variant, brand_id=brand_ref.id,
                         what="offer variant") if offer_variant else None
        )  # fmt: skip
        persona_id = (
            await _named(conn, table="personas_4d", name=persona, brand_id=brand_ref.id, what="persona")
            if persona
            else None
        )
        options = {
            "landing_page_analysis_id": str(analysis["id"]),
            "product_id": str(product_id) if product_id else None,
            "offer_variant_id": str(variant_id) if variant_id else None,
            "persona_id": str(persona_id) if persona_id else None,
            "format": fmt,
        }
        cur = await conn.execute(
            "insert into blueprints (brand_id, organization_id, product_id, name, landing_page_analysis_id,"
            " offer_variant_id, persona_id, options, status, created_by)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s) returning id",
            (brand_ref.id, brand_ref.organization_id, product_id, f"{brand_ref.name} × {title or analysis['url']}",
             analysis["id"], variant_id, persona_id, Jsonb(options), caller.user_id),
        )  # fmt: skip
        row = await cur.fetchone()
        assert row is not None
        return UUID(str(row["id"]))


async def _one(conn: Conn, table: str, id_: Any) -> dict[str, Any] | None:
    if id_ is None:
        return None
    cur = await conn.execute(f"select * from {table} where id = %s", (id_,))  # table is ours, not input
    return await cur.fetchone()


@cache
def blueprint_agent() -> Agent[None, BlueprintDraft]:
    return Agent(
        output_type=BlueprintDraft, instructions=load_prompt("blueprint").text, name="blueprint", retries=2
    )


def _model_input(page: list[Any], facts: BrandFacts, voice: str | None, url: str) -> str:
    budget = max(400, MODEL_PAGE_CHARS // max(1, len(page)))
    parts = [f"Landing page: {url}", "", "Sections (in page order):"]
    for s in page:
        parts += [f"### {s.heading}", f"(patterns: {', '.join(s.patterns)})", s.body[:budget], ""]
    parts += ["Brand input:", facts.describe(), "", f"Voice/tone: {voice or '(none on file: plain, clear)'}"]
    return "\n".join(parts)


async def _ask_model(model: Model | str, prompt: str) -> list[BlueprintSection]:
    if isinstance(model, Model):
        async with model:  # the provider's HTTP client is closed when the run ends
            result = await blueprint_agent().run(prompt, model=model, timeout=MODEL_TIMEOUT)
    else:
        result = await blueprint_agent().run(prompt, model=model, timeout=MODEL_TIMEOUT)
    return result.output.sections


async def run_blueprint(
    db: Database, caller: Caller, *, blueprint_id: UUID, settings: Settings, progress: Progress | None = None
) -> BlueprintResult:
    """Make (or re-make) a stored blueprint from its stored options; a failure is stored, not raised."""
    say = progress or (lambda _message: None)
    async with db.as_user(caller) as conn:
        bp = await _one(conn, "blueprints", blueprint_id)
        if bp is None:
            raise NotFound(f"No blueprint {str(blueprint_id)[:SHORT_ID]} in your organizations.")
        options = bp["options"]
        analysis = await _one(conn, "landing_page_analyses", bp["landing_page_analysis_id"])
        if analysis is None:
            raise NotFound("The landing page analysis this blueprint was made from has been deleted.")
        markdown, _, _ = await _page(conn, analysis)
        brand = await _one(conn, "brands", bp["brand_id"])
        assert brand is not None
        voice = await resolve_voice_tone(
            conn,
            brand_id=bp["brand_id"],
            offer_variant_id=bp["offer_variant_id"],
            persona_id=bp["persona_id"],
        )
        facts = BrandFacts.of(
            brand,
            await _one(conn, "products", bp["product_id"]),
            await _one(conn, "product_offer_variants", bp["offer_variant_id"]),
            await _one(conn, "personas_4d", bp["persona_id"]),
        )
        await conn.execute(
            "update blueprints set status = 'running', updated_at = now() where id = %s", (bp["id"],)
        )
    page = page_sections(markdown, analysis["sections"])
    if not page:
        raise NotFound(f"The analysis of {analysis['url']} has no page text or sections to rebuild.")
    say(f"Read {len(page)} sections of {analysis['url']}; voice/tone from {voice.source}")
    model = analysis_model(settings)
    error: str | None = None
    sections: list[BlueprintSection] = []
    if model is None:
        sections = [BlueprintSection(**s) for s in offline_sections(page, facts, voice.text)]
    else:
        say("Asking the model for the blueprint")
        try:
            sections = await _ask_model(model, _model_input(page, facts, voice.text, analysis["url"]))
        except Exception as failure:  # stored on the blueprint, shown, and re-runnable
            log.warning("blueprint %s failed: %r", bp["id"], failure)
            error = f"The model call failed ({type(failure).__name__}): {str(failure)[:300]}"
    content = BlueprintContent(
        title=bp["name"],
        brand=brand["name"],
        url=analysis["url"],
        sections=sections,
        voice_tone=voice.text,
        voice_level=voice.level,
        voice_source=voice.source,
        voice_chain=voice.chain,
        generator="offline" if model is None else "model",
        note=OFFLINE_NOTE if model is None else None,
    )
    async with db.as_user(caller) as conn:
        await conn.execute(
            "update blueprints set status = %s, error = %s, content = %s, generator = %s, voice_tone_level = %s,"
            " updated_at = now() where id = %s",
            ("failed" if error else "succeeded", error, Jsonb(content.model_dump(mode="json") if not error else {}),
             content.generator, voice.level, bp["id"]),
        )  # fmt: skip
        row = await get_blueprint(conn, ref=str(bp["id"]))
    short = str(row.id)[:SHORT_ID]
    if error:
        return BlueprintResult(
            summary=f"Blueprint {short} failed: {error}. Nothing else changed; re-run it with "
            f"/blueprint rerun:{short} (same options).",
            blueprint=row,
        )
    say(f"Exporting as {options.get('format', 'md')}")
    files = export(row, settings=settings, fmt=options.get("format") or "md")
    label = "offline (pattern rules, no model key)" if content.generator == "offline" else "model-written"
    tone = f"'{voice.text}' — from {voice.source}" if voice.text else voice.source
    return BlueprintResult(
        summary=f"Blueprint {short} for {brand['name']} from {analysis['url']}: {len(sections)} sections, "
        f"{label}. Voice/tone: {tone}. File: {files[0].name}",
        blueprint=row,
        files=files,
    )


def export(row: BlueprintRow, *, settings: Settings, fmt: ExportFormat) -> list[ExportedFile]:
    assert row.content is not None
    path = write_export(
        row.content,
        home=settings.viraltracker_home,
        organization_id=row.organization_id,
        blueprint_id=row.id,
        fmt=fmt,
    )
    return [ExportedFile(name=path.name, path=str(path), format=fmt)]


# -- reading and comparing ------------------------------------------------------------------------


async def get_blueprint(conn: Conn, *, ref: str) -> BlueprintRow:
    """A blueprint of the caller's organizations by its id or its first 8+ characters."""
    wanted = _hex_ref(ref, "blueprint")
    cur = await conn.execute(
        "select bp.*, b.name as brand from blueprints bp join brands b on b.id = bp.brand_id"
        " where bp.id::text like %s order by bp.created_at",
        (wanted + "%",),
    )
    rows = await cur.fetchall()
    if not rows:
        raise NotFound(f"No blueprint {wanted} in your organizations.")
    if len(rows) > 1:
        raise Ambiguous(f"Several blueprints start with {wanted}: give more of the id.")
    row = rows[0]
    content = BlueprintContent.model_validate(row["content"]) if row["content"] else None
    return BlueprintRow(**{k: v for k, v in row.items() if k in BlueprintRow.model_fields and k != "content"},
                        content=content)  # fmt: skip


async def compare_blueprints(conn: Conn, *, refs: list[str]) -> BlueprintResult:
    """Two (or more) brands' blueprints of the same analysis, as a table of section × brand."""
    if len(refs) < 2:
        raise InvalidArgument("Give two blueprint ids to compare, e.g. compare:1f0c2a9e,7b3d9e01.")
    rows = [await get_blueprint(conn, ref=r) for r in refs]
    if len({r.landing_page_analysis_id for r in rows}) > 1:
        raise InvalidArgument(
            "Those blueprints rebuild different landing pages: compare blueprints of one analysis."
        )
    unfinished = [str(r.id)[:SHORT_ID] for r in rows if r.content is None]
    if unfinished:
        raise InvalidArgument(f"Blueprint {', '.join(unfinished)} has not succeeded yet: re-run it first.")
    headings: list[str] = []
    for r in rows:
        assert r.content is not None
        headings += [s.heading for s in r.content.sections if s.heading not in headings]
    table = [
        ComparisonRow(
            section=h,
            writes=[
                next(
                    (s.write_for_brand for s in (r.content.sections if r.content else []) if s.heading == h),
                    "",
                )
                for r in rows
            ],
        )
        for h in headings
    ]
    brands = [r.brand for r in rows]
    return BlueprintResult(
        summary=f"{' vs '.join(brands)} on {rows[0].content.url if rows[0].content else ''}: "
        f"{len(table)} sections side by side.",
        compared_brands=brands,
        comparison=table,
    )
