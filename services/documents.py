"""Reading use cases: a dossier's documents, one document decrypted, full-text search.

A read is recorded (and committed) before any plaintext leaves the vault: the audit event of a
`get` exists even if the caller dies while writing the file.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from archive import access, rights
from archive.catalog import Document, Dossier
from archive.errors import BadInput, IntegrityFailure, NotFound

from . import validate
from .context import Context


def resolve_document(session, ident: str, coach: str | None = None) -> Document:
    """A document by its id or a unique prefix of it (at least 6 characters, any case). A coach's
    prefix is looked up among their own clients' documents only, so a prefix cannot be used to
    find out what exists elsewhere (a full id is refused by the permission check as before)."""
    ident = validate.document_id(ident)
    doc = session.get(Document, ident)
    if doc is not None:
        return doc
    q = select(Document).where(Document.id.startswith(ident, autoescape=True))
    if coach is not None:
        q = q.where(Document.dossier.in_(select(Dossier.number).where(Dossier.coach == coach)))
    found = session.execute(q.limit(2)).scalars().all()
    if not found:
        raise NotFound(f"document {ident} does not exist; copy its id from `dossier docs`", "unknown-document")
    if len(found) > 1:
        raise BadInput(f"more than one document id starts with {ident}; give more of the id", "ambiguous-id")
    return found[0]


def _coach(ctx: Context) -> str | None:
    return ctx.actor.name if ctx.actor.role == "coach" else None


def list_documents(ctx: Context, number: str) -> dict:
    with ctx.reading("documents.list") as uow:
        d = uow.dossier(number)
        uow.allow(d)
        if d.status == "destroyed":
            when = f" on {d.destroyed_at:%Y-%m-%d}" if d.destroyed_at else ""
            raise NotFound(f"dossier {d.number} was destroyed{when}; its documents no longer exist", "destroyed")
        rows = (
            uow.session.execute(
                select(Document)
                .where(Document.dossier == d.number, Document.destroyed_at.is_(None))
                .order_by(Document.scanned_at, Document.id)
            )
            .scalars()
            .all()
        )
        # Correction notes (rectification) go with their document; their text only to who may read it.
        notes = rights.notes_by_document(uow.session, None, d.number) if rows else {}
        if notes and access.may_on_dossier(ctx.actor.name, ctx.actor.role, "documents.read", d.coach):
            notes = rights.notes_by_document(uow.session, ctx.vault.dossier_keys(uow.session, d.number), d.number)
        uow.audit("documents.list", dossier=d.number, detail=f"{len(rows)} documents")
        uow.commit()
    return {
        "dossier": d.number,
        "coach": d.coach,
        "documents": [
            {
                "id": r.id,
                "type": r.doc_type,
                "pages": r.pages,
                "scanned_at": r.scanned_at.isoformat(),
                "low_text_pages": r.low_text_pages,
                "corrections": notes.get(r.id, []),
            }
            for r in rows
        ],
    }


@dataclass
class ReadDocument:
    id: str
    dossier: str
    doc_type: str
    pages: int
    pdf: bytes  # the decrypted PDF


def read_document(ctx: Context, ident: str, *, purpose: str | None = None) -> ReadDocument:
    """The decrypted PDF of a document the actor may read; its HMAC is checked first (exit 5)."""
    vault = ctx.vault
    with ctx.reading("documents.read") as uow:
        doc = resolve_document(uow.session, ident, _coach(ctx))
        d = uow.session.get(Dossier, doc.dossier)
        uow.dossier_number, uow.document_id = d.number, doc.id
        uow.allow(d)
        if doc.destroyed_at is not None or d.status == "destroyed":
            when = doc.destroyed_at or d.destroyed_at
            raise NotFound(f"document {doc.id} was destroyed on {when:%Y-%m-%d}", "destroyed")
        encrypted = vault.verified_file(uow.session, doc)
        uow.audit("document.read", dossier=d.number, document=doc.id, purpose=purpose)
        uow.commit()
    with vault.sessions() as s, vault.decrypt(s, doc, encrypted) as decrypted:
        out = io.BytesIO()
        decrypted.save(out)
        pages = len(decrypted.pages)
    return ReadDocument(doc.id, d.number, doc.doc_type, pages, out.getvalue())


def visible_dossiers(session, ctx: Context) -> list[str]:
    """Numbers of the dossiers the actor may search: a coach their own, the privacy officer all."""
    q = select(Dossier.number).where(Dossier.status != "destroyed")
    if ctx.actor.role == "coach":
        q = q.where(Dossier.coach == ctx.actor.name)
    return list(session.execute(q.order_by(Dossier.number)).scalars())


def search(ctx: Context, text: str, dossier: str | None = None, limit: int = 50) -> dict:
    """Pages holding every word of `text` within what the actor may see. The query is not logged:
    it may be a client's name."""
    query = validate.text(text, "the search text", max_len=200, required=True)
    with ctx.reading("documents.search") as uow:
        if dossier is not None:
            d = uow.dossier(dossier)
            uow.allow(d)
            numbers = [d.number] if d.status != "destroyed" else []
        else:
            uow.allow()
            numbers = visible_dossiers(uow.session, ctx)
        hits = ctx.vault.search(uow.session, numbers, query, limit=limit)
        uow.audit("documents.search", dossier=dossier, detail=f"{len(hits)} hits in {len(numbers)} dossiers")
        # A hit shows a snippet of a page: for "who has seen this dossier" each dossier hit is an event.
        for number in dict.fromkeys(h["dossier"] for h in hits):
            pages = [h for h in hits if h["dossier"] == number]
            uow.audit("documents.search.hit", dossier=number, detail=f"{len(pages)} pages")
        uow.commit()
    return {"hits": hits}


# ---- the web viewer ---------------------------------------------------------------------------------


def _readable(uow, ident: str):
    """The document and its dossier, if the actor may read it and it still exists."""
    doc = resolve_document(uow.session, ident, _coach(uow.ctx))
    d = uow.session.get(Dossier, doc.dossier)
    uow.dossier_number, uow.document_id = d.number, doc.id
    uow.allow(d)
    if doc.destroyed_at is not None or d.status == "destroyed":
        when = doc.destroyed_at or d.destroyed_at
        raise NotFound(f"document {doc.id} was destroyed on {when:%Y-%m-%d}", "destroyed")
    return doc, d


def view_document(ctx: Context, ident: str) -> dict:
    """What the viewer shows of a document beside its page images: its facts and each page's
    recognised text with the low-text flag (recorded as a view of the document)."""
    from archive.catalog import PageText

    with ctx.reading("documents.read") as uow:
        doc, d = _readable(uow, ident)
        texts = ctx.vault.page_texts(uow.session, doc)
        flags = {
            p.page: p.low_text
            for p in uow.session.execute(select(PageText).where(PageText.document_id == doc.id)).scalars()
        }
        uow.audit("document.view", dossier=d.number, document=doc.id)
        uow.commit()
    return {
        "id": doc.id,
        "dossier": d.number,
        "type": doc.doc_type,
        "pages": doc.pages,
        "scanned_at": doc.scanned_at.isoformat(),
        "low_text_pages": doc.low_text_pages,
        "page_texts": [{"page": n, "text": t, "low_text": flags.get(n, False)} for n, t in enumerate(texts, start=1)],
    }


@dataclass
class PageImage:
    document: str
    dossier: str
    page: int
    jpeg: bytes


def page_image(ctx: Context, ident: str, page: int, *, width: int = 1000, marked=None) -> PageImage:
    """One page of a document as a JPEG, rendered from the decrypted PDF in memory (poppler over
    pipes: no plaintext on disk). `marked(word)` picks words to highlight (search terms). Each
    page image is recorded, thumbnails too, before it leaves the vault."""
    from archive import pdf as pdf_
    from scanners import poppler

    width = max(100, min(int(width), 2000))
    vault = ctx.vault
    with ctx.reading("documents.read") as uow:
        doc, d = _readable(uow, ident)
        if not 1 <= page <= doc.pages:
            raise NotFound(f"document {doc.id} has {doc.pages} pages; there is no page {page}", "no-such-page")
        encrypted = vault.verified_file(uow.session, doc)
        uow.audit("document.page", dossier=d.number, document=doc.id, detail=f"page {page}, {width} px")
        uow.commit()
    with vault.sessions() as s, vault.decrypt(s, doc, encrypted) as decrypted:
        one = pdf_.page_bytes(decrypted, page)
    try:
        if marked is not None:
            jpeg = poppler.render_marked_jpeg(one, width=width, marked=marked)
        else:
            jpeg = poppler.render_jpeg(one, width=width)
    except poppler.RenderFailed:
        # The view was recorded before the page left the vault; say as well that it was not shown.
        with contextlib.suppress(SQLAlchemyError):  # a busy catalog must not hide what went wrong
            ctx.record_now(
                "document.page", "failed", dossier=d.number, document=doc.id, detail=f"page {page}: render-failed"
            )
        raise IntegrityFailure(
            f"page {page} of document {doc.id} could not be shown; try the download, and tell the privacy officer",
            "render-failed",
        ) from None
    return PageImage(doc.id, d.number, page, jpeg)
