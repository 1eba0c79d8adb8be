"""The one error tree. Every expected refusal or failure is a DossierError: its message is one
line, safe to show (never content, a name or a BSN) and says what to do; it knows its exit code
(the CLI), its HTTP status (the web app) and a stable reason code (audit events, JSON).

Use cases raise these; each entry point only renders them. The archive sits at the bottom of the
layers, so the tree lives here where every layer above may import it.
"""

from __future__ import annotations


class DossierError(Exception):
    """A conflict with the current state, or anything else expected (exit 1)."""

    exit_code = 1
    http_status = 409
    default_code = "error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code or self.default_code


class BadInput(DossierError):
    """Input that cannot be used: a date, a BSN, a document type, a dossier number, a file (exit 2)."""

    exit_code = 2
    http_status = 400
    default_code = "bad-input"


class NotPermitted(DossierError):
    """The role may not, or a rule forbids it now (RuleForbids) (exit 3)."""

    exit_code = 3
    http_status = 403
    default_code = "not-permitted"


class RuleForbids(NotPermitted):
    """The role may, but a rule forbids it now: a legal hold, not yet due, still open, the last
    privacy officer (exit 3). Unlike a refused role, the person can act on it, so the web app shows
    it beside the form they filled in."""

    default_code = "rule-forbids"


class NotFound(DossierError):
    """No such dossier, document, item or user, or it was destroyed (exit 4)."""

    exit_code = 4
    http_status = 404
    default_code = "not-found"


class IntegrityFailure(DossierError):
    """An archived file, a key or the audit log is not what it should be (exit 5)."""

    exit_code = 5
    http_status = 500
    default_code = "integrity"


class Conflict(DossierError):
    """The state does not allow this: already registered, already checked out (exit 1)."""

    default_code = "conflict"


class NotReady(DossierError):
    """The archive is not set up, or its master key is missing, wrong or exposed (exit 1)."""

    http_status = 503
    default_code = "not-ready"


class Unavailable(DossierError):
    """A service the command needs does not answer (Prefect); nothing was lost: try again (exit 1)."""

    http_status = 503
    default_code = "unavailable"
