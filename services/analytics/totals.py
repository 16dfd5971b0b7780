"""A brand's totals for a period against another (the previous one, another period, another brand),
with the changes, and the ads that moved most between two periods of one brand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, NoData
from db.pool import Conn
from services.analytics.totals_text import (
    LABELS,
    RATIOS_SHOWN,
    SUMMED,
    named,
    pct_change,
    sentence,
    signed,
    when,
)
from services.calendar_days import describe_range, month_range, quarter_of, quarter_range
from services.currencies import conversion
from services.metrics import compute_ratio, format_metric, formula
from services.models import BrandRef, WindowInfo, per_ad_sums_sql, window_scan
from services.money import InCurrency, format_money
from services.presentable import Column, Presentable, Shown, Table, with_rows
from services.windows import Window

MOVERS = 5


def previous_period(window: Window, *, today: date) -> Window:
    """The period a summary compares with: the calendar month, quarter or year before a whole one
    ("October" against September); otherwise the same number of days just before."""
    since, until = window.since, window.until
    if since.day == 1 and (since, until) == month_range(since.year, since.month):
        end = since - timedelta(days=1)
        start = end.replace(day=1)
    elif (since, until) == quarter_range(since.year, quarter_of(since)):
        end = since - timedelta(days=1)
        start = quarter_range(end.year, quarter_of(end))[0]
    elif (since.month, since.day, until.month, until.day) == (1, 1, 12, 31) and since.year == until.year:
        start, end = since.replace(year=since.year - 1), until.replace(year=until.year - 1)
    else:
        end = since - timedelta(days=1)
        start = end - timedelta(days=window.days - 1)
    return Window(since=start, until=end, label=describe_range(start, end, today=today))


class Totals(BaseModel):
    """One side's summed raw counts and the ratios built from them (video ratios over video ads only)."""

    ads_with_spend: int
    video_ads: int
    spend: float
    impressions: int
    link_clicks: int
    purchases: int
    purchase_value: float
    video_impressions: int
    video_3s_views: int
    video_thruplays: int
    roas: float | None
    cpa: float | None
    ctr: float | None
    hook_rate: float | None
    hold_rate: float | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> Totals:
        video = {**row, "impressions": row["video_impressions"]}
        return cls(
            ads_with_spend=int(row["ads_with_spend"]),
            video_ads=int(row["video_ads"]),
            spend=round(float(row["spend"]), 2),
            impressions=int(row["impressions"]),
            link_clicks=int(row["link_clicks"]),
            purchases=int(row["purchases"]),
            purchase_value=round(float(row["purchase_value"]), 2),
            video_impressions=int(row["video_impressions"]),
            video_3s_views=int(row["video_3s_views"]),
            video_thruplays=int(row["video_thruplays"]),
            roas=compute_ratio("roas", row),
            cpa=compute_ratio("cpa", row),
            ctr=compute_ratio("ctr", row),
            hook_rate=compute_ratio("hook_rate", video),
            hold_rate=compute_ratio("hold_rate", video),
        )


class MetricChange(BaseModel):
    """One figure on both sides: the change is first minus second; `change_pct` is n/a (None) when the
    second side's figure is 0 or n/a."""

    metric: str
    label: str
    value: float | None
    vs_value: float | None
    change: float | None
    change_pct: float | None
    formula: str


class AdMove(BaseModel):
    """One ad in both periods of a brand: spend and ROAS in each and their changes."""

    meta_ad_id: str
    ad_name: str
    format: str
    spend: float
    vs_spend: float
    spend_change: float
    roas: float | None
    vs_roas: float | None
    roas_change: float | None


class TotalsResult(InCurrency, Presentable):
    """A brand's totals for a window against a second side: the previous period (summary), another
    period of the brand or another brand (compare)."""

    brand: str
    window: WindowInfo
    vs_brand: str
    vs_window: WindowInfo
    side: str
    """How the first side is named in the table: its period, or its brand when two brands are compared."""
    vs_side: str
    totals: Totals
    vs_totals: Totals
    changes: list[MetricChange]
    formulas: list[str]
    min_spend: float | None = None
    """The spend both periods need for an ad to be ranked by ROAS change (compare only)."""
    spend_movers: list[AdMove] = Field(default_factory=list)
    roas_movers: list[AdMove] = Field(default_factory=list)
    summary: str

    def as_tables(self) -> list[Table]:
        vs_title = self.vs_side if self.vs_side != self.side else f"{self.vs_side} (vs)"
        values = [
            [
                c.label,
                Shown(c.value, format_metric(c.metric, c.value)),
                Shown(c.vs_value, format_metric(c.metric, c.vs_value)),
                Shown(c.change, signed(c.metric, c.change)),
                Shown(c.change_pct, pct_change(c.change_pct)),
                c.formula,
            ]
            for c in self.changes
        ]
        columns = [Column("Metric"), Column(self.side), Column(vs_title), Column("Change"),
                   Column("Change %"), Column("Formula")]  # fmt: skip
        floor = f"{format_money(self.min_spend, whole=True)}" if self.min_spend is not None else ""
        title = (
            f"{self.brand}: {self.side} vs {self.vs_side}"
            if self.brand == self.vs_brand
            else f"{self.brand} vs {self.vs_brand}, {self.window.label}"
        )
        return [
            Table(title, columns, values),
            *with_rows(
                _movers_table(
                    f"Ads that moved most by spend ({self.side} vs {self.vs_side})", self.spend_movers
                ),
                _movers_table(f"Ads that moved most by ROAS (spend ≥ {floor} in both)", self.roas_movers),
            ),
        ]


def _movers_table(title: str, moves: list[AdMove]) -> Table:
    columns = [Column("ad_name"), Column("meta_ad_id", "ad_id"), Column("format"), Column("spend", "money"),
               Column("vs_spend", "money", "Spend (vs)"), Column("spend_change"), Column("roas", "ratio"),
               Column("vs_roas", "ratio", "ROAS (vs)"), Column("roas_change")]  # fmt: skip
    values = [
        [m.ad_name, m.meta_ad_id, m.format, m.spend, m.vs_spend, Shown(m.spend_change, signed("spend", m.spend_change)),
         m.roas, m.vs_roas, Shown(m.roas_change, signed("roas", m.roas_change))]
        for m in moves
    ]  # fmt: skip
    return Table(title, columns, values)


@dataclass(frozen=True)
class Side:
    brand: BrandRef
    window: Window


@dataclass(frozen=True)
class Found:
    """What one query found for both sides."""

    totals: Totals
    vs_totals: Totals
    spend_movers: list[AdMove]
    roas_movers: list[AdMove]


def _totals_sql(cte: str) -> str:
    return f"""select count(*) filter (where spend > 0) as ads_with_spend,
             count(*) filter (where spend > 0 and format = 'video') as video_ads,
             coalesce(sum(spend), 0) as spend, coalesce(sum(impressions), 0) as impressions,
             coalesce(sum(link_clicks), 0) as link_clicks, coalesce(sum(purchases), 0) as purchases,
             coalesce(sum(purchase_value), 0) as purchase_value,
             coalesce(sum(impressions) filter (where format = 'video'), 0) as video_impressions,
             coalesce(sum(video_3s_views) filter (where format = 'video'), 0) as video_3s_views,
             coalesce(sum(video_thruplays) filter (where format = 'video'), 0) as video_thruplays
      from {cte}"""


_MOVERS_SQL = """,
    j as materialized (
      select coalesce(a.meta_ad_id, b.meta_ad_id) as meta_ad_id, coalesce(a.ad_name, b.ad_name) as ad_name,
             coalesce(a.format, b.format) as format,
             coalesce(a.spend, 0) as spend, coalesce(b.spend, 0) as vs_spend,
             coalesce(a.purchase_value, 0) as purchase_value, coalesce(b.purchase_value, 0) as vs_purchase_value
      from a full join b on b.meta_ad_id = a.meta_ad_id
    ),
    by_spend as (
      select * from j where j.spend <> j.vs_spend
      order by abs(j.spend - j.vs_spend) desc, j.meta_ad_id limit %(movers)s
    ),
    by_roas as (
      select * from j where j.spend >= %(min_spend)s and j.vs_spend >= %(min_spend)s and j.spend > 0 and j.vs_spend > 0
      order by abs(j.purchase_value / j.spend - j.vs_purchase_value / j.vs_spend) desc, j.meta_ad_id
      limit %(movers)s
    )"""


async def compare_sides(conn: Conn, *, first: Side, second: Side, min_spend: float | None) -> Found:
    """Both sides' totals in one query and, for two periods of one brand (`min_spend` given), the ads
    whose spend and ROAS moved most. Raises NoData when neither side has spend."""
    movers = min_spend is not None and first.brand.id == second.brand.id
    sql = f"""
    with a as materialized ({per_ad_sums_sql(ad_columns=True)}),
    b as materialized ({per_ad_sums_sql(brand_param="vs_brand_id", since_param="vs_since", until_param="vs_until", ad_columns=True)})
    {_MOVERS_SQL if movers else ""}
    select (select row_to_json(t) from ({_totals_sql("a")}) t) as first,
           (select row_to_json(t) from ({_totals_sql("b")}) t) as second,
           {"(select coalesce(json_agg(by_spend), '[]') from by_spend)" if movers else "'[]'::json"} as by_spend,
           {"(select coalesce(json_agg(by_roas), '[]') from by_roas)" if movers else "'[]'::json"} as by_roas
    """  # fmt: skip
    params = {
        "brand_id": first.brand.id, "since": first.window.since, "until": first.window.until,
        "vs_brand_id": second.brand.id, "vs_since": second.window.since, "vs_until": second.window.until,
        "min_spend": min_spend or 0, "movers": MOVERS,
    }  # fmt: skip
    cur = await window_scan(conn, sql, params)
    row = await cur.fetchone()
    assert row is not None
    totals = Totals.of(await _in_brand_currency(conn, row["first"], first))
    vs_totals = Totals.of(await _in_brand_currency(conn, row["second"], second))
    if totals.spend == 0 and vs_totals.spend == 0:
        other = "" if second.brand.id == first.brand.id else f"for {second.brand.name} "
        raise NoData(
            f"No spend for {first.brand.name} in {first.window.described} nor {other}in {second.window.described}."
        )
    return Found(
        totals=totals,
        vs_totals=vs_totals,
        spend_movers=[_move(r) for r in row["by_spend"]],
        roas_movers=[_move(r) for r in row["by_roas"]],
    )


async def _in_brand_currency(conn: Conn, sums: dict[str, Any], side: Side) -> dict[str, Any]:
    """One side's sums with its accounts in other currencies converted at the organization's rates;
    refused when a day has no rate (amounts in two currencies are never added as they are)."""
    converted = await conversion(conn, brand=side.brand, window=side.window)
    if converted.missing is not None:
        other, day = converted.missing
        raise InvalidArgument(
            f"{side.brand.name} has ad accounts in {other} and {side.brand.currency}, and there is no {other} to"
            f" {side.brand.currency} rate on or before {day}, so its totals are not computed. Load rates with:"
            " viraltracker rates load FILE.csv --org ORGANIZATION"
        )
    if not (converted.spend or converted.purchase_value):
        return sums
    spend = Decimal(str(sums["spend"])) + converted.spend
    value = Decimal(str(sums["purchase_value"])) + converted.purchase_value
    return {**sums, "spend": float(spend), "purchase_value": float(value)}


def _move(row: dict[str, Any]) -> AdMove:
    spend, vs_spend = round(float(row["spend"]), 2), round(float(row["vs_spend"]), 2)
    roas = compute_ratio("roas", row)
    vs_roas = compute_ratio("roas", {"purchase_value": row["vs_purchase_value"], "spend": row["vs_spend"]})
    return AdMove(
        meta_ad_id=str(row["meta_ad_id"]), ad_name=str(row["ad_name"] or ""), format=str(row["format"]),
        spend=spend, vs_spend=vs_spend, spend_change=round(spend - vs_spend, 2), roas=roas, vs_roas=vs_roas,
        roas_change=roas - vs_roas if roas is not None and vs_roas is not None else None,
    )  # fmt: skip


def changes(totals: Totals, vs_totals: Totals) -> list[MetricChange]:
    """Each figure on both sides with its absolute and relative change (n/a for a zero or n/a base)."""
    found = []
    for metric in (*SUMMED, *RATIOS_SHOWN):
        value, vs_value = getattr(totals, metric), getattr(vs_totals, metric)
        change = value - vs_value if value is not None and vs_value is not None else None
        pct = change / vs_value if change is not None and vs_value else None
        video = " (video ads only)" if metric in ("hook_rate", "hold_rate") else ""
        found.append(
            MetricChange(
                metric=metric,
                label=LABELS[metric],
                value=value,
                vs_value=vs_value,
                change=change,
                change_pct=pct,
                formula=formula(metric) + video,
            )
        )
    return found


def formulas() -> list[str]:
    return [formula(m) for m in RATIOS_SHOWN]


async def brand_summary(conn: Conn, *, brand: BrandRef, window: Window, today: date) -> TotalsResult:
    """The brand's totals for the window against the previous period (`previous_period`)."""
    vs_window = previous_period(window, today=today)
    found = await compare_sides(
        conn, first=Side(brand, window), second=Side(brand, vs_window), min_spend=None
    )
    text = _sentence(brand.name, window, named(vs_window, previous=True), found, "was")
    return _result(brand, window, brand, vs_window, found, text, side=window.label, vs_side=vs_window.label)


async def compare(
    conn: Conn, *, brand: BrandRef, window: Window, vs_brand: BrandRef, vs_window: Window, min_spend: float
) -> TotalsResult:
    """Two periods of one brand (with the ads that moved most), or two brands (over their windows)."""
    same_brand = brand.id == vs_brand.id
    if brand.money.currency != vs_brand.money.currency:
        raise InvalidArgument(
            f"{brand.name} reports in {brand.money.currency} and {vs_brand.name} in {vs_brand.money.currency}:"
            " their figures can't be subtracted one from the other. Ask for each brand's /summary instead."
        )
    found = await compare_sides(
        conn, first=Side(brand, window), second=Side(vs_brand, vs_window), min_spend=min_spend
    )
    if same_brand:
        before = previous_period(window, today=window.until)  # only its dates are compared
        is_before = (before.since, before.until) == (vs_window.since, vs_window.until)
        text = _sentence(brand.name, window, named(vs_window, previous=is_before), found, "was")
        side, vs_side = window.label, vs_window.label
        if window.days != vs_window.days:
            text += f" The periods differ in length ({window.days} vs {vs_window.days} days)."
        text += _movers_text(found.spend_movers, found.roas_movers, min_spend)
    else:
        vs_name = vs_brand.name if vs_window == window else f"{vs_brand.name} {when(vs_window)}"
        text = _sentence(brand.name, window, vs_name, found, vs_brand.name)
        text += " Ads that moved are listed for two periods of one brand."
        side, vs_side = brand.name, vs_brand.name
    return _result(
        brand, window, vs_brand, vs_window, found, text, side=side, vs_side=vs_side,
        min_spend=min_spend if same_brand else None,
    )  # fmt: skip


def _sentence(brand: str, window: Window, vs_name: str, found: Found, was: str) -> str:
    return sentence(brand, window, vs_name, found.totals.model_dump(), found.vs_totals.model_dump(), was)


def _movers_text(by_spend: list[AdMove], by_roas: list[AdMove], min_spend: float) -> str:
    text = ""
    if by_spend:
        top = by_spend[0]
        text += (
            f" Biggest spend move: '{top.ad_name}' {signed('spend', top.spend_change)}"
            f" ({format_metric('spend', top.vs_spend)} → {format_metric('spend', top.spend)})."
        )
    if by_roas:
        top = by_roas[0]
        text += (
            f" Biggest ROAS move among ads with {format_money(min_spend, whole=True)}+ spend in both: '{top.ad_name}'"
            f" {format_metric('roas', top.vs_roas)} → {format_metric('roas', top.roas)}."
        )
    else:
        text += f" No ad spent {format_money(min_spend, whole=True)} in both periods, so none is ranked by ROAS change."
    return text


def _result(
    brand: BrandRef,
    window: Window,
    vs_brand: BrandRef,
    vs_window: Window,
    found: Found,
    text: str,
    *,
    side: str,
    vs_side: str,
    min_spend: float | None = None,
) -> TotalsResult:
    return TotalsResult(
        brand=brand.name, window=WindowInfo.of(window), vs_brand=vs_brand.name, vs_window=WindowInfo.of(vs_window),
        side=side, vs_side=vs_side, totals=found.totals, vs_totals=found.vs_totals,
        changes=changes(found.totals, found.vs_totals), formulas=formulas(), min_spend=min_spend,
        spend_movers=found.spend_movers, roas_movers=found.roas_movers,
        summary=text + " Ratios are of summed counts; hook and hold rates over video ads only.",
    )  # fmt: skip
