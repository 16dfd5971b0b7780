"""Generated ads meet their results: the live Meta ad an ad made here became.

Every generated ad has a tracking id, `vt-` and the first 8 hex digits of its id (`generated_ads.
tracking_id`). `/create_ads` suggests an ad name ending in it and a link carrying `utm_content=<id>`.
After each sync stores a brand's ads, `link_generated_ads` finds the brand's Meta ads whose link's
`utm_content` or whose name carries a tracking id of one of the brand's generated ads and records the
Meta ad on it (`generated_ads.meta_ad_id`), so template performance has data. Rules:
- only ads of the same brand (and so organization) are linked; a link once made is never changed;
- a Meta ad is the result of one generated ad at most: its link's id wins over its name's;
- a generated ad links to one Meta ad: the oldest that carries its id (a duplicate in another ad set
  stays unlinked); an id that starts two generated ads of the brand is skipped (link those by hand).
`link_by_hand` links one launched without the id (`/link_generated_ad`, `viraltracker ads link`).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import UUID

from pydantic import BaseModel

from core.errors import Ambiguous, InvalidArgument, NotFound
from db.pool import Conn
from services.models import BrandRef

PREFIX = "vt-"
_TRACKING = re.compile(r"vt-[0-9a-f]{8}")
_ID_PREFIX = re.compile(r"[0-9a-f]{8}[0-9a-f-]{0,28}")
_META_AD_ID = re.compile(r"\d{1,30}")


def tracking_id(generated_ad_id: UUID) -> str:
    """The generated ad's tracking id, as the database derives it (`generated_ads.tracking_id`)."""
    return PREFIX + str(generated_ad_id)[:8]


def suggested_name(product: str, reference: str, tracking: str) -> str:
    """The ad name to give it in Ads Manager: what it is, then its tracking id."""
    return f"{product} · {reference} · {tracking}"


def tracked_link(url: str, tracking: str) -> str:
    """The product page with `utm_content=<tracking id>` (replacing any utm_content it had)."""
    parts = urlsplit(url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "utm_content"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("utm_content", tracking)])))


# One brand's links are made in turn (syncs, by hand): never two generated ads to one Meta ad.
_LOCK = "select pg_advisory_xact_lock(hashtextextended('generated_links:' || %(brand)s::text, 0))"
# The ids a brand's Meta ads carry: in a destination's utm_content (rank 1), or in the name (rank 2).
_LINK = r"""
with carried as (
  select a.meta_ad_id, a.created_time, 1 as rank,
    lower((regexp_match((regexp_match(d.url, '[?&]utm_content=([^&#]*)', 'i'))[1],
      '\m(vt-[0-9a-f]{8})\M', 'i'))[1]) as code
  from meta_ads a join meta_ad_destinations d on d.meta_ad_id = a.meta_ad_id
  where a.brand_id = %(brand)s and d.url ilike '%%utm_content=%%vt-%%'
  union all
  select a.meta_ad_id, a.created_time, 2, lower((regexp_match(a.name, '\m(vt-[0-9a-f]{8})\M', 'i'))[1])
  from meta_ads a
  where a.brand_id = %(brand)s and a.name ilike '%%vt-%%'
),
codes as (  -- each id that names exactly one generated ad of the brand
  select tracking_id, (array_agg(id))[1] as id from generated_ads
  where brand_id = %(brand)s and organization_id = %(org)s
  group by tracking_id having count(*) = 1
),
claims as (  -- each Meta ad's one claim: its best-ranked id that names a generated ad
  select distinct on (c.meta_ad_id) c.meta_ad_id, c.created_time, k.id as generated_ad_id
  from carried c join codes k on k.tracking_id = c.code
  order by c.meta_ad_id, c.rank
),
chosen as (  -- each generated ad's oldest claimant not linked yet
  select distinct on (c.generated_ad_id) c.generated_ad_id, c.meta_ad_id
  from claims c
  where not exists (select 1 from generated_ads x where x.meta_ad_id = c.meta_ad_id)
  order by c.generated_ad_id, c.created_time nulls last, c.meta_ad_id
)
update generated_ads g set meta_ad_id = chosen.meta_ad_id
from chosen
where g.id = chosen.generated_ad_id and g.meta_ad_id is null
returning g.id
"""


async def link_generated_ads(conn: Conn, *, brand: BrandRef) -> int:
    """Link the brand's Meta ads that carry a tracking id to their generated ads; how many were linked
    now (links made before stay as they are)."""
    await conn.execute(_LOCK, {"brand": brand.id})
    cur = await conn.execute(_LINK, {"brand": brand.id, "org": brand.organization_id})
    return len(await cur.fetchall())


def links_phrase(linked: int) -> str:
    """How a sync's answer tells of the links it made."""
    return f"linked {linked:,} live ad{'s' * (linked != 1)} to ads made here"


class GeneratedAdRef(BaseModel):
    id: UUID
    tracking_id: str
    brand_id: UUID
    brand: str
    organization_id: UUID
    product: str | None
    template: str | None
    """The library template it was made from (None: made from one of the brand's own ads)."""
    meta_ad_id: str | None


class LinkResult(BaseModel):
    generated: GeneratedAdRef
    meta_ad_id: str
    meta_ad_name: str
    changed: bool
    summary: str


async def find_generated_ad(conn: Conn, *, reference: str) -> GeneratedAdRef:
    """A generated ad (that the connection may see) by its tracking id or an 8+ character id prefix."""
    ref = reference.strip().lower()
    prefix = ref.removeprefix(PREFIX)
    if not (_TRACKING.fullmatch(ref) or _ID_PREFIX.fullmatch(prefix)):
        raise InvalidArgument(
            f"'{reference}' is not a generated ad's id: give its tracking id (like vt-7f3a9c2e, shown when"
            " the ad was made) or at least the first 8 characters of its id."
        )
    cur = await conn.execute(
        "select g.id, g.tracking_id, g.brand_id, b.name as brand, g.organization_id, p.name as product,"
        " case when g.source_template_id is not null then coalesce(t.name, 'template') end as template,"
        " g.meta_ad_id from generated_ads g join brands b on b.id = g.brand_id"
        " left join products p on p.id = g.product_id left join scraped_templates t on t.id = g.source_template_id"
        " where g.id::text like %s order by g.created_at limit 2",
        (prefix + "%",),
    )
    found = await cur.fetchall()
    if not found:
        raise NotFound(f"No ad made here has the id '{reference}'.")
    if len(found) > 1:
        raise Ambiguous(f"'{reference}' starts the ids of several ads made here: give more of its id.")
    return GeneratedAdRef(**found[0])


class LinkCheck(BaseModel):
    meta_ad_name: str
    already: str | None = None
    """Set when the two are linked already: what to say (nothing changes)."""


async def check_link(conn: Conn, *, generated: GeneratedAdRef, meta_ad_id: str) -> LinkCheck:
    """Whether the generated ad can be linked to the Meta ad: a Meta ad of its brand, neither linked to
    another. Raises, saying why, when it can't."""
    if not _META_AD_ID.fullmatch(meta_ad_id):
        raise InvalidArgument(
            f"A Meta ad id is digits (as in Ads Manager's Ad ID column), not '{meta_ad_id}'."
        )
    cur = await conn.execute(
        "select a.brand_id, a.name, b.name as brand from meta_ads a join brands b on b.id = a.brand_id"
        " where a.meta_ad_id = %s",
        (meta_ad_id,),
    )
    ad = await cur.fetchone()
    if ad is None:  # not synced, or another organization's: the same answer either way
        raise NotFound(
            f"{generated.brand} has no synced Meta ad {meta_ad_id}: sync its account first (/sync_meta),"
            " or check the id in Ads Manager's Ad ID column."
        )
    if ad["brand_id"] != generated.brand_id:
        raise InvalidArgument(
            f"Meta ad {meta_ad_id} is {ad['brand']}'s, and {generated.tracking_id} was made for"
            f" {generated.brand}: an ad links only to an ad of its own brand. Nothing changed."
        )
    check = LinkCheck(meta_ad_name=str(ad["name"] or meta_ad_id))
    if generated.meta_ad_id == meta_ad_id:
        check.already = f"{generated.tracking_id} is already linked to Meta ad {meta_ad_id}; nothing changed."
        return check
    if generated.meta_ad_id is not None:
        raise InvalidArgument(
            f"{generated.tracking_id} is already linked to Meta ad {generated.meta_ad_id}; an ad made here"
            " links to one Meta ad. Nothing changed."
        )
    cur = await conn.execute("select tracking_id from generated_ads where meta_ad_id = %s", (meta_ad_id,))
    other = await cur.fetchone()
    if other is not None:
        raise InvalidArgument(
            f"Meta ad {meta_ad_id} is already linked to {other['tracking_id']}; a Meta ad is the result of"
            " one ad made here. Nothing changed."
        )
    return check


async def link_by_hand(conn: Conn, *, generated: GeneratedAdRef, meta_ad_id: str) -> LinkResult:
    """Link the generated ad to the brand's Meta ad (checked as `check_link` does)."""
    await conn.execute(_LOCK, {"brand": generated.brand_id})
    check = await check_link(conn, generated=generated, meta_ad_id=meta_ad_id)
    done = LinkResult(
        generated=generated, meta_ad_id=meta_ad_id, meta_ad_name=check.meta_ad_name, changed=False,
        summary=check.already or "",
    )  # fmt: skip
    if check.already is not None:
        return done
    cur = await conn.execute(
        "update generated_ads set meta_ad_id = %s where id = %s and meta_ad_id is null",
        (meta_ad_id, generated.id),
    )
    if not cur.rowcount:  # linked by a sync meanwhile
        raise InvalidArgument(f"{generated.tracking_id} was linked meanwhile; nothing changed.")
    done.changed = True
    done.summary = (
        f"Linked {generated.tracking_id} ({generated.product or generated.brand}) to Meta ad {meta_ad_id}"
        f" ('{check.meta_ad_name}')."
    )
    if generated.template is not None:
        done.summary += (
            f" Its results now count for the template '{generated.template}'"
            " (/recommend_templates methodology:performance)."
        )
    return done
