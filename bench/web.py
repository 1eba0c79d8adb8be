"""Web app benchmark (issue 10): a real `dossier web` over a catalog of many dossiers.

    make bench-web                                 # = .venv/bin/python bench/web.py
    .venv/bin/python bench/web.py --dossiers 200 --rounds 20   # a quick look

Builds (once; cached under bench/out/web-<dossiers>x<docs>) an archive of N dossiers with M
documents each: dossiers are opened through the services (services.dossiers.open_dossier), and
documents are PDFs with a real text layer stored and recorded the way the scan flow does it
(Vault.store_document: sanitise, AES-256 encryption, re-read and verify, HMAC; then
Vault.record_document: sealed page texts, search tokens) — only OCR is left out, so building the
catalog takes minutes, not days. Most documents are one born-digital text page (they fill the
catalog and the search index); the one measured in the viewer is a 20-page scan (300 dpi JPEG
pages, as a scanner writes them). Each coach has 20 dossiers (N/20 coaches).

Then `dossier web` runs as a subprocess on a free loopback port and is timed from a client over
HTTP, each request after the previous one (one person at a time):
- login: both steps (Argon2id password check, then a TOTP code), one login per bench user;
- dossier page: GET /dossiers/{D} as its coach (facts, documents, paper file; HTML);
- first page image: GET /documents/{id}/pages/1.jpg?w=1000 of the 20-page document (HMAC check,
  decryption, the page cut out, rendered by pdftoppm over pipes);
- search: GET /api/v1/search?q=... as a coach over their dossiers;
and, for scale, what looks at every dossier: the privacy officer's search over all N and the
office's dossier list (GET /, every client name decrypted).
Prints a Markdown table of p50/p95 and writes bench/out/web.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent
PASSWORD = "bench wachtwoord lang genoeg"
WORDS = (
    "gesprek werkhervatting intake doelen verwachtingen stemming rugklacht arbeidsdeskundige werkgever re-integratie "
    "sollicitatie training planning afspraak voortgang belastbaarheid energie motivatie netwerk vacature stage "
    "feedback manager positive constructive agreed action points together written client coach week month"
).split()


def _pdf(pages: list[str]) -> bytes:
    """A PDF whose pages carry real text (as a text layer would), made with reportlab."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    for text in pages:
        t = c.beginText(60, 780)
        t.setFont("Helvetica", 11)
        line = []
        for w in text.split():
            line.append(w)
            if len(line) == 12:
                t.textLine(" ".join(line))
                line = []
        t.textLine(" ".join(line))
        c.drawText(t)
        c.showPage()
    c.save()
    return out.getvalue()


def _scanned(pages: list[str]) -> bytes:
    """A PDF as a scanner writes it: each page one 300 dpi greyscale JPEG of printed text, with the
    noise of paper (what the viewer renders in real use; a born-digital page renders differently)."""
    import img2pdf
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 42)
    images = []
    for text in pages:
        img = Image.new("L", (2480, 3508), 245)
        d = ImageDraw.Draw(img)
        words, y = text.split(), 300
        for i in range(0, len(words), 9):
            d.text((250, y), " ".join(words[i : i + 9]), font=font, fill=30)
            y += 70
        noise = Image.effect_noise((2480, 3508), 18).point(lambda v: v // 8)
        img = Image.blend(img, noise.convert("L"), 0.08)
        out = io.BytesIO()
        img.save(out, "JPEG", quality=85, dpi=(300, 300))
        images.append(out.getvalue())
    return img2pdf.convert(images)


def _text(r: random.Random, n: int = 120) -> str:
    return " ".join(r.choice(WORDS) for _ in range(n))


def build(home: Path, dossiers: int, docs: int, seed: int = 7) -> dict:
    """The catalog: users, dossiers, documents. Returns what the timing needs."""
    import pikepdf

    from archive.vault import PageRecord
    from dossier.settings import Settings
    from dossier.wiring import build_app
    from services import auth, setup, users
    from services import dossiers as dossiers_
    from services.context import act_as

    app = build_app(Settings(home=home))
    setup.initialise(app, "petra")
    petra = act_as(app, "petra")
    coaches = [f"coach{n:02d}" for n in range(max(1, dossiers // 20))]
    users.add_user(petra, "olaf", "office")
    for c in coaches:
        users.add_user(petra, c, "coach")
    secrets_ = {}
    logins = [f"login{n:02d}" for n in range(30)]
    for name in logins:
        users.add_user(petra, name, "coach")
    for name in [*coaches, *logins, "petra", "olaf"]:
        auth.set_password(petra, name, PASSWORD)
        secrets_[name] = auth.enrol_totp(petra, name)["otpauth_uri"].split("secret=")[1].split("&")[0]
    office = act_as(app, "olaf")
    r = random.Random(seed)
    variants = [[_text(r)] for _ in range(25)]
    variants = [(_pdf(t), t) for t in variants]
    long_texts = [_text(r) for _ in range(20)]
    long_doc = (_scanned(long_texts), long_texts)
    vault = app.vault
    first = None
    started = time.monotonic()
    for n in range(dossiers):
        coach = coaches[n % len(coaches)]
        number = dossiers_.open_dossier(office, coach=coach, client_name=f"Client {n}")["dossier"]
        keys = None
        with vault.sessions() as s:
            keys = vault.dossier_keys(s, number)
        stored = []
        for k in range(docs):
            data, texts = long_doc if (n == 0 and k == 0) else variants[(n * docs + k) % len(variants)]
            pdf = pikepdf.open(io.BytesIO(data))
            stored.append((vault.store_document(keys, pdf, len(texts)), texts))
        with vault.writer() as s:
            for st, texts in stored:
                doc = vault.record_document(
                    s,
                    st,
                    doc_type="aantekeningen",
                    pages=[PageRecord(t, 90.0, len(t.split()), False) for t in texts],
                    scan_id=None,
                    cover_serial=None,
                )
                if first is None:
                    first = {"dossier": number, "coach": coach, "document": doc.id}
            s.commit()
        if (n + 1) % 100 == 0:
            print(f"  {n + 1} dossiers ({time.monotonic() - started:.0f} s)", flush=True)
    info = {"first": first, "secrets": secrets_, "coaches": coaches, "logins": logins}
    (home / "bench.json").write_text(json.dumps(info))
    return info


def _credentials(home: Path, names: list[str]) -> dict:
    from dossier.settings import Settings
    from dossier.wiring import build_app
    from services import auth
    from services.context import act_as

    petra = act_as(build_app(Settings(home=home)), "petra")
    out = {}
    for name in names:
        auth.set_password(petra, name, PASSWORD)
        out[name] = auth.enrol_totp(petra, name)["otpauth_uri"].split("secret=")[1].split("&")[0]
    return out


class Phone:
    def __init__(self, secret: str):
        import pyotp

        self.totp, self.last = pyotp.TOTP(secret), None

    def code(self) -> str:
        while True:
            now = int(time.time() // 30)
            for step in (now, now + 1):
                if self.last is None or step > self.last:
                    self.last = step
                    return self.totp.generate_otp(step)
            time.sleep(1)


def _csrf(html: str) -> str:
    import re

    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(url: str, name: str, phone: Phone):
    import httpx

    c = httpx.Client(base_url=url, timeout=60)
    r = c.get("/login")
    r = c.post("/login", data={"csrf": _csrf(r.text), "username": name, "password": PASSWORD})
    assert r.status_code == 303, r.text[:300]
    r = c.get("/login/code")
    r = c.post("/login/code", data={"csrf": _csrf(r.text), "code": phone.code()})
    assert r.status_code == 303, r.text[:300]
    return c


def timed(fn, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dossiers", type=int, default=2000)
    ap.add_argument("--docs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "web.json")
    args = ap.parse_args()
    home = ROOT / "bench" / "out" / f"web-{args.dossiers}x{args.docs}" / "home"
    if not (home / "bench.json").exists():
        import shutil

        shutil.rmtree(home.parent, ignore_errors=True)
        home.parent.mkdir(parents=True)
        print(f"Building {args.dossiers} dossiers x {args.docs} documents in {home} ...", flush=True)
        t = time.monotonic()
        build(home, args.dossiers, args.docs)
        print(f"built in {time.monotonic() - t:.0f} s", flush=True)
    info = json.loads((home / "bench.json").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOSSIER_", "PREFECT_"))}
    env["DOSSIER_HOME"] = str(home)
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(home.parent / "web.log", "ab")
    proc = subprocess.Popen([str(BIN / "dossier"), "web", "--port", str(port)], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(300):
            try:
                if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        first = info["first"]
        if "petra" not in info["secrets"]:  # a catalog cached by an earlier version of this script
            info["secrets"].update(_credentials(home, ["petra", "olaf"]))
            (home / "bench.json").write_text(json.dumps(info))
        logins = info["logins"][: min(args.rounds, len(info["logins"]))]
        phones = {n: Phone(info["secrets"][n]) for n in [*logins, first["coach"]]}
        login_ms = []
        for name in logins:
            t = time.perf_counter()
            login(url, name, phones[name]).close()
            login_ms.append((time.perf_counter() - t) * 1000)
        coach = login(url, first["coach"], phones[first["coach"]])
        mine = [d["dossier"] for d in coach.get("/api/v1/dossiers").json()["dossiers"]]

        pages_seen = iter(range(10**9))

        def dossier_page():
            r = coach.get(f"/dossiers/{mine[next(pages_seen) % len(mine)]}")
            assert r.status_code == 200

        def first_image():
            r = coach.get(f"/documents/{first['document']}/pages/1.jpg", params={"w": 1000})
            assert r.status_code == 200 and r.content.startswith(b"\xff\xd8")

        terms = iter(WORDS * 10)

        def search():
            r = coach.get("/api/v1/search", params={"q": next(terms)})
            assert r.status_code == 200

        petra = login(url, "petra", Phone(info["secrets"]["petra"]))
        olaf = login(url, "olaf", Phone(info["secrets"]["olaf"]))

        def search_all():
            r = petra.get("/api/v1/search", params={"q": next(terms)})
            assert r.status_code == 200

        def office_list():
            assert olaf.get("/").status_code == 200

        for fn in (dossier_page, first_image, search, search_all, office_list):  # warm up once each
            fn()
        results = {
            "login (password + code)": login_ms,
            "dossier page": timed(dossier_page, args.rounds),
            "first page image, 20-page document": timed(first_image, args.rounds),
            f"search as a coach ({len(mine)} dossiers)": timed(search, args.rounds),
            f"search as the privacy officer ({args.dossiers} dossiers)": timed(search_all, min(args.rounds, 10)),
            f"office's dossier list ({args.dossiers} dossiers)": timed(office_list, min(args.rounds, 10)),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    rows = [f"| {k} | {len(v)} | {statistics.median(v):.0f} ms | {pct(v, 95):.0f} ms |" for k, v in results.items()]
    table = "\n".join(["| request | n | p50 | p95 |", "|---|---|---|---|", *rows])
    print(f"\n{args.dossiers} dossiers x {args.docs} documents, {platform.node()}, {os.cpu_count()} cores\n")
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({k: sorted(v) for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
