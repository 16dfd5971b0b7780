"""`/classify brand:` classifies a brand's ads now, in the foreground, with progress; the answer is the
run's summary (new, cached, skipped with reasons, the ads with no copy to read by name), as the
ad_classification job stores it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.brands import resolve_brand
from services.creative.brand_classification import ClassificationResult, classify_brand_ads
from services.presentable import Presentable, Table
from tools.deps import Deps
from tools.registry import tool


class ClassifyAnswer(BaseModel, Presentable):
    summary: str
    new: int
    cached: int
    skipped: int
    errors: int
    skip_reasons: dict[str, int] = Field(default_factory=dict)

    @classmethod
    def of(cls, result: ClassificationResult) -> ClassifyAnswer:
        return cls(
            summary=result.summary, new=result.new, cached=result.cached, skipped=result.skipped,
            errors=result.errors, skip_reasons=result.skip_reasons,
        )  # fmt: skip

    def as_tables(self) -> list[Table]:
        if not self.skip_reasons:
            return []
        rows = [[why, str(n)] for why, n in sorted(self.skip_reasons.items())]
        return [Table("Skipped ads", ["reason", "ads"], rows)]


@tool(
    example='/classify brand:"Acme Pets"',
    step="Classifying ads for {brand}",
    help="It answers with how many ads were new, kept and skipped (and why).",
)
async def classify(deps: Deps, brand: str) -> ClassifyAnswer:
    """Classify a brand's new or changed ads now (hooks, awareness, benefits, congruence); unchanged ads
    keep their results.
    """
    async with deps.db.as_user(deps.caller) as conn:  # RLS: only the caller's own brands are found
        found = await resolve_brand(conn, name=brand)
    result = await classify_brand_ads(
        deps.db, brand_id=found.id, settings=deps.settings,
        progress=lambda message, _fraction: deps.report(message),
    )  # fmt: skip
    return ClassifyAnswer.of(result)
