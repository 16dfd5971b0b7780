"""Everything about one ad: creative classification, hooks, transcript, storyboard, claims, performance."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from core.errors import Ambiguous, NotFound
from db.pool import Conn
from services.analytics.congruence import DimensionCheck, dimension_checks
from services.metrics import format_metric
from services.models import AdMetrics, BrandRef, WindowInfo
from services.money import InCurrency, format_money
from services.platform.server_files import ServerFile
from services.presentable import Presentable, Table, metric_column, table_of, titled
from services.windows import Window


class Hook(BaseModel):
    type: str
    text: str
    category: str | None
    at: float | None = None
    """Second it starts in the video, when the video was analysed."""


class TranscriptLine(BaseModel):
    start: float
    end: float
    text: str


def _secs(t: float | None) -> str:
    return "?" if t is None else f"{t:g} s"


def _span(start: float | None, end: float | None) -> str:
    if end is None:
        return _secs(start)
    return f"{'?' if start is None else f'{start:g}'}–{end:g} s"


_SEEN = {
    "frames": "Analysed from keyframes (0–3 s and scene changes; no sound): the transcript is unavailable.",
    "copy": "The video itself was not analysed: hooks and claims come from the copy and thumbnail.",
}


class DailyPoint(BaseModel):
    date: date
    spend: float
    impressions: int
    hook_rate: float | None
    ctr: float | None


class DeepAnalysisResult(InCurrency, Presentable):
    brand: str
    window: WindowInfo
    meta_ad_id: str
    ad_name: str
    campaign: str | None
    adset: str | None
    format: str
    status: str
    ad_copy: str | None
    headline: str | None
    thumbnail_url: str | None
    video_url: str | None = None
    image_file: ServerFile | None = None
    """The ad's stored picture (its thumbnail), filled in by the tool when one was downloaded."""
    classified: bool
    awareness_level: str | None
    hooks: list[Hook]
    benefits: list[str]
    angles: list[str]
    claims: list[str]
    transcript: str | None
    transcript_lines: list[TranscriptLine] = Field(default_factory=list)
    media_analysis: str | None = None
    """What the classifier saw of a video ad: video, frames (keyframes, no sound) or copy (not analysed)."""
    storyboard: list[dict[str, Any]]
    storyboard_frames: list[tuple[str, ServerFile]] = Field(default_factory=list)
    """Each scene's stored frame with its times, filled in by the tool: the storyboard as a strip."""
    congruence_score: float | None
    congruence: list[DimensionCheck]
    performance: AdMetrics | None
    daily: list[DailyPoint]
    summary: str

    def as_tables(self) -> list[Table]:
        tables = []
        if (p := self.performance) is not None:
            rows = [[m, metric_column(m).show(getattr(p, m))] for m in _SHOWN_METRICS]
            tables.append(Table(f"Performance — {self.window.label}", ["metric", "value"], rows))
        if self.hooks:
            tables.append(table_of("Hooks", self.hooks, ["type", "category", "text"]))
        if self.congruence:
            tables.append(table_of("Congruence", self.congruence, ["dimension", "status", "note"]))
        return tables

    def as_images(self) -> list[tuple[str, str]]:
        """The ad's creative (its stored thumbnail, else Meta's: a demo's placeholder address is no
        picture), then the storyboard's frames, each named by its times and scene."""
        url = self.thumbnail_url
        if self.image_file:
            creative = [(self.ad_name, self.image_file)]
        else:
            creative = [(self.ad_name, url)] if url and _real(url) else []
        return creative + list(self.storyboard_frames)

    def as_card(self) -> str:
        """The ad at a glance: what it is, what it says, how it is classified, how it matches its page
        and its key figures."""
        lines = [f"### {self.ad_name}", ""]
        facts = [
            f"**Format** {self.format}",
            f"**Status** {self.status.lower()}",
            f"**Ad ID** {self.meta_ad_id}",
        ]
        head = [" · ".join(facts)]
        if self.campaign or self.adset:
            head.append(f"**Campaign** {self.campaign or 'n/a'} · **Ad set** {self.adset or 'n/a'}")
        if _real(self.video_url):
            head.append(f"[Watch the video]({self.video_url})")
        lines.append("  \n".join(head))  # one block, a line each
        lines.append("")
        if self.headline:
            lines += [f"**Headline** {self.headline}", ""]
        if self.ad_copy:
            lines += [
                "**Copy**",
                "",
                *(f"> {line}" if line else ">" for line in self.ad_copy.splitlines()),
                "",
            ]
        if not self.classified:
            lines += ["_Not classified yet: no hooks, awareness or congruence._", ""]
        if self.hooks:
            lines.append("**Hooks**" + (" (first 3 seconds)" if self.media_analysis in _TIMED else ""))
            lines += [
                f"- {h.type.capitalize()}"
                + (f" at {h.at:g} s" if h.at is not None else "")
                + (f" ({h.category.replace('_', ' ')})" if h.category else "")
                + f": “{h.text}”"
                for h in self.hooks
            ]
            lines.append("")
        if self.format == "video" and self.media_analysis in _SEEN:  # unknown for older rows: not said
            lines += [f"_{_SEEN[self.media_analysis]}_", ""]
        if self.awareness_level:
            lines += [f"**Awareness** {self.awareness_level.replace('_', ' ')}", ""]
        if self.congruence:
            score = "" if self.congruence_score is None else f" {self.congruence_score:.2f}"
            lines.append(f"**Congruence with its landing page**{score}")
            lines += [
                f"- {c.dimension.replace('_', ' ').capitalize()}: {c.status}"
                + (f" — {c.note}" if c.note else "")
                for c in self.congruence
            ]
            lines.append("")
        if (p := self.performance) is not None:
            shown = _CARD_METRICS + (_VIDEO_METRICS if self.format == "video" else [])
            figures = " · ".join(f"{titled(m)} {format_metric(m, getattr(p, m))}" for m in shown)
            lines.append(f"**Key figures, {self.window.label}** {figures}")
        else:
            lines.append(f"**Key figures** no delivery in {self.window.label}.")
        return "\n".join(lines).strip() + "\n"

    def as_panels(self) -> list[tuple[str, str]]:
        """The transcript (line by line with its times) and the storyboard, scene by scene."""
        panels = []
        if self.transcript_lines:
            timed = "\n".join(
                f"- {_span(line.start, line.end)} — {line.text}" for line in self.transcript_lines
            )
            panels.append(("Transcript", timed))
        elif self.transcript:
            panels.append(("Transcript", self.transcript))
        elif self.media_analysis == "frames":
            panels.append(("Transcript", "Unavailable: the model saw keyframes, not the sound."))
        if self.storyboard:
            beats = "\n".join(
                f"- {_span(beat.get('t'), beat.get('end'))} — {beat.get('scene', '')}"
                + (f" (overlay: {beat['text_overlay']})" if beat.get("text_overlay") else "")
                for beat in self.storyboard
            )
            panels.append(("Storyboard", beats))
        return panels


def _real(url: str | None) -> bool:
    """An https address that can load (a demo's placeholder `.invalid` host never resolves)."""
    if not url or not url.startswith("https://"):
        return False
    host: str = urlsplit(url).hostname or ""
    return not host.endswith(".invalid")


_TIMED = ("video", "frames")
_CARD_METRICS = ["spend", "purchases", "purchase_value", "roas", "cpa", "ctr"]
_VIDEO_METRICS = ["hook_rate", "hold_rate"]
_SHOWN_METRICS = ["spend", "impressions", "link_clicks", "purchases", "purchase_value", "ctr", "cpc", "cpm",
                  "cpa", "roas", "hook_rate", "hold_rate", "thruplay_rate"]  # fmt: skip


async def _find_ad(conn: Conn, *, brand: BrandRef, ad: str) -> dict[str, Any]:
    key = ad.strip()
    cur = await conn.execute(
        "select * from meta_ads where brand_id = %(b)s and (meta_ad_id = %(k)s or lower(name) = lower(%(k)s))",
        {"b": brand.id, "k": key},
    )
    rows = await cur.fetchall()
    if not rows:
        cur = await conn.execute(
            "select * from meta_ads where brand_id = %(b)s and name ilike %(p)s order by name limit 6",
            {"b": brand.id, "p": f"%{key}%"},
        )
        rows = await cur.fetchall()
    if not rows:
        raise NotFound(f"No ad '{ad}' for {brand.name}. Use the ad's Meta ID or part of its name.")
    if len(rows) > 1:
        names = ", ".join(f"'{r['name']}' ({r['meta_ad_id']})" for r in rows[:5])
        raise Ambiguous(f"'{ad}' matches several ads of {brand.name}: {names}. Which one?")
    return dict(rows[0])


AD_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_AD_IMAGE_BYTES = 5 * 1024 * 1024
"""Larger images are not shown to a model (Anthropic refuses images over 5 MB)."""


async def stored_ad_image(conn: Conn, *, meta_ad_id: str) -> tuple[str, str] | None:
    """(storage path, content type) of the ad's downloaded image (its thumbnail, from the asset downloads),
    when it is one a model can read; None when none was downloaded."""
    cur = await conn.execute(
        "select path, content_type, bytes from ad_assets where meta_ad_id = %s and kind = 'image'"
        " order by fetched_at desc limit 1",
        (meta_ad_id,),
    )
    row = await cur.fetchone()
    return readable_ad_image(row)


def readable_ad_image(row: dict[str, Any] | None) -> tuple[str, str] | None:
    """(path, content type) of a stored ad image a model can read (type and size), else None."""
    if row is None or row["content_type"] not in AD_IMAGE_TYPES or row["bytes"] > MAX_AD_IMAGE_BYTES:
        return None
    return str(row["path"]), str(row["content_type"])


async def ad_image_downloaded(conn: Conn, *, meta_ad_id: str) -> bool:
    """Whether the asset downloads stored an image of the ad (readable by a model or not)."""
    cur = await conn.execute(
        "select 1 from ad_assets where meta_ad_id = %s and kind = 'image' limit 1", (meta_ad_id,)
    )
    return await cur.fetchone() is not None


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value or []]


async def deep_analysis(conn: Conn, *, brand: BrandRef, window: Window, ad: str) -> DeepAnalysisResult:
    """One ad, all we know: what it says and shows, how it is classified, and how it performed."""
    row = await _find_ad(conn, brand=brand, ad=ad)
    cur = await conn.execute(
        "select * from ad_creative_classifications where meta_ad_id = %s order by classified_at desc limit 1",
        (row["meta_ad_id"],),
    )
    cls = await cur.fetchone()
    cur = await conn.execute(
        "select date, spend, impressions, link_clicks, purchases, purchase_value, video_3s_views, video_thruplays"
        " from meta_ads_performance where meta_ad_id = %(a)s and date between %(s)s and %(u)s order by date",
        {"a": row["meta_ad_id"], "s": window.since, "u": window.until},
    )
    days = await cur.fetchall()
    is_video = row["format"] == "video"
    performance = None
    if days:
        sums: dict[str, Any] = {
            "meta_ad_id": row["meta_ad_id"],
            "ad_name": row["name"],
            "format": row["format"],
        }
        for key in (
            "spend",
            "impressions",
            "link_clicks",
            "purchases",
            "purchase_value",
            "video_3s_views",
            "video_thruplays",
        ):
            sums[key] = sum(d[key] for d in days)
        performance = AdMetrics.from_sums(sums)
    daily = [
        DailyPoint(
            date=d["date"],
            spend=float(d["spend"]),
            impressions=int(d["impressions"]),
            hook_rate=(d["video_3s_views"] / d["impressions"]) if is_video and d["impressions"] else None,
            ctr=(d["link_clicks"] / d["impressions"]) if d["impressions"] else None,
        )
        for d in days
    ]
    hooks: list[Hook] = []
    if cls is not None:
        for kind in ("spoken", "overlay", "visual"):
            h = (cls["hooks"] or {}).get(kind)
            if h:
                hooks.append(
                    Hook(type=kind, text=str(h.get("text") or ""), category=h.get("category"), at=h.get("at"))
                )
    parts = [f"'{row['name']}' ({row['meta_ad_id']}), a {row['format']} ad of {brand.name}."]
    if performance is not None:
        parts.append(
            f"In {window.label}: {format_money(performance.spend)} spend, ROAS {format_metric('roas', performance.roas)},"
            f" CTR {format_metric('ctr', performance.ctr)}"
            + (
                f", hook rate {format_metric('hook_rate', performance.hook_rate)}, hold rate {format_metric('hold_rate', performance.hold_rate)}"
                if is_video
                else ""
            )
            + "."
        )
    else:
        parts.append(f"No delivery in {window.described}.")
    if cls is None:
        parts.append("Not classified yet: no hooks, transcript or congruence data.")
    else:
        if hooks:
            parts.append(
                f'Opens with a {hooks[0].category or "uncategorised"} {hooks[0].type} hook: "{hooks[0].text}".'
            )
        if cls["media_analysis"] in _TIMED and hooks:
            parts.append(
                "Its first 3 seconds: "
                + "; ".join(f'{h.type} at {_secs(h.at)} "{h.text}"' for h in hooks)
                + "."
            )
        if row["format"] == "video" and cls["media_analysis"] in _SEEN:
            parts.append(_SEEN[cls["media_analysis"]])
        if cls["awareness_level"]:
            parts.append(f"Awareness level: {cls['awareness_level'].replace('_', ' ')}.")
    return DeepAnalysisResult(
        brand=brand.name,
        window=WindowInfo.of(window),
        meta_ad_id=row["meta_ad_id"],
        ad_name=row["name"],
        campaign=row["campaign"],
        adset=row["adset"],
        format=row["format"],
        status=row["status"],
        ad_copy=row["ad_copy"],
        headline=row["headline"],
        thumbnail_url=row["thumbnail_url"],
        video_url=row["video_url"],
        classified=cls is not None,
        awareness_level=cls["awareness_level"] if cls else None,
        hooks=hooks,
        benefits=_strings(cls["benefits"]) if cls else [],
        angles=_strings(cls["angles"]) if cls else [],
        claims=_strings(cls["claims"]) if cls else [],
        transcript=cls["transcript"] if cls else None,
        transcript_lines=[TranscriptLine(**line) for line in cls["transcript_lines"] or []] if cls else [],
        media_analysis=cls["media_analysis"] if cls else None,
        storyboard=list(cls["storyboard"] or []) if cls else [],
        congruence_score=cls["congruence_score"] if cls else None,
        congruence=dimension_checks(cls["congruence_components"]) if cls else [],
        performance=performance,
        daily=daily,
        summary=" ".join(parts),
    )


def scene_label(beat: dict[str, Any]) -> str:
    """A storyboard scene's caption under its frame: "1.5–3.2 s · The serum bottle"."""
    return f"{_span(beat.get('t'), beat.get('end'))} · {beat.get('scene', '')}"
