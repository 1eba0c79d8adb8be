"""The readable part of the access export: one self-contained HTML page in Dutch, made from the
manifest alone (so the two always agree). Everything shown is escaped; no scripts, no outside assets."""

from __future__ import annotations

import datetime as dt
from html import escape
from zoneinfo import ZoneInfo

# What an audit action means, as the client would say it. Unknown actions are shown as they are.
ACTIONS_NL = {
    "dossier.create": "dossier aangemaakt",
    "dossier.view": "dossier bekeken",
    "dossier.show": "dossiergegevens bekeken",
    "dossier.reveal": "volledig BSN bekeken",
    "dossier.close": "traject afgesloten",
    "dossier.hold": "bewaarplicht (juridische blokkade) ingesteld",
    "dossier.release": "bewaarplicht opgeheven",
    "dossier.erase": "verwijdering van het dossier",
    "dossier.destroy": "dossier vernietigd",
    "dossier.correct": "gegevens gecorrigeerd",
    "documents.list": "lijst van documenten bekeken",
    "document.read": "document geopend",
    "documents.read": "document geopend",
    "documents.search": "gezocht in de documenten",
    "document.archive": "document gescand en gearchiveerd",
    "document.disclose": "kopie verstrekt aan een derde",
    "documents.disclose": "verstrekking aan een derde",
    "cover.create": "voorblad gemaakt",
    "scan": "scan verwerkt",
    "quarantine.assign.start": "scan aan het dossier toegewezen",
    "paper.register": "papieren dossier geregistreerd",
    "paper.move": "papieren dossier verplaatst",
    "paper.checkout": "papieren dossier uitgeleend",
    "paper.checkin": "papieren dossier teruggebracht",
    "paper.destroy": "papieren dossier vernietigd",
    "paper.show": "gegevens van het papieren dossier bekeken",
    "paper.manage": "papieren dossier beheerd",
    "audit.show": "logboek bekeken",
    "audit.view": "logboek bekeken",
    "request.open": "verzoek geregistreerd",
    "request.extend": "termijn van een verzoek verlengd",
    "request.show": "verzoek bekeken",
    "request.export": "inzage-export gemaakt",
    "request.close": "verzoek afgehandeld",
    "requests.manage": "verzoek behandeld",
    "consent.add": "toestemming vastgelegd",
    "consent.withdraw": "intrekking van toestemming vastgelegd",
    "consent.list": "toestemmingen bekeken",
    "consent.view": "toestemmingen bekeken",
    "consent.manage": "toestemming beheerd",
    "disclosures.list": "verstrekkingen bekeken",
    "disclosures.view": "verstrekkingen bekeken",
    "breach.affect": "als betrokken bij een datalek geregistreerd",
    "breach.show": "gegevens bekeken voor de melding van een datalek",
    "breach.informed": "informatie over een datalek aan u vastgelegd",
    "breach.manage": "datalekregister",
}
OUTCOMES_NL = {"ok": "uitgevoerd", "refused": "geweigerd", "failed": "mislukt"}
ROLES_NL = {"office": "administratie", "coach": "coach", "privacy": "privacyfunctionaris", "system": "systeem"}
CHANNELS_NL = {"cli": "beheerconsole", "web": "webapplicatie", "watch": "automatische verwerking", "system": "systeem"}
KINDS_NL = {"access": "inzage", "rectification": "correctie", "erasure": "verwijdering"}
STATUS_NL = {"open": "in behandeling", "done": "afgehandeld", "refused": "afgewezen"}
DOSSIER_STATUS_NL = {"open": "traject loopt", "closed": "traject afgesloten", "destroyed": "vernietigd"}
PAPER_NL = {
    "in-cabinet": "in de kast",
    "checked-out": "uitgeleend",
    "destroyed": "vernietigd",
    "register": "geregistreerd",
    "move": "verplaatst",
    "checkout": "uitgeleend",
    "checkin": "teruggebracht",
    "destroy": "vernietigd",
}
FIELDS_NL = {"client_name": "naam", "bsn": "BSN"}
STYLE = """
body { font-family: sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.4; color: #222; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
code { font-size: .85em; word-break: break-all; }
pre { white-space: pre-wrap; background: #f8f8f8; padding: .5rem; }
"""


def overview_html(manifest: dict, timezone: str = "Europe/Amsterdam") -> str:
    zone = ZoneInfo(timezone)
    d = manifest["dossier"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="nl"><head><meta charset="utf-8">',
        f"<title>Overzicht van uw gegevens — dossier {_e(d['dossier'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Overzicht van uw gegevens</h1><p>Dossier {_e(d['dossier'])}. Dit overzicht beantwoordt uw verzoek "
        f"om inzage ({_e(manifest.get('request'))}) en is gemaakt op {_t(manifest['generated_at'], zone)} door "
        f"{_e(manifest.get('generated_by'))}. Het bestand <code>manifest.json</code> bevat dezelfde gegevens in "
        "machineleesbare vorm; de documenten zelf staan in de map <code>documenten</code>.</p>",
        "<h2>Uw gegevens</h2>",
        _facts(
            [
                ("Naam", d["client_name"]),
                ("BSN", d["bsn"]),
                ("Coach", d["coach"]),
                ("Opdrachtgever", d["commissioner"]),
                ("Start traject", d["start"]),
                ("Einde traject", d["end"] or "nog niet afgesloten"),
                ("Status", DOSSIER_STATUS_NL.get(d["status"], d["status"])),
                ("Wordt vernietigd op", d["destroy_on"] or "na het einde van het traject, volgens de bewaartermijn"),
            ]
        ),
    ]
    if manifest["history"]:
        parts += [
            "<h2>Gecorrigeerde gegevens</h2><p>Eerdere waarden die zijn gecorrigeerd.</p>",
            _table(
                ["Gegeven", "Oude waarde", "Gewijzigd op", "Door"],
                [
                    [
                        FIELDS_NL.get(h["field"], h["field"]),
                        h["old_value"] or "(leeg)",
                        _t(h["changed_at"], zone),
                        h["changed_by"],
                    ]
                    for h in manifest["history"]
                ],
            ),
        ]
    parts.append("<h2>Documenten</h2>")
    if not manifest["documents"]:
        parts.append("<p>Er zijn geen gescande documenten.</p>")
    for doc in manifest["documents"]:
        parts.append(
            f"<h3>{_e(doc['type'])} ({doc['pages']} pagina's), gescand op {_t(doc['scanned_at'], zone)}</h3>"
            + _facts([("Bestand", doc["file"]), ("SHA-256", doc["sha256"])], code=True)
        )
        for note in doc["corrections"]:
            parts.append(
                f"<p><strong>Correctie</strong> ({_t(note['at'], zone)}, {_e(note['by'])}): {_e(note['text'])}</p>"
            )
        for n, text in enumerate(doc["page_texts"], start=1):
            parts.append(f"<details><summary>Herkende tekst, pagina {n}</summary><pre>{_e(text)}</pre></details>")
    paper = manifest["paper"]
    parts.append("<h2>Papieren dossier</h2>")
    if paper["current"] is None:
        parts.append("<p>Er is geen papieren dossier geregistreerd.</p>")
    else:
        c = paper["current"]
        parts.append(
            f"<p>Ruimte {_e(c['room'])}, kast {_e(c['cabinet'])}"
            + (f", plank {_e(c['shelf'])}" if c.get("shelf") else "")
            + f" ({_e(PAPER_NL.get(c['status'], c['status']))}).</p>"
        )
        parts.append(
            _table(
                ["Wanneer", "Wat", "Door", "Plaats", "Bij"],
                [
                    [
                        _t(h["at"], zone),
                        PAPER_NL.get(h["action"], h["action"]),
                        h["by"],
                        ", ".join(
                            x for x in (h["location"]["room"], h["location"]["cabinet"], h["location"]["shelf"]) if x
                        ),
                        h["holder"],
                    ]
                    for h in paper["history"]
                ],
            )
        )
    if manifest["holds"]:
        parts += [
            "<h2>Bewaarplicht</h2>",
            _table(
                ["Reden", "Sinds", "Door", "Opgeheven"],
                [
                    [h["reason"], _t(h["placed_at"], zone), h["placed_by"], _t(h["released_at"], zone)]
                    for h in manifest["holds"]
                ],
            ),
        ]
    parts += [
        "<h2>Toestemmingen</h2>",
        _table(
            ["Doel", "Ontvanger", "Documentsoorten", "Gegeven", "Tot", "Ingetrokken", "Geldig"],
            [
                [
                    c["purpose"],
                    c["recipient"],
                    ", ".join(c["types"]) if c["types"] else "alle",
                    c["given"],
                    c["until"],
                    c["withdrawn"],
                    "ja" if c["active"] else "nee",
                ]
                for c in manifest["consents"]
            ],
            empty="U heeft geen toestemming voor verstrekking vastgelegd.",
        ),
        "<h2>Verstrekkingen aan derden</h2>",
        _table(
            ["Wanneer", "Aan", "Doel", "Document", "Toestemming", "Door"],
            [
                [_t(x["at"], zone), x["recipient"], x["purpose"], x["type"], x["consent"], x["by"]]
                for x in manifest["disclosures"]
            ],
            empty="Er is niets aan derden verstrekt.",
        ),
        "<h2>Uw verzoeken</h2>",
        _table(
            ["Verzoek", "Soort", "Ontvangen", "Termijn", "Status"],
            [
                [
                    r["request"],
                    KINDS_NL.get(r["kind"], r["kind"]),
                    r["received"],
                    r["due"],
                    STATUS_NL.get(r["status"], r["status"]),
                ]
                for r in manifest["requests"]
            ],
        ),
    ]
    if manifest["breaches"]:
        parts += [
            "<h2>Datalekken</h2>",
            _table(
                ["Ontdekt", "Omschrijving", "Gemeld aan de Autoriteit Persoonsgegevens", "U geïnformeerd"],
                [
                    [_t(b["discovered"], zone), b["summary"], _t(b["authority_notified"], zone), b["informed_on"]]
                    for b in manifest["breaches"]
                ],
            ),
        ]
    parts += [
        "<h2>Wie heeft uw gegevens ingezien of bewerkt</h2>",
        "<p>Elke handeling op uw dossier wordt vastgelegd: wie, wanneer, met welke rol en via welk kanaal.</p>",
        _table(
            ["Wanneer", "Wie", "Rol", "Handeling", "Uitkomst", "Via", "Document"],
            [
                [
                    _t(e["at"], zone),
                    e["actor"],
                    ROLES_NL.get(e["role"] or "", e["role"]),
                    ACTIONS_NL.get(e["action"], e["action"]),
                    OUTCOMES_NL.get(e["outcome"], e["outcome"]),
                    CHANNELS_NL.get(e["channel"], e["channel"]),
                    (e["document"] or "")[:12],
                ]
                for e in manifest["audit_events"]
            ],
        ),
        "</body></html>",
    ]
    return "\n".join(parts)


def _e(value) -> str:
    return "" if value is None else escape(str(value))


def _t(iso: str | None, zone) -> str:
    """A stored time in the client's local time: 2026-11-30 14:02."""
    if not iso:
        return ""
    t = dt.datetime.fromisoformat(iso)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _facts(rows: list[tuple[str, object]], code: bool = False) -> str:
    cell = (lambda v: f"<code>{_e(v)}</code>") if code else _e
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{cell(v)}</td></tr>" for k, v in rows) + "</table>"


def _table(head: list[str], rows: list[list], empty: str = "Geen.") -> str:
    if not rows:
        return f"<p>{_e(empty)}</p>"
    return (
        "<table><tr>"
        + "".join(f"<th>{_e(h)}</th>" for h in head)
        + "</tr>"
        + "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
        + "</table>"
    )
