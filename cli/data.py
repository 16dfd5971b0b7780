"""`viraltracker` commands that set up and fill the database: db, demo, org, user, import, meta, sync, templates."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.progress import Progress
from rich.table import Table as RichTable

from cli.base import (
    _run,
    console,
    db_app,
    demo_app,
    err,
    import_app,
    meta_app,
    org_app,
    rates_app,
    sync_app,
    templates_app,
    user_app,
)
from settings import get_settings


@db_app.command("up")
def db_up() -> None:
    """Start the embedded Postgres if DATABASE_URL is not set, and apply pending migrations."""
    from db.migrate import migrate

    applied = _run(migrate, migrate_first=False)
    console.print(f"Migrations applied: {', '.join(applied) if applied else 'none (already up to date)'}")


@demo_app.command("seed")
def demo_seed(
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 7,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing if there is already data.")
    ] = False,
) -> None:
    """Load realistic demo data: 2 organizations, 4 brands, 300+ ads with 90 days of performance."""
    from services.demo.seed import seed_demo

    with console.status("Seeding demo data…") as status:
        summary = _run(
            lambda db: seed_demo(
                db, seed=seed, if_empty=if_empty, progress=lambda step: status.update(f"Seeding {step}…")
            )
        )
    if summary.skipped:
        console.print("Demo data already present; nothing changed.")
    else:
        console.print(
            f"Seeded {summary.organizations} organizations, {len(summary.brands)} brands ({', '.join(summary.brands)}), "
            f"{summary.ads} ads ({summary.classified_ads} classified), {summary.performance_rows:,} daily rows."
        )
    table = RichTable(title="Demo logins")
    for column in ("email", "password", "organization", "role"):
        table.add_column(column)
    for user in summary.users:
        table.add_row(user.email, user.password, user.organization, user.role)
    console.print(table)


@org_app.command("create")
def org_create(name: Annotated[str, typer.Argument(help="The organization's name.")]) -> None:
    """Create an organization (or confirm it exists)."""
    from services.platform.accounts import create_organization

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            return await create_organization(conn, name=name)

    org_id = _run(work)
    console.print(f"Organization '{name}' ready ({org_id}).")


@org_app.command("locale")
def org_locale(
    name: Annotated[str, typer.Argument(help="The organization's name.")],
    locale: Annotated[str, typer.Argument(help="How its people read numbers: en_US, de_DE, fr_FR…")],
) -> None:
    """Set the locale amounts are shown in for an organization (separators, symbol placement)."""
    from services.money import checked_locale
    from services.platform.accounts import find_organization

    async def work(db: Any) -> str:
        chosen = checked_locale(locale)
        async with db.as_owner() as conn:
            org_id = await find_organization(conn, name=name)
            await conn.execute("update organizations set locale = %s where id = %s", (chosen, org_id))
        return chosen

    console.print(f"'{name}' now reads amounts as {_run(work)} does.")


@rates_app.command("load")
def rates_load(
    file: Annotated[Path, typer.Argument(help="CSV with the header day,from,to,rate (1 from = rate to).")],
    org: Annotated[str, typer.Option("--org", help="The organization whose rates these are.")],
) -> None:
    """Load dated currency rates (a day's rate replaces the one loaded before)."""
    from services.currencies import load_rates
    from services.platform.accounts import find_organization

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            org_id = await find_organization(conn, name=org)
            return await load_rates(conn, organization_id=org_id, organization=org, path=file)

    console.print(_run(work).summary)


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Argument(help="The person's email (their login).")],
    org: Annotated[str, typer.Option("--org", help="The organization they belong to.")],
    role: Annotated[str, typer.Option(help="admin or member.")] = "member",
    password: Annotated[
        str | None, typer.Option(help="Their password; one is generated and printed if omitted.")
    ] = None,
) -> None:
    """Add a user to an organization (creating the user if new)."""
    from services.platform.accounts import add_user, find_organization

    chosen = password or secrets.token_urlsafe(12)

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            org_id = await find_organization(conn, name=org)
            return await add_user(conn, email=email, organization_id=org_id, role=role, password=chosen)

    _run(work)
    console.print(f"{email} is {'an' if role == 'admin' else 'a'} {role} of '{org}'.")
    if password is None:
        console.print(f"Generated password: {chosen}")


@import_app.command("meta-csv")
def import_meta_csv(
    file: Annotated[Path, typer.Argument(help="An Ads Manager export: daily breakdown, ad level, CSV.")],
    brand: Annotated[
        str, typer.Option("--brand", help="The brand these ads belong to (created if missing).")
    ],
    org: Annotated[
        str | None, typer.Option("--org", help="The brand's organization (needed when there are several).")
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            "--currency", help="The amounts' currency (EUR, JPY…) when the header does not name it."
        ),
    ] = None,
) -> None:
    """Import an Ads Manager export (re-importing the same file changes nothing)."""
    from services.meta.csv_import import import_meta_csv as run_import

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Importing", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        summary = _run(
            lambda db: run_import(
                db, path=file, brand_name=brand, org_name=org, currency=currency, progress=step
            )
        )
    created = " (new brand)" if summary.brand_created else ""
    console.print(
        f"Imported {summary.rows_read:,} rows into {summary.brand}{created} / {summary.organization}: "
        f"{summary.ads_created} new ads, {summary.ads_updated} already known; {summary.days_inserted:,} new ad-days, "
        f"{summary.days_updated:,} already present (refreshed); {summary.since} to {summary.until}."
    )
    if summary.converted_to:
        console.print(f"Amounts converted from {summary.currency} to {summary.converted_to} with your rates.")
    if summary.ads_with_copy:
        console.print(
            f"{summary.ads_with_copy:,} of {summary.ads_created + summary.ads_updated:,} ads have copy to"
            f' classify: viraltracker classify --brand "{summary.brand}"'
        )
    if summary.queued:
        console.print(f"{summary.queued} (A worker runs it: `viraltracker worker`, or the chat app's own.)")
    if summary.links_line:
        console.print(summary.links_line)


@import_app.command("reviews")
def import_reviews(
    file: Annotated[
        Path, typer.Argument(help="Amazon reviews, CSV or JSON (an export, a scraper's output).")
    ],
    brand: Annotated[str, typer.Option("--brand", help="The brand the reviews are about.")],
    product: Annotated[str | None, typer.Option("--product", help="The brand's product they review.")] = None,
    org: Annotated[
        str | None, typer.Option("--org", help="The brand's organization, if names repeat.")
    ] = None,
) -> None:
    """Import Amazon reviews for a brand (re-importing the same file adds nothing)."""
    from services.research.reviews import import_reviews as run_import

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Importing reviews", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = _run(
            lambda db: run_import(db, None, path=file, brand=brand, product=product, org=org, progress=step)
        )
    console.print(result.summary, markup=False, highlight=False)


@meta_app.command("link")
def meta_link(
    brand: Annotated[str, typer.Option("--brand", help="The brand the ad account belongs to.")],
    account: Annotated[str, typer.Option("--account", help="The ad account ID, act_1234567890.")],
) -> None:
    """Link a brand to an ad account read with META_SYSTEM_USER_TOKEN (checked with Meta first)."""
    from services.meta.connections import link_account

    linked = _run(lambda db: link_account(db, None, brand_name=brand, account=account))
    console.print(linked.summary)


@sync_app.command("meta")
def sync_meta(
    brand: Annotated[str, typer.Option("--brand", help="The brand whose linked ad accounts to sync.")],
    days: Annotated[
        int | None,
        typer.Option(help="Fetch this many days back instead of resuming from the last sync."),
    ] = None,
    ads_only: Annotated[
        bool, typer.Option("--ads-only", help="Only the ads and their landing pages, no daily results.")
    ] = False,
) -> None:
    """Sync a brand's ads and daily ad-level insights from Meta (incremental; re-runs never duplicate)."""
    from services.meta.sync import MetaSync
    from services.process import calm_garbage_collector

    calm_garbage_collector()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Meta sync", total=1.0)

        def step(what: str, done: float) -> None:
            progress.update(task, description=what, completed=done)

        result = _run(lambda db: MetaSync(db, None, progress=step).run(brand, days=days, ads_only=ads_only))
    console.print(result.summary, markup=False, highlight=False)
    if not result.ok:
        raise typer.Exit(1)


@templates_app.command("import")
def templates_import(
    sources: Annotated[
        list[str], typer.Argument(help="Image files, folders of images, or http(s) addresses of images.")
    ],
    category: Annotated[str | None, typer.Option(help="e.g. ugc, testimonial, before_after, offer.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="static, carousel, story or video.")] = None,
    tags: Annotated[str | None, typer.Option(help="Comma-separated tags.")] = None,
    source: Annotated[str | None, typer.Option(help="Where they come from, e.g. 'Meta Ad Library'.")] = None,
    description: Annotated[str | None, typer.Option(help="A description for every template.")] = None,
) -> None:
    """Import template images into the pending review queue (a folder's templates.json or
    templates.csv gives per-file metadata; re-importing the same image changes nothing)."""
    from services.templates.library import TemplateMeta, import_templates

    given = {"category": category, "format": fmt, "source": source, "description": description}
    meta = TemplateMeta(**{k: v for k, v in given.items() if v}, tags=(tags or "").split(","))
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Importing templates", total=1.0)

        def step(what: str, done: float) -> None:
            progress.update(task, description=what, completed=done)

        result = _run(
            lambda db: import_templates(db, refs=sources, settings=get_settings(), meta=meta, progress=step)
        )
    for item in result.items:
        mark = {"imported": "+", "already_had": "=", "refused": "x"}[item.outcome]
        console.print(f"{mark} {item.message}", markup=False, highlight=False)
    console.print(result.summary, markup=False, highlight=False)
    if result.refused:
        raise typer.Exit(1)


@templates_app.command("list")
def templates_list(
    status: Annotated[str | None, typer.Option(help="pending, approved or rejected (default: all).")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
) -> None:
    """The template library as the operator sees it (every status), newest first, with image files."""
    from services.templates.library import Status, list_templates, template_file

    if status not in (None, "pending", "approved", "rejected"):
        err.print(f"[red]--status must be pending, approved or rejected (got '{status}').[/red]")
        raise typer.Exit(2)
    checked = cast("Status | None", status)  # checked just above

    async def work(db: Any) -> Any:
        async with db.as_service() as conn:
            return await list_templates(conn, status=checked, category=category, limit=limit)

    found = _run(work)
    table = RichTable(title=f"{len(found)} template(s)")
    for column in ("id", "name", "status", "category, format", "tags", "size", "image"):
        table.add_column(column, overflow="fold")
    settings = get_settings()
    for t in found:
        size = f"{t.width}×{t.height}" if t.width and t.height else ""
        kind = ", ".join(x for x in (t.category, t.format) if x)
        image = template_file(settings, t.image_path) or ""
        table.add_row(str(t.id)[:8], t.name or "", t.status, kind, ", ".join(t.tags), size, image)
    console.print(table)


@templates_app.command("reviewer")
def templates_reviewer(
    email: Annotated[str, typer.Argument(help="The person's email (an existing user).")],
    remove: Annotated[bool, typer.Option("--remove", help="Take the role back.")] = False,
) -> None:
    """Let someone review the template library (approve or reject pending templates), or stop them."""
    from services.templates.library import set_reviewer

    async def work(db: Any) -> bool:
        async with db.as_owner() as conn:
            return await set_reviewer(conn, email=email, remove=remove)

    changed = _run(work)
    if remove:
        console.print(f"{email} {'no longer reviews' if changed else 'was not a reviewer of'} templates.")
    else:
        console.print(f"{email} {'now reviews' if changed else 'already reviews'} templates.")
