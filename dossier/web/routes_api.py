"""The JSON API under /api/v1/ (DESIGN.md §9): the same session, the same use cases and rules as
the pages; errors are {"error", "code"} with 401 without a session, 403 or 404 for what the user
may not see (common.py renders them)."""

from __future__ import annotations

from fastapi import APIRouter

from services import documents, dossiers

from .common import SignedIn
from .routes_read import pdf_response

router = APIRouter(prefix="/api/v1")


@router.get("/dossiers")
def api_dossiers(web: SignedIn):
    listed = dossiers.list_dossiers(web.ctx)["dossiers"]
    return {"dossiers": [{"dossier": d["dossier"], "coach": d["coach"], "status": d["status"]} for d in listed]}


@router.get("/dossiers/{number}/documents")
def api_documents(number: str, web: SignedIn):
    return documents.list_documents(web.ctx, number)


@router.get("/documents/{ident}/pdf")
def api_pdf(ident: str, web: SignedIn):
    return pdf_response(documents.read_document(web.ctx, ident, purpose="download"))


@router.get("/search")
def api_search(web: SignedIn, q: str = ""):
    return documents.search(web.ctx, q)
