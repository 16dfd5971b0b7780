"""The `blueprint` tool: rebuild a landing page section by section for a brand, re-run, export, compare."""

from __future__ import annotations

from core.errors import InvalidArgument
from services.blueprints.build import (
    BlueprintResult,
    compare_blueprints,
    export,
    get_blueprint,
    run_blueprint,
    start_blueprint,
)
from services.blueprints.exports import ExportFormat
from tools.actions import ActionButton
from tools.deps import Deps
from tools.registry import tool


@tool(
    example='/blueprint brand:"Acme Pets" landing_page:https://acmepets.example/products/joint-chews format:docx',
    step=(
        "Comparing blueprints {compare}",
        "Exporting blueprint {export_id} as {format}",
        "Exporting blueprint {export_id}",
        "Re-running blueprint {rerun}",
        "Building a blueprint of {landing_page} for {brand}",
        "Building a blueprint for {brand}",
        "Building a blueprint",
    ),
    help="""Each section says what the page says there, why it works (social proof, mechanism, offer,
    urgency, guarantee…) and what this brand should write, in the voice resolved persona override →
    offer variant override → brand voice (the answer says which). With no model key the blueprint is
    built offline by pattern rules and labelled so. The file (Markdown, JSON, DOCX or PDF) is offered
    for download; rerun makes one again with its stored options, compare shows two side by side.""",
)
async def blueprint(
    deps: Deps,
    brand: str | None = None,
    landing_page: str | None = None,
    product: str | None = None,
    offer_variant: str | None = None,
    persona: str | None = None,
    format: ExportFormat | None = None,
    rerun: str | None = None,
    compare: str | None = None,
    export_id: str | None = None,
) -> BlueprintResult:
    """Rewrite an analysed landing page, section by section, as copy for a brand; offered as a file.

    Args:
        brand: The brand to write for. Needed unless rerun/compare/export_id is given.
        landing_page: The analysed page: URL or analysis id.
        product: Default: the page's.
        offer_variant: Name or id; its fields fill the copy.
        persona: Name or id; its voice wins.
        rerun: A blueprint id to make again.
        compare: Two blueprint ids of one page, comma-separated.
        export_id: A finished blueprint's id to export in format.
    """
    settings = deps.settings
    if compare:
        async with deps.db.as_user(deps.caller) as conn:
            return await compare_blueprints(conn, refs=[r for r in compare.replace(" ", ",").split(",") if r])
    if export_id:
        async with deps.db.as_user(deps.caller) as conn:
            done = await get_blueprint(conn, ref=export_id)
        if done.content is None:
            raise InvalidArgument(f"Blueprint {export_id} has not succeeded yet: re-run it first.")
        files = export(done, settings=settings, fmt=format or "md")
        return BlueprintResult(
            summary=f"Exported blueprint {export_id}: {files[0].name}", blueprint=done, files=files
        )
    if rerun:
        async with deps.db.as_user(deps.caller) as conn:
            blueprint_id = (await get_blueprint(conn, ref=rerun)).id
    else:
        if not brand:
            raise InvalidArgument(
                "Give brand: and landing_page: (a URL or analysis id), or rerun:<id>, compare:<id1>,<id2> "
                "or export_id:<id>."
            )
        blueprint_id = await start_blueprint(
            deps.db, deps.caller, brand=brand, landing_page=landing_page or "", product=product,
            offer_variant=offer_variant, persona=persona, fmt=format or "md",
        )  # fmt: skip
    result = await run_blueprint(
        deps.db,
        deps.caller,
        blueprint_id=blueprint_id,
        settings=settings,
        progress=lambda message: deps.report(message),
    )
    row = result.blueprint
    if row is not None and row.status == "failed":
        result.actions = [
            ActionButton(
                label="Re-run blueprint", tool="blueprint", args={"rerun": str(row.id)[:8]}, once=True
            )
        ]
    elif row is not None:
        result.actions = [
            ActionButton(
                label=f"Export as {fmt.upper()}",
                tool="blueprint",
                args={"export_id": str(row.id)[:8], "format": fmt},
            )
            for fmt in ("docx", "pdf")
            if fmt != row.options.get("format")
        ]
    return result
