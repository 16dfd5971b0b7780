"""`viraltracker classify --brand NAME`: classify a brand's ads now, in the foreground, as the operator."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import Progress

from cli.base import _run, app, console
from cli.brands import Org, _brand


@app.command("classify")
def classify(
    brand: Annotated[str, typer.Option("--brand", help="The brand whose ads to classify.")],
    org: Org = None,
) -> None:
    """Classify a brand's new or changed ads now (unchanged ones keep their classification)."""
    from services.creative.brand_classification import classify_brand_ads
    from settings import get_settings

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Classifying ads", total=1.0)

        def step(what: str, done: float) -> None:
            progress.update(task, description=what, completed=done)

        async def work(db: Any) -> Any:
            async with db.as_owner() as conn:
                found = await _brand(conn, name=brand, org=org)
            return await classify_brand_ads(db, brand_id=found.id, settings=get_settings(), progress=step)

        result = _run(work)
    console.print(result.summary, markup=False, highlight=False)
