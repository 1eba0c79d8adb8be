"""The access export (GDPR art. 15; DESIGN.md §10): everything held on one client, as a ZIP.

  manifest.json      the dossier's facts (name and BSN included), the rectification history, the
                     documents with the SHA-256 of each decrypted PDF, their page texts and
                     correction notes, the paper file and its history, legal holds, consents,
                     disclosures, requests, breaches that touched it, and every audit event on the
                     dossier: who saw what, when, through which channel
  overzicht.html     the same, readable, in Dutch (services/overview_html.py)
  documenten/*.pdf   the decrypted PDFs

Only this dossier's rows are read, and audit details that name another dossier are blanked: the
export of one dossier holds nothing of another. The export is recorded (who made it, the ZIP's
SHA-256) before it leaves the vault.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass

from sqlalchemy import select

from archive import lifecycle, rights
from archive.catalog import Document, Dossier, utcnow
from archive.errors import BadInput, DossierError, IntegrityFailure, NotFound
from archive.paper import history as paper_history
from archive.records import LegalHold, PaperFile
from archive.rights import Breach, BreachDossier, Disclosure, RightsRequest

from . import audit_log
from .context import Context
from .overview_html import overview_html
from .rights import load_request

FORMAT = "dossier-access-export/1"
_DOSSIER_NUMBER = re.compile(r"D-\d{4}-\d{4,6}")


@dataclass
class AccessExport:
    request: str
    dossier: str
    documents: int
    sha256: str
    data: bytes  # the ZIP


def export_access(ctx: Context, ident: str) -> AccessExport:
    """The ZIP answering access request `ident`; recorded with its SHA-256 before it is returned."""
    with ctx.reading("requests.manage") as uow:
        r, d = load_request(uow, ident)
        if r.kind != "access":
            raise BadInput(
                f"request {r.id} is a {r.kind} request; the export answers an access request (open one with "
                f"`dossier request open {d.number} --kind access --received DATE`)",
                "not-access",
            )
        if d.status == "destroyed":
            raise NotFound(f"dossier {d.number} was destroyed; nothing is held on the client any more", "destroyed")
        rid, number = r.id, d.number
    events = audit_log.show(ctx, dossier=number, limit=None)["events"]
    try:
        with ctx.vault.sessions() as s:
            manifest, files = _gather(ctx, s, number, events)
    except DossierError as e:  # a damaged file: recorded, and nothing is handed out
        outcome = "failed" if isinstance(e, IntegrityFailure) else "refused"
        ctx.record_now("requests.manage", outcome, dossier=number, detail=e.code)
        raise
    manifest["request"] = rid
    manifest["generated_by"] = ctx.actor.name
    data = _zip(manifest, files)
    sha = hashlib.sha256(data).hexdigest()
    with ctx.reading("requests.manage") as uow:
        r, d = load_request(uow, rid)
        if d.status == "destroyed":
            raise NotFound(
                f"dossier {number} was destroyed while the export was made; nothing was handed out", "destroyed"
            )
        r.exported_at, r.export_sha256 = utcnow(), sha
        uow.audit("request.export", dossier=number, detail=f"{rid}: {len(files)} documents, zip sha256 {sha}")
        uow.commit()
    return AccessExport(rid, number, len(files), sha, data)


def _gather(ctx: Context, s, number: str, events: list[dict]) -> tuple[dict, dict[str, bytes]]:
    vault = ctx.vault
    d = s.get(Dossier, number)
    keys = vault.dossier_keys(s, number)
    notes = rights.notes_by_document(s, keys, number)
    documents, files = [], {}
    rows = s.execute(
        select(Document)
        .where(Document.dossier == number, Document.destroyed_at.is_(None))
        .order_by(Document.scanned_at, Document.id)
    ).scalars()
    for n, doc in enumerate(rows, start=1):
        encrypted = vault.verified_file(s, doc)
        with vault.decrypt(s, doc, encrypted) as pdf:
            out = io.BytesIO()
            pdf.save(out, deterministic_id=True)  # the same archived file gives the same bytes
            pages = len(pdf.pages)
        name = f"documenten/{n:02d}-{doc.doc_type}-{doc.id[:8]}.pdf"
        files[name] = out.getvalue()
        documents.append(
            {
                "id": doc.id,
                "type": doc.doc_type,
                "pages": pages,
                "scanned_at": rights.as_utc(doc.scanned_at).isoformat(),
                "file": name,
                "sha256": hashlib.sha256(files[name]).hexdigest(),
                "page_texts": vault.page_texts(s, doc),
                "corrections": notes.get(doc.id, []),
            }
        )
    when = lifecycle.destroy_date(s, d, ctx.app.policy)
    paper = s.get(PaperFile, number)
    manifest = {
        "format": FORMAT,
        "generated_at": utcnow().isoformat(),
        "dossier": {
            "dossier": number,
            "client_name": keys.open_field(d.client_name_sealed, "client_name"),
            "bsn": keys.open_field(d.bsn_sealed, "bsn"),
            "coach": d.coach,
            "commissioner": d.commissioner,
            "status": d.status,
            "start": d.start_date.isoformat(),
            "end": d.end_date.isoformat() if d.end_date else None,
            "destroy_on": when.isoformat() if when else None,
            "opened_at": rights.as_utc(d.created_at).isoformat(),
            "opened_by": d.created_by,
        },
        "history": rights.field_history(s, keys),
        "documents": documents,
        "paper": {
            "current": lifecycle.paper_summary(paper),
            "history": paper_history(s, number),
        },
        "holds": [
            {
                "reason": h.reason,
                "placed_at": rights.as_utc(h.placed_at).isoformat(),
                "placed_by": h.placed_by,
                "released_at": rights.as_utc(h.released_at).isoformat() if h.released_at else None,
            }
            for h in s.execute(select(LegalHold).where(LegalHold.dossier == number).order_by(LegalHold.id)).scalars()
        ],
        "consents": [rights.consent_dict(c, ctx.today) for c in rights.consents_of(s, number)],
        "disclosures": [
            rights.disclosure_dict(x)
            for x in s.execute(
                select(Disclosure).where(Disclosure.dossier == number).order_by(Disclosure.disclosed_at, Disclosure.id)
            ).scalars()
        ],
        "requests": [
            rights.request_dict(r, ctx.today)
            for r in s.execute(
                select(RightsRequest).where(RightsRequest.dossier == number).order_by(RightsRequest.received)
            ).scalars()
        ],
        "breaches": [
            {
                "breach": b.id,
                "discovered": rights.as_utc(b.discovered_at).isoformat(),
                "summary": b.summary,
                "authority_notified": rights.as_utc(b.authority_notified_at).isoformat()
                if b.authority_notified_at
                else None,
                "informed_on": bd.informed_on.isoformat() if bd.informed_on else None,
                "informed_how": bd.informed_how,
            }
            for b, bd in s.execute(
                select(Breach, BreachDossier)
                .join(BreachDossier, BreachDossier.breach == Breach.id)
                .where(BreachDossier.dossier == number)
                .order_by(Breach.discovered_at)
            ).all()
        ],
        "audit_events": [_own(e, number) for e in events],
    }
    return manifest, files


def _own(event: dict, number: str) -> dict:
    """An audit event as the client sees it: another dossier a detail mentions is not named."""
    detail = event.get("detail")
    if detail:
        detail = _DOSSIER_NUMBER.sub(lambda m: m.group() if m.group() == number else "(ander dossier)", detail)
    return {**event, "detail": detail}


def _zip(manifest: dict, files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        z.writestr("overzicht.html", overview_html(manifest))
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()
