"""Pattern discovery with a key: Gemini embeddings (through the real google-genai client, against a
fake of the Gemini embeddings API) and pattern names written by the analysis model (through the real
anthropic client, against the Anthropic fake). The planted themes of tests/pattern_helpers.py must
still come out; vectors of the two embedding models never mix; a failing model leaves clear notes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic_ai import models

from core.errors import ConfigurationError
from db.pool import Database
from fakes.anthropic_api import API_KEY as ANTHROPIC_KEY
from fakes.anthropic_api import FakeAnthropic, FakeRequest, Reply
from fakes.gemini_embeddings import API_KEY, EmbedReply, EmbedRequest, FakeGeminiEmbeddings
from services.research.patterns import PatternReport, discover_patterns
from settings import Settings
from tests.pattern_helpers import NOISE, THEMES, Barkwell, pattern_of, seed_barkwell

PLANTED = sum(len(rows) for rows in THEMES.values()) + len(NOISE)


def gemini_settings(url: str, key: str = API_KEY) -> Settings:
    return Settings(_env_file=None, VIRALTRACKER_MODEL="offline", GEMINI_API_KEY=key, GEMINI_BASE_URL=url)  # type: ignore[call-arg]


async def discover(b: Barkwell, settings: Settings) -> PatternReport:
    async with b.db.as_user(b.caller) as conn:
        return await discover_patterns(conn, brand="Barkwell", settings=settings)


def assert_planted_themes(report: PatternReport, theme_of: dict[str, str]) -> None:
    for theme, rows in THEMES.items():
        texts = [m.text for m in pattern_of(report, theme_of, theme).members]
        hits = sum(theme_of[t] == theme for t in texts)
        assert hits / len(texts) >= 0.8 and hits / len(rows) >= 0.8, (theme, texts)


async def test_gemini_embeddings_find_the_planted_themes_and_are_cached_per_model(db: Database) -> None:
    b = await seed_barkwell(db, organization="Geminiwell Co", person="gia")
    # The local model first: its vectors are cached under its own name.
    local = await discover(b, Settings(_env_file=None, VIRALTRACKER_MODEL="offline"))  # type: ignore[call-arg]
    assert local.embedding_model == "all-MiniLM-L6-v2 (local)"
    with FakeGeminiEmbeddings() as fake:
        report = await discover(b, gemini_settings(fake.url))
        # Every text was embedded by Gemini (the MiniLM cache is another model's), once, 100 at most a call.
        assert sorted(fake.texts) == sorted([*b.theme_of, "Vet recommended. Recommended by veterinarians"])
        assert all(len(r.texts) <= 100 for r in fake.requests)
        assert {t for r in fake.requests for t in r.task_types} == {"CLUSTERING"}
        assert {d for r in fake.requests for d in r.dimensions} == {768}
        assert report.embedded_new == PLANTED + 1 and report.embedding_model == "Gemini gemini-embedding-001"
        assert_planted_themes(report, b.theme_of)
        vet = pattern_of(report, b.theme_of, "vet")
        joint = pattern_of(report, b.theme_of, "joint")
        # Novelty on Gemini's scale: the theme equal to the existing angle is not new, an unrelated one is.
        assert vet.similar_angle == "Vet recommended" and vet.novelty < 0.3
        assert joint.novelty >= 0.5 and [s.kind for s in joint.suggestions] == ["promote"]
        # Unchanged evidence: the stored patterns, nothing sent to Gemini but the angle check (cached).
        fake.reset_counts()
        again = await discover(b, gemini_settings(fake.url))
        assert again.reused and fake.requests == [] and again.embedded_new == 0
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select model, vector_dims(embedding) as dims, count(*) as n from evidence_embeddings"
            " where organization_id = (select organization_id from brands where id = %s) group by 1, 2 order by 1",
            (b.brand_id,),
        )
        stored = [(r["model"], r["dims"], r["n"]) for r in await cur.fetchall()]
        cur = await conn.execute(
            "select distinct embedding_model from patterns where brand_id = %s and status = 'new'",
            (b.brand_id,),
        )
        models = [r["embedding_model"] for r in await cur.fetchall()]
    assert stored == [
        ("all-MiniLM-L6-v2", 384, PLANTED + 1),
        ("gemini-embedding-001/768/clustering", 768, PLANTED + 1),
    ]
    assert models == ["gemini-embedding-001/768/clustering"]


async def test_gemini_rate_limit_is_waited_out_and_a_refused_key_is_named(db: Database) -> None:
    b = await seed_barkwell(db, organization="Ratewell Co", person="rae")
    calls: list[int] = []

    def once_limited(request: EmbedRequest) -> EmbedReply:
        calls.append(request.index)
        return EmbedReply.rate_limited(0.2) if request.index == 0 else EmbedReply()

    with FakeGeminiEmbeddings(once_limited) as fake:
        report = await discover(b, gemini_settings(fake.url))
        assert [a.status for a in fake.answered][:2] == [429, 200]
        assert fake.answered[1].started - fake.answered[0].finished >= 0.2  # Retry-After honoured
    assert_planted_themes(report, b.theme_of)

    other = await seed_barkwell(db, organization="Badkey Co", person="bo")
    with FakeGeminiEmbeddings() as fake, pytest.raises(ConfigurationError) as refused:
        await discover(other, gemini_settings(fake.url, key="not-the-key"))
    assert (
        "GEMINI_API_KEY" in refused.value.message and "VIRALTRACKER_EMBEDDINGS=local" in refused.value.message
    )
    async with db.as_service() as conn:
        cur = await conn.execute("select count(*) as n from patterns where brand_id = %s", (other.brand_id,))
        assert (await cur.fetchone() or {})["n"] == 0


def test_gemini_embeddings_without_a_key_say_how_to_enable_them() -> None:
    from services.llm.gemini_embeddings import embedder_for

    settings = Settings(_env_file=None, VIRALTRACKER_EMBEDDINGS="gemini")  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        embedder_for(settings)
    keyed = Settings(_env_file=None, GOOGLE_API_KEY="k", VIRALTRACKER_EMBEDDINGS="local")  # type: ignore[call-arg]
    assert embedder_for(keyed).model == "all-MiniLM-L6-v2"


def anthropic_settings(url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, VIRALTRACKER_MODEL="anthropic:claude-sonnet-4-6", ANTHROPIC_API_KEY=ANTHROPIC_KEY,
        ANTHROPIC_BASE_URL=url,
    )  # fmt: skip


async def test_a_model_names_the_patterns_and_unchanged_evidence_keeps_its_names(db: Database) -> None:
    b = await seed_barkwell(db, organization="Namewell Co", person="nia")
    seen: list[str] = []

    def namer(request: FakeRequest) -> Reply:
        seen.append(request.user_text)
        names: list[dict[str, Any]] = []
        for block in request.user_text.split("\n\n"):
            head = re.match(r"\[(P\d+)\] \d+ mentions in ", block)
            assert head is not None, block
            members = [line[2:] for line in block.splitlines()[1:]]
            themes = {b.theme_of.get(m, "?") for m in members}
            names.append({"id": head.group(1), "name": f"Theme {'/'.join(sorted(themes))}."})
        return Reply.tool({"names": names})

    with models.override_allow_model_requests(True), FakeAnthropic(namer) as fake:
        report = await discover(b, anthropic_settings(fake.url))
        assert len(seen) == 1  # one call names the whole run
        assert all(p.named_by == "model" for p in report.patterns)
        for theme in THEMES:
            assert pattern_of(report, b.theme_of, theme).name == f"Theme {theme}"  # the final '.' trimmed
        assert report.notes == ["Names written by anthropic:claude-sonnet-4-6."]
        again = await discover(b, anthropic_settings(fake.url))
        assert again.reused and len(seen) == 1
        assert sorted(p.name for p in again.patterns) == sorted(p.name for p in report.patterns)
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select name, named_by from patterns where brand_id = %s and status = 'new' order by name",
            (b.brand_id,),
        )
        rows = [(r["name"], r["named_by"]) for r in await cur.fetchall()]
    assert rows == sorted((p.name, "model") for p in report.patterns)


async def test_a_failing_model_leaves_the_central_phrases_and_says_why(db: Database) -> None:
    b = await seed_barkwell(db, organization="Failwell Co", person="fay")
    with (
        models.override_allow_model_requests(True),
        FakeAnthropic(lambda _: Reply.tool({"labels": []})) as fake,
    ):
        report = await discover(b, anthropic_settings(fake.url))
    assert report.patterns and all(p.named_by == "central_phrase" for p in report.patterns)
    assert all(p.name in b.theme_of for p in report.patterns)  # a member's own words
    assert len(report.notes) == 1 and report.notes[0].startswith(
        "Names: each pattern's most central phrase (anthropic:claude-sonnet-4-6 could not name them:"
    )
    assert_planted_themes(report, b.theme_of)
