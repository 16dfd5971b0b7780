"""`viraltracker ads link`: an operator links an ad made here to the live Meta ad it became."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.base import _run, app, console

ads_app = typer.Typer(help="Ads made here (/create_ads) and their live Meta ads.", no_args_is_help=True)
app.add_typer(ads_app, name="ads")


@ads_app.command("link")
def ads_link(
    generated: Annotated[str, typer.Argument(help="The ad made here: its tracking id (vt-…) or id prefix.")],
    meta_ad_id: Annotated[str, typer.Argument(help="The Meta ad's id (Ads Manager's Ad ID), same brand.")],
) -> None:
    """Link an ad made here to its live Meta ad (one launched without its tracking id), as /link_generated_ad."""
    from services.meta.generated_links import find_generated_ad, link_by_hand

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            found = await find_generated_ad(conn, reference=generated)
            return await link_by_hand(conn, generated=found, meta_ad_id=meta_ad_id.strip())

    console.print(_run(work).summary, markup=False, highlight=False)
