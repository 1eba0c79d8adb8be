"""Cover sheets: the printed page with a signed QR code that tells the scan path where the pages
behind it belong (DESIGN.md §3.5). No name or BSN on it: the dossier number and document type."""

from __future__ import annotations

import io
from dataclasses import dataclass

from archive.errors import NotFound
from classify.coversheet import make_payload, render_cover_pdf

from . import validate
from .context import Context


@dataclass
class CoverSheet:
    dossier: str
    doc_type: str
    serial: int
    pdf: bytes


def make_cover(ctx: Context, number: str, doc_type: str) -> CoverSheet:
    with ctx.uow("cover.create") as uow:
        uow.allow()  # before the input is looked at: who may not make covers learns nothing from a refusal
        doc_type = validate.doc_type(doc_type)
        d = uow.dossier(number)
        if d.status == "destroyed":
            raise NotFound(f"dossier {d.number} was destroyed; no cover sheets can be made for it", "destroyed")
        sheet = ctx.vault.issue_cover(uow.session, d.number, doc_type, by=ctx.actor.name)
        out = io.BytesIO()
        render_cover_pdf(out, make_payload(ctx.vault.cover_key(), d.number, doc_type, sheet.serial))
        uow.audit("cover.create", dossier=d.number, detail=f"serial {sheet.serial} {doc_type}")
        uow.commit()
    return CoverSheet(d.number, doc_type, sheet.serial, out.getvalue())
