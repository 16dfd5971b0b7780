"""Issue 19 item 5: one ad and a persona read as cards (with the ad's creative), jobs say their cron in
words with buttons, the Tools menu's descriptions are one short line, a tool step's arguments read as words."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID, uuid4

from agent.chat_ui import elements_for, readable_args
from db.pool import Caller
from jobs import api as jobs_api
from services.analytics.congruence import DimensionCheck
from services.analytics.deep_analysis import DeepAnalysisResult, Hook
from services.models import AdMetrics, WindowInfo
from services.platform.accounts import Membership
from services.research.personas import PersonaDraft, PersonaLine, Quote, SourceShare
from tests.chat_helpers import OpenChat
from tools.jobs import JobsResult, ScheduleRow, _listing
from tools.personas import PersonaAnswer
from tools.registry import MENU_CHARS, get_spec

CHAT = OpenChat(Caller(user_id=uuid4(), email="maya@example.com"))

WINDOW = WindowInfo(since=date(2026, 11, 4), until=date(2026, 12, 3), days=30, label="the last 30 days")


def an_ad(**changes: object) -> DeepAnalysisResult:
    performance = AdMetrics.from_sums(
        {"meta_ad_id": "120210000000001", "ad_name": "JC_Podcast_Demo_v1", "format": "video", "spend": 1234.5,
         "impressions": 100000, "link_clicks": 1500, "purchases": 40, "purchase_value": 2975.0,
         "video_3s_views": 31000, "video_thruplays": 9000}
    )  # fmt: skip
    fields: dict[str, object] = {
        "brand": "Acme Pets", "window": WINDOW, "meta_ad_id": "120210000000001", "ad_name": "JC_Podcast_Demo_v1",
        "campaign": "Joint Care", "adset": "Dog owners 35+", "format": "video", "status": "ACTIVE",
        "ad_copy": "Stiff mornings?\nTry the chews vets recommend.", "headline": "Happy hips in 30 days",
        "thumbnail_url": "https://cdn.example.invalid/thumb.jpg", "classified": True,
        "awareness_level": "problem_aware",
        "hooks": [Hook(type="spoken", text="Is your dog slow to get up?", category="question")],
        "benefits": [], "angles": [], "claims": [], "transcript": None, "storyboard": [],
        "congruence_score": 0.67,
        "congruence": [
            DimensionCheck(dimension="offer", status="weak", ad="20% off", landing_page="15% off", note="The discount differs."),
            DimensionCheck(dimension="product", status="aligned", ad="Joint Chews", landing_page="Joint Chews", note=""),
        ],
        "performance": performance, "daily": [], "summary": "'JC_Podcast_Demo_v1' (120210000000001), a video ad.",
    }  # fmt: skip
    fields.update(changes)
    return DeepAnalysisResult.model_validate(fields)


AD_CARD = """### JC_Podcast_Demo_v1

**Format** video · **Status** active · **Ad ID** 120210000000001
**Campaign** Joint Care · **Ad set** Dog owners 35+

**Headline** Happy hips in 30 days

**Copy**

> Stiff mornings?
> Try the chews vets recommend.

**Hooks**
- Spoken (question): “Is your dog slow to get up?”

**Awareness** problem aware

**Congruence with its landing page** 0.67
- Offer: weak — The discount differs.
- Product: aligned

**Key figures, the last 30 days** Spend $1,234.50 · Purchases 40 · Purchase value $2,975.00 · ROAS 2.41x · CPA $30.86 · CTR 1.50% · Hook rate 31.00% · Hold rate 29.03%
"""


async def test_one_ad_reads_as_a_card_with_its_creative_instead_of_three_tables(tmp_path: Path) -> None:
    picture = tmp_path / "thumb.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n")
    ad = an_ad(image_file=str(picture))
    assert ad.as_card().replace("  \n", "\n") == AD_CARD

    with CHAT.active():
        elements, suffix = elements_for([ad])
    assert [type(e).__name__ for e in elements] == ["Image"]  # the creative; no tables
    assert elements[0].name == "JC_Podcast_Demo_v1" and elements[0].path == str(picture)
    assert "\n\n### JC_Podcast_Demo_v1\n" in suffix and "**Awareness** problem aware" in suffix
    assert len(ad.as_tables()) == 3  # Slack and the CLI keep the tables


def test_an_unclassified_ad_without_delivery_says_so_and_a_placeholder_is_no_picture() -> None:
    ad = an_ad(classified=False, hooks=[], awareness_level=None, congruence=[], congruence_score=None,
               performance=None, ad_copy=None, headline=None, campaign=None, adset=None)  # fmt: skip
    assert ad.as_card() == (
        "### JC_Podcast_Demo_v1\n\n**Format** video · **Status** active · **Ad ID** 120210000000001\n\n"
        "_Not classified yet: no hooks, awareness or congruence._\n\n"
        "**Key figures** no delivery in the last 30 days.\n"
    )
    assert ad.as_images() == []
    assert an_ad(thumbnail_url="https://scontent.example.com/t.jpg").as_images() == [
        ("JC_Podcast_Demo_v1", "https://scontent.example.com/t.jpg")
    ]


PERSONA_CARD = """### Stiff-Joint Sam's owner · Joint Chews

**Brand** Acme Pets · **Awareness** problem aware

**Pains**
- My dog can't climb the stairs (12 mentions)
- Vet bills

**Desires**
- A dog who runs again (3 mentions)

**In their words**
> “He jumps on the couch again” — Amazon reviews

> “Worth every penny” — ad copy analyses

**From** Reviews 75% · Ad analyses 25%
"""


async def test_a_persona_reads_as_a_card() -> None:
    persona = PersonaDraft(
        brand="Acme Pets", brand_id=uuid4(), organization_id=uuid4(), product="Joint Chews", sources="all",
        method="extractive", name="Stiff-Joint Sam's owner", awareness_level="problem_aware",
        lines=[PersonaLine(field="pains", text="My dog can't climb the stairs", mentions=12),
               PersonaLine(field="pains", text="Vet bills", mentions=1),
               PersonaLine(field="desires", text="A dog who runs again", mentions=3)],
        language=[Quote(text="He jumps on the couch again", source="reviews", table="reviews", row_id="r1"),
                  Quote(text="Worth every penny", source="ads", table="ad_analyses", row_id="a1")],
        source_breakdown=[SourceShare(source="reviews", label="Reviews", rows=40, items=30, share=0.75),
                          SourceShare(source="ads", label="Ad analyses", rows=8, items=10, share=0.25),
                          SourceShare(source="landing_pages", label="Landing pages", rows=0, items=0, share=0.0)],
    )  # fmt: skip
    answer = PersonaAnswer(summary="Persona 'Stiff-Joint Sam's owner' for Acme Pets.", persona=persona)
    assert answer.as_card() == PERSONA_CARD
    with CHAT.active():
        elements, suffix = elements_for([answer])
    assert elements == [] and suffix == "\n\n" + PERSONA_CARD


def test_jobs_say_their_cron_in_words_and_offer_their_schedules_as_buttons() -> None:
    org = uuid4()
    schedule = jobs_api.Schedule.model_construct(
        id=UUID("1f0c2a9e-0000-4000-8000-000000000001"), organization_id=org, brand="Acme Pets",
        job_type="meta_sync", cron="0 6 * * *", enabled=True, next_run_at=datetime(2026, 12, 6, 6, tzinfo=UTC),
        last_run_status="succeeded", parameters={}, brand_id=uuid4(),
    )  # fmt: skip
    roles = {org: Membership.model_construct(organization_id=org, organization="Acme", role="admin")}
    result = _listing("all", [schedule], [], roles, done="")
    [table] = result.as_tables()
    assert table.columns[:4] == ["ID", "Job type", "Scope", "Runs"]
    assert table.rows[0][3] == "every day at 06:00 UTC"
    assert [(a.label, a.command) for a in result.actions] == [
        ("Run now: meta_sync · Acme Pets", "/jobs run_now:1f0c2a9e"),
        ("Pause: meta_sync · Acme Pets", "/jobs pause:1f0c2a9e"),
    ]
    assert isinstance(result, JobsResult) and isinstance(result.schedules[0], ScheduleRow)


def test_the_tools_menu_says_each_tool_in_one_short_line() -> None:
    jobs = get_spec("jobs")
    deep = get_spec("deep_analysis")
    assert jobs is not None and deep is not None
    assert deep.menu_description == "Everything about one ad"
    assert (
        jobs.menu_description
        == "Background jobs (Meta syncs, classification, asset downloads, template scoring…"
    )
    assert len(jobs.menu_description) <= MENU_CHARS < len(jobs.short_description)


def test_a_tool_steps_arguments_read_as_words() -> None:
    args = {"brand": "Acme Pets", "days": 30, "confirm": False, "since": None, "sources": ["ads", "reviews"]}
    assert readable_args(args) == "brand: Acme Pets · days: 30 · confirm: no · sources: ads, reviews"
    assert readable_args({}) == "No arguments."
