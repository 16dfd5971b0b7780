"""A blueprint as a file a marketer takes away: Markdown, JSON, DOCX (python-docx) or PDF (fpdf2).

Files are written under `$VIRALTRACKER_HOME/exports/<organization id>/`, one per blueprint and format
(a re-export overwrites the previous file of that blueprint and format).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from services.platform.server_files import private_dir, write_private

if TYPE_CHECKING:
    from services.blueprints.build import BlueprintContent

ExportFormat = Literal["md", "json", "docx", "pdf"]
FORMATS: tuple[ExportFormat, ...] = ("md", "json", "docx", "pdf")
# The PDF core fonts speak Latin-1 only: typographic punctuation becomes its plain equivalent.
_PLAIN = str.maketrans({"—": "-", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "•": "-",
                        "×": "x", "→": "->", "\u00a0": " "})  # fmt: skip


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:48] or "blueprint"


def export_path(
    home: Path, *, organization_id: UUID, blueprint_id: UUID, name: str, fmt: ExportFormat
) -> Path:
    folder = private_dir(home / "exports" / str(organization_id))
    return folder / f"blueprint-{str(blueprint_id)[:8]}-{_slug(name)}.{fmt}"


def to_markdown(content: BlueprintContent) -> str:
    lines = [f"# {content.title}", "", f"Landing page: {content.url}", ""]
    lines += [f"**Voice/tone:** {content.voice_tone or '(none on file)'} — from {content.voice_source}.", ""]
    lines += [f"_{content.note}_", ""] if content.note else []
    for section in content.sections:
        lines += [f"## {section.heading}", "", f"**What it says:** {section.says}", ""]
        lines += [f"**Why it works:** {section.why_it_works}", ""]
        lines += [f"**What to write for {content.brand}:** {section.write_for_brand}", ""]
    return "\n".join(lines).rstrip() + "\n"


def _docx(content: BlueprintContent) -> bytes:
    from docx import Document

    document = Document()
    document.add_heading(content.title, level=0)
    document.add_paragraph(f"Landing page: {content.url}")
    document.add_paragraph(
        f"Voice/tone: {content.voice_tone or '(none on file)'} — from {content.voice_source}."
    )
    if content.note:
        document.add_paragraph().add_run(content.note).italic = True
    for section in content.sections:
        document.add_heading(section.heading, level=1)
        for label, text in (
            ("What it says", section.says),
            ("Why it works", section.why_it_works),
            (f"What to write for {content.brand}", section.write_for_brand),
        ):
            paragraph = document.add_paragraph()
            paragraph.add_run(f"{label}: ").bold = True
            paragraph.add_run(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _latin1(text: str) -> str:
    return text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


def _pdf(content: BlueprintContent) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()

    def block(text: str, *, size: int, style: str = "", gap: float = 2) -> None:
        pdf.set_font("helvetica", style, size)
        pdf.multi_cell(0, size * 0.5, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    block(content.title, size=18, style="B")
    block(f"Landing page: {content.url}", size=10)
    block(f"Voice/tone: {content.voice_tone or '(none on file)'} - from {content.voice_source}.", size=10)
    if content.note:
        block(content.note, size=9, style="I")
    for section in content.sections:
        block(section.heading, size=14, style="B", gap=1)
        block(f"What it says: {section.says}", size=10)
        block(f"Why it works: {section.why_it_works}", size=10)
        block(f"What to write for {content.brand}: {section.write_for_brand}", size=10, gap=4)
    return bytes(pdf.output())


def write_export(
    content: BlueprintContent, *, home: Path, organization_id: UUID, blueprint_id: UUID, fmt: ExportFormat
) -> Path:
    """Write the blueprint in one format (owner-only); returns the file's path."""
    path = export_path(
        home, organization_id=organization_id, blueprint_id=blueprint_id, name=content.title, fmt=fmt
    )
    if fmt == "md":
        data = to_markdown(content).encode()
    elif fmt == "json":
        data = json.dumps(content.model_dump(mode="json"), indent=2, ensure_ascii=False).encode()
    elif fmt == "docx":
        data = _docx(content)
    else:
        data = _pdf(content)
    return write_private(path, data)
