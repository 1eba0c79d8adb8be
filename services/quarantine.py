"""The exception queue: what could not be filed with certainty, for office staff to work through.

Office staff see a quarantined scan (they must, to decide where it belongs); every look is audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from archive import destructions
from archive.catalog import QuarantineItem, utcnow
from archive.errors import NotFound

from . import validate
from .context import Context


def list_items(ctx: Context) -> dict:
    with ctx.reading("quarantine.work") as uow:
        uow.allow()
        rows = (
            uow.session.execute(
                select(QuarantineItem)
                .where(QuarantineItem.status == "open")
                .order_by(QuarantineItem.received_at, QuarantineItem.id)
            )
            .scalars()
            .all()
        )
        items = [_summary(ctx, r) for r in rows]
        uow.audit("quarantine.list", detail=f"{len(items)} items")
        uow.commit()
    return {"items": items}


def _summary(ctx: Context, r: QuarantineItem) -> dict:
    from classify.reasons import UNFILEABLE

    kind, label = ctx.vault.quarantine_source(r)
    if r.scan_page:  # items quarantined before first_page existed carry it in English in their label
        label = label.removesuffix(f", pages from {r.scan_page}")
    readable = r.reason_code not in {u.value for u in UNFILEABLE}
    return {
        "id": r.id,
        "reason": r.reason,
        "code": r.reason_code,
        "source": label,
        "first_page": r.scan_page,  # where in the scan these pages start, for a batch split into parts
        "pages": r.pages,
        "received_at": r.received_at.isoformat(),
        # What the web page offers: page previews, and filing (an e-mail without attachments has nothing to file).
        "preview": readable and kind in ("pdf", "image") and bool(r.pages),
        "fileable": readable and bool(r.pages),
        "message": r.message_blob is not None,  # an intake e-mail: its message can be read
    }


def read_message(ctx: Context, item_id: str) -> dict:
    """The intake e-mail behind an item, for office staff to read (DESIGN.md §11): sender, date,
    subject, body text and attachment names, from the sealed copy. Recorded; never logged or stored."""
    from archive import intake_mail
    from scanners.message import readable

    with ctx.reading("quarantine.work") as uow:
        uow.allow()
        item = open_item(uow.session, item_id)
        raw = intake_mail.message_of(ctx.vault, item)
        if raw is None:
            raise NotFound(f"quarantine item {item.id} is not an e-mail", "not-a-message")
        uow.audit("quarantine.message", detail=f"item {item.id}")
        uow.commit()
    return {"id": item.id, **readable(raw)}


def open_item(session, item_id: str) -> QuarantineItem:
    item = session.get(QuarantineItem, validate.quarantine_id(item_id))
    if item is None or item.status != "open":
        raise NotFound(
            f"quarantine item {validate.shown(item_id)} is not waiting; see `dossier quarantine list`", "unknown-item"
        )
    return item


@dataclass
class ItemContent:
    id: str
    kind: str  # pdf | image | file | mail
    data: bytes


def read_item(ctx: Context, item_id: str) -> ItemContent:
    """The decrypted bytes of a quarantined scan, recorded before they leave the vault."""
    with ctx.reading("quarantine.work") as uow:
        uow.allow()
        item = open_item(uow.session, item_id)
        data = ctx.vault.quarantine_bytes(item)
        kind, _ = ctx.vault.quarantine_source(item)
        uow.audit("quarantine.read", detail=f"item {item.id}")
        uow.commit()
    return ItemContent(item.id, kind, data)


def discard_item(ctx: Context, item_id: str) -> dict:
    with ctx.uow("quarantine.work") as uow:
        uow.allow()
        item = open_item(uow.session, item_id)
        blobs = ctx.vault.quarantine_blob_names(item)
        item.status, item.resolved_at, item.resolved_by = "discarded", utcnow(), ctx.actor.name
        item.message_blob = item.source_sealed = None  # the sealed e-mail and the file name go with it
        uow.audit("quarantine.discard", detail=f"item {item.id}")
        uow.commit()
    ctx.vault.delete_quarantine_blobs(blobs)
    destructions.note(ctx.vault)  # outside the catalog too: a restored backup must not bring it back
    return {"id": item.id, "status": "discarded"}


def item_page(ctx: Context, item_id: str, page: int, *, width: int = 600) -> bytes:
    """A preview of one page of a quarantined scan as JPEG (rendered in memory, recorded)."""
    from archive.errors import BadInput
    from classify.reasons import UNFILEABLE
    from scanners import preview

    width = max(100, min(int(width), 1600))
    with ctx.reading("quarantine.work") as uow:
        uow.allow()
        item = open_item(uow.session, item_id)
        kind, _ = ctx.vault.quarantine_source(item)
        if item.reason_code in {r.value for r in UNFILEABLE} or kind not in ("pdf", "image"):
            raise BadInput(f"item {item.id} has no preview ({item.reason_code})", "no-preview")
        if not 1 <= page <= (item.pages or 1):
            raise NotFound(f"item {item.id} has no page {page}", "no-such-page")
        data = ctx.vault.quarantine_pages(item)
        uow.audit("quarantine.page", detail=f"item {item.id} page {page}")
        uow.commit()
    try:
        return preview.page_jpeg(data, kind, page, width=width)
    except preview.RenderFailed:
        raise BadInput(f"page {page} of item {item.id} cannot be shown; download it to look", "no-preview") from None
