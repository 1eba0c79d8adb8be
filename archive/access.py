"""Who may do what (DESIGN.md §7). Pure rules; the callers enforce them and audit refusals.

office:  makes dossiers and cover sheets, scans, works the quarantine; sees document lists, not content;
         keeps the paper files (register, move, check out/in, confirm destruction), closes dossiers,
         sees what is due for destruction and the destruction log
coach:   lists, retrieves and searches the dossiers they coach, and only those
privacy: everything, including holds, erasure and running retention by hand
"""
from __future__ import annotations

ROLES = ("office", "coach", "privacy")

_ALLOWED: dict[str, set[str]] = {
    "office": {"dossier.create", "cover.create", "scan", "quarantine.work", "documents.list",
               "paper.manage", "dossier.close", "retention.view"},
    "coach": {"documents.list", "documents.read", "documents.search"},
    "privacy": {"*"},
}
# Actions on a dossier that a coach may only take on their own clients' dossiers.
_OWN_DOSSIER_ONLY = {"documents.list", "documents.read", "documents.search"}


def role_may(role: str, action: str) -> bool:
    allowed = _ALLOWED.get(role, set())
    return "*" in allowed or action in allowed


def may_on_dossier(user: str, role: str, action: str, dossier_coach: str) -> bool:
    if not role_may(role, action):
        return False
    if role == "coach" and action in _OWN_DOSSIER_ONLY:
        return dossier_coach == user
    return True
