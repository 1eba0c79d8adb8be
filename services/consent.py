"""Consent and disclosure (DESIGN.md §10): documents go to a third party (an employer, say) only
while the client's consent covers that recipient, purpose and document type. The privacy officer
and the dossier's own coach record consents and hand out copies; everyone else is refused.

Consents are append-only: a withdrawal is a fact of its own, dated, after which the consent is
inactive. A disclosed copy is watermarked on every page and recorded (recipient, purpose, consent,
the copy's SHA-256, who, when) before it leaves the vault; a refusal writes nothing and is audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass

from sqlalchemy import select

from archive import lifecycle, pdf, rights
from archive.catalog import Dossier
from archive.errors import BadInput, Conflict, NotFound, RuleForbids
from archive.rights import Consent, ConsentWithdrawal, Disclosure

from . import validate
from .context import Context, UnitOfWork
from .documents import resolve_document


def _recipient(ctx: Context, session, d: Dossier, value: str) -> str:
    """A recipient (an employer, an agency) outlives the dossier in the records: no client data in it."""
    return lifecycle.check_free_text(
        validate.text(value, "the recipient", max_len=128, required=True),
        "the recipient",
        names=lifecycle.client_names(ctx.vault, session, d),
        max_len=128,
    )


def _live(d: Dossier) -> None:
    if d.status == "destroyed":
        raise NotFound(f"dossier {d.number} was destroyed on {d.destroyed_at:%Y-%m-%d}", "destroyed")


# ---- consent ------------------------------------------------------------------------------------


def add_consent(
    ctx: Context,
    number: str,
    *,
    purpose: str,
    recipient: str,
    given: dt.date,
    until: dt.date | None = None,
    types: list[str] | None = None,
    document: str | None = None,
) -> dict:
    """Record the client's consent; `document` may name the signed toestemmingsformulier."""
    purpose = validate.purpose(purpose)
    validate.not_in_future(given, ctx.today, "the day the consent was given")
    if until is not None and until < given:
        raise BadInput(f"the consent cannot end ({until}) before it was given ({given}); check the dates", "until")
    kinds = sorted(set(types)) if types else None
    with ctx.uow("consent.manage") as uow:
        d = uow.dossier(number)
        uow.allow(d)
        _live(d)
        s = uow.session
        to = _recipient(ctx, s, d, recipient)
        lifecycle.check_free_text(purpose, "the purpose", names=lifecycle.client_names(ctx.vault, s, d))
        form = None
        if document is not None:
            doc = resolve_document(s, document, ctx.actor.name if ctx.actor.role == "coach" else None)
            uow.document_id = doc.id
            if doc.dossier != d.number or doc.destroyed_at is not None:
                raise BadInput(
                    f"document {doc.id} is not a document of dossier {d.number}; see `dossier docs`", "other-dossier"
                )
            if doc.doc_type != "toestemmingsformulier":
                raise BadInput(
                    f"document {doc.id} is a {doc.doc_type}, not the signed toestemmingsformulier", "not-a-consent-form"
                )
            form = doc.id
        c = Consent(
            id=rights.next_id(s, "consent", ctx.today.year),
            dossier=d.number,
            purpose=purpose,
            recipient=to,
            types=",".join(kinds) if kinds else None,
            given=given,
            until=until,
            document=form,
            recorded_by=ctx.actor.name,
        )
        s.add(c)
        s.flush()
        uow.audit("consent.add", dossier=d.number, document=form, purpose=purpose, detail=c.id)
        uow.commit()
        out = rights.consent_dict(rights.consent_facts(c, None), ctx.today, {"dossier": d.number, "document": form})
    return out


def withdraw_consent(ctx: Context, ident: str, on: dt.date) -> dict:
    """The client withdrew a consent: it is inactive from `on` on. Recorded as a new fact."""
    cid = rights.parse_id(ident, "consent")
    with ctx.uow("consent.manage") as uow:
        c = uow.session.get(Consent, cid)
        if c is None:
            uow.allow()
            raise NotFound(f"consent {cid} does not exist; see `dossier consent list D`", "unknown-consent")
        d = uow.dossier(c.dossier)
        uow.allow(d)
        earlier = uow.session.get(ConsentWithdrawal, cid)
        if earlier is not None:
            raise Conflict(f"consent {cid} was already withdrawn as of {earlier.withdrawn_on}", "already-withdrawn")
        if on < c.given:
            raise BadInput(f"consent {cid} was given on {c.given}; it cannot be withdrawn before that", "before-given")
        uow.session.add(ConsentWithdrawal(consent=cid, withdrawn_on=on, recorded_by=ctx.actor.name))
        uow.audit("consent.withdraw", dossier=d.number, purpose=c.purpose, detail=f"{cid} withdrawn as of {on}")
        uow.commit()
        out = rights.consent_dict(rights.consent_facts(c, on), ctx.today, {"dossier": d.number, "document": c.document})
    return out


def list_consents(ctx: Context, number: str) -> dict:
    """A dossier's consents, oldest first, each with whether it is active today."""
    with ctx.reading("consent.view") as uow:
        d = uow.dossier(number)
        uow.allow(d)
        s = uow.session
        rows = {c.id: c for c in s.execute(select(Consent).where(Consent.dossier == d.number)).scalars()}
        consents = [
            rights.consent_dict(
                f,
                ctx.today,
                {
                    "document": rows[f.id].document,
                    "recorded_by": rows[f.id].recorded_by,
                    "recorded_at": rights.as_utc(rows[f.id].recorded_at).isoformat(),
                },
            )
            for f in rights.consents_of(s, d.number)
        ]
        uow.audit("consent.list", dossier=d.number, detail=f"{len(consents)} consents")
        uow.commit()
    return {"dossier": d.number, "consents": consents}


# ---- disclosure ---------------------------------------------------------------------------------

_REFUSALS = {
    "no-consent": "the client gave no consent to give documents to this recipient",
    "other-purpose": "the client's consent for this recipient is for another purpose",
    "other-type": "the client's consent for this recipient and purpose does not cover {type} documents",
    "withdrawn": "the client withdrew the consent for this recipient and purpose",
    "expired": "the client's consent for this recipient and purpose has expired",
    "not-yet": "the client's consent for this recipient and purpose starts later",
}


@dataclass
class Disclosed:
    disclosure: str
    document: str
    dossier: str
    recipient: str
    purpose: str
    consent: str
    pages: int
    sha256: str
    pdf: bytes  # the watermarked copy


def _covering(
    uow: UnitOfWork, ctx: Context, d: Dossier, doc_type: str, recipient: str, purpose: str
) -> rights.ConsentFacts:
    found = rights.coverage(
        rights.consents_of(uow.session, d.number),
        recipient=recipient,
        purpose=purpose,
        doc_type=doc_type,
        today=ctx.today,
    )
    if found.consent is None:
        why = _REFUSALS[found.reason].format(type=doc_type)
        raise RuleForbids(
            f"not disclosed: {why}; record the client's consent first (`dossier consent add {d.number} ...`)",
            f"consent-{found.reason}",
        )
    return found.consent


def disclose(ctx: Context, ident: str, *, to: str, purpose: str) -> Disclosed:
    """A watermarked copy of a document for a third party, under an active consent of the client."""
    purpose = validate.purpose(purpose)
    with ctx.uow("documents.disclose") as uow:
        doc = resolve_document(uow.session, ident, ctx.actor.name if ctx.actor.role == "coach" else None)
        d = uow.session.get(Dossier, doc.dossier)
        uow.dossier_number, uow.document_id = d.number, doc.id
        uow.allow(d)
        _live(d)
        if doc.destroyed_at is not None:
            raise NotFound(f"document {doc.id} was destroyed on {doc.destroyed_at:%Y-%m-%d}", "destroyed")
        # Named on the copy and in the record as the consent names the recipient.
        recipient = _covering(uow, ctx, d, doc.doc_type, _recipient(ctx, uow.session, d, to), purpose).recipient
        encrypted = ctx.vault.verified_file(uow.session, doc)
        ident = rights.next_id(uow.session, "disclosure", ctx.today.year)
        uow.commit()  # the id only: nothing has left the vault yet
    stamp = f"Verstrekt aan {recipient} op {ctx.today:%d-%m-%Y} voor {purpose} ({ident})"
    with ctx.vault.sessions() as s, ctx.vault.decrypt(s, doc, encrypted) as copy:
        pdf.watermark(copy, stamp)
        pdf.clear_metadata(copy)
        out = io.BytesIO()
        copy.save(out)
        pages = len(copy.pages)
    data = out.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    with ctx.uow("documents.disclose") as uow:
        uow.dossier_number, uow.document_id = d.number, doc.id
        d = uow.dossier(d.number)
        uow.allow(d)
        _live(d)
        consent = _covering(uow, ctx, d, doc.doc_type, recipient, purpose).id  # still, now that the copy exists
        uow.session.add(
            Disclosure(
                id=ident,
                dossier=d.number,
                document=doc.id,
                doc_type=doc.doc_type,
                recipient=recipient,
                purpose=purpose,
                consent=consent,
                pages=pages,
                sha256=sha,
                disclosed_by=ctx.actor.name,
                channel=ctx.actor.channel,
            )
        )
        uow.audit(
            "document.disclose",
            dossier=d.number,
            document=doc.id,
            purpose=purpose,
            detail=f"{ident} under consent {consent}, copy sha256 {sha}",
        )
        uow.commit()
    return Disclosed(ident, doc.id, d.number, recipient, purpose, consent, pages, sha, data)


def list_disclosures(ctx: Context, number: str) -> dict:
    """What went to whom, when, under which consent."""
    with ctx.reading("disclosures.view") as uow:
        d = uow.dossier(number)
        uow.allow(d)
        rows = [
            rights.disclosure_dict(x)
            for x in uow.session.execute(
                select(Disclosure)
                .where(Disclosure.dossier == d.number)
                .order_by(Disclosure.disclosed_at, Disclosure.id)
            ).scalars()
        ]
        uow.audit("disclosures.list", dossier=d.number, detail=f"{len(rows)} disclosures")
        uow.commit()
    return {"dossier": d.number, "disclosures": rows}
