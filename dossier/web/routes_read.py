"""Finding and reading: my dossiers, one dossier, the viewer, page images, the download, search."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from archive import access
from services import documents, dossiers, validate

from .common import Posted, Refused, SignedIn, Web, done, marker, page, submit

router = APIRouter()


@router.get("/")
def home(request: Request, web: SignedIn):
    listed = dossiers.list_dossiers(web.ctx)["dossiers"]
    return page(request, "home.html", web=web, dossiers=listed)


@router.post("/find")
def find(request: Request, web: Posted):
    """Dossiers by part of the client's name (the name travels in the POST body, not the URL)."""
    found = dossiers.find_dossiers(web.ctx, name=web.field("name"))["dossiers"]
    return page(request, "home.html", web=web, dossiers=found, found=True)


@router.get("/dossiers/{number}")
def dossier(request: Request, number: str, web: SignedIn):
    return dossier_page(request, web, number)


def dossier_page(request: Request, web: Web, number: str, refused: Refused | None = None):
    """The dossier's page; with `refused`, again after one of its forms was refused."""
    d = dossiers.show_dossier(web.ctx, number)
    a = web.ctx.actor
    # Presentation only: whether to draw thumbnails and links (each image asks its use case again).
    readable = access.may_on_dossier(a.name, a.role, "documents.read", d["coach"])
    return page(
        request,
        "dossier.html",
        web=web,
        d=d,
        readable=readable,
        today=web.ctx.today.isoformat(),
        msg=request.query_params.get("msg"),
        refused=refused,
    )


def on_dossier_page(request: Request, web: Web, number: str, do: Callable[[], Response]) -> Response:
    """A form of the dossier's page: refused, the page again with the reason at that form."""
    return submit(request, web, do, lambda refused: dossier_page(request, web, number, refused))


def back_to_dossier(number: str, msg: str) -> RedirectResponse:
    """After a form of the dossier's page: the page again, saying what was done."""
    return done(f"/dossiers/{validate.dossier_number(number)}", msg)


@router.get("/documents/{ident}")
def viewer(request: Request, ident: str, web: SignedIn, mark: int = 0):
    doc = documents.view_document(web.ctx, ident)
    terms = request.app.state.marks.recall(web.session_id) if mark else []
    return page(request, "document.html", web=web, doc=doc, terms=terms, mark=mark)


@router.get("/documents/{ident}/pages/{n}.jpg")
def page_image(request: Request, ident: str, n: int, web: SignedIn, w: int = 1000, mark: int = 0):
    terms = request.app.state.marks.recall(web.session_id) if mark else []
    img = documents.page_image(web.ctx, ident, n, width=w, marked=marker(terms) if terms else None)
    return Response(img.jpeg, media_type="image/jpeg")


def pdf_response(read: documents.ReadDocument) -> Response:
    name = f"{read.dossier}_{read.doc_type}_{read.id[:8]}.pdf"
    return Response(
        read.pdf, media_type="application/pdf", headers={"content-disposition": f'attachment; filename="{name}"'}
    )


@router.get("/documents/{ident}/pdf")
def download(request: Request, ident: str, web: SignedIn):
    return pdf_response(documents.read_document(web.ctx, ident, purpose="download"))


def _search(request: Request, web: Web, query: str):
    hits = documents.search(web.ctx, query)["hits"] if query.strip() else []
    if query.strip():
        request.app.state.marks.remember(web.session_id, query)
    terms = request.app.state.marks.recall(web.session_id) if query.strip() else []
    partial = request.headers.get("hx-request") == "true"
    return page(
        request, "search.html", web=web, hits=hits, q=query, terms=terms, searched=bool(query.strip()), partial=partial
    )


@router.get("/search")
def search(request: Request, web: SignedIn, q: str = ""):
    """The contract's GET /search?q=: works, but the app's own form posts the query instead, so it
    stays out of the address bar and the history. Neither way is the query logged or audited."""
    return _search(request, web, q)


@router.post("/search")
def search_posted(request: Request, web: Posted):
    return _search(request, web, web.field("q"))
