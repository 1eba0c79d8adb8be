"""Who may do what (DESIGN.md §7). Pure rules; the use cases enforce them and audit refusals.

office:  makes dossiers and cover sheets, scans, works the quarantine; sees document lists, not content;
         keeps the paper files (register, move, check out/in, confirm destruction), closes dossiers,
         sees what is due for destruction and the destruction log
coach:   lists, retrieves and searches the dossiers they coach, and only those; records their
         clients' consent and gives documents to third parties under it
privacy: everything, including users, holds, erasure, the audit log and running retention by hand,
         clients' requests, rectification, consent, disclosures and the breach register
"""

from __future__ import annotations

ROLES = ("office", "coach", "privacy")

# What each permission lets one do, as the refusal says it ("anna (coach) may not <this>").
ACTIONS: dict[str, str] = {
    "archive.init": "set up the archive",
    "users.manage": "manage users",
    "dossier.create": "open dossiers",
    "dossier.view": "see this dossier",
    "dossier.reveal": "see a client's full BSN",
    "cover.create": "make cover sheets",
    "scan": "scan documents",
    "quarantine.work": "work the quarantine",
    "documents.list": "list documents",
    "documents.read": "read documents",
    "documents.search": "search documents",
    "paper.manage": "keep paper files",
    "dossier.close": "close dossiers",
    "dossier.hold": "place or release legal holds",
    "dossier.erase": "erase dossiers",
    "retention.view": "see what is due for destruction",
    "retention.run": "run retention by hand",
    "audit.view": "read the audit log",
    "audit.verify": "verify the audit log",
    "status.view": "see the system status",
    "requests.manage": "handle clients' requests (access, rectification, erasure)",
    "dossier.correct": "correct a client's data",
    "consent.manage": "record or withdraw a client's consent",
    "consent.view": "see a client's consents",
    "documents.disclose": "give documents to third parties",
    "disclosures.view": "see what was given to third parties",
    "breach.manage": "keep the breach register",
    "integrity.check": "check the archive's integrity",
    "keys.rotate": "rotate the master key",
    "backup.make": "back up the archive",
}

_ALLOWED: dict[str, set[str]] = {
    "office": {
        "dossier.create",
        "dossier.view",
        "cover.create",
        "scan",
        "quarantine.work",
        "documents.list",
        "paper.manage",
        "dossier.close",
        "retention.view",
        "status.view",
    },
    "coach": {
        "dossier.view",
        "dossier.reveal",
        "documents.list",
        "documents.read",
        "documents.search",
        "status.view",
        "consent.manage",
        "consent.view",
        "documents.disclose",
        "disclosures.view",
    },
    "privacy": {"*"},
    # The system itself: the watcher takes scans in (names start with "system:").
    "system": {"scan"},
}
# Actions on a dossier that a coach may only take on their own clients' dossiers.
_OWN_DOSSIER_ONLY = {
    "dossier.view",
    "dossier.reveal",
    "documents.list",
    "documents.read",
    "documents.search",
    "consent.manage",
    "consent.view",
    "documents.disclose",
    "disclosures.view",
}


def describe(action: str) -> str:
    return ACTIONS.get(action, action)


def role_may(role: str, action: str) -> bool:
    allowed = _ALLOWED.get(role, set())
    return "*" in allowed or action in allowed


def may_on_dossier(user: str, role: str, action: str, dossier_coach: str) -> bool:
    if not role_may(role, action):
        return False
    if role == "coach" and action in _OWN_DOSSIER_ONLY:
        return dossier_coach == user
    return True


def sees_every_dossier(role: str) -> bool:
    """Office staff and the privacy officer see every dossier's facts; a coach only their own."""
    return role in ("office", "privacy")
