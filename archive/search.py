"""Search data without plaintext at rest: keyed-hash word tokens and sealed page text.

A token is HMAC(dossier token key, normalised word): equal words in one dossier give equal
tokens, nothing can be read back, and shredding the dossier's key makes them meaningless.
"""
from __future__ import annotations

import re
import unicodedata

from . import crypto

_WORD = re.compile(r"[0-9a-z]+")
TOKEN_HEX = 32


def normalise(text: str) -> str:
    """Lower case, accents folded (cliënt = client), so a coach finds what they type."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(normalise(text)) if len(w) >= 2]


def token(key: bytes, word: str) -> str:
    return crypto.mac(key, word.encode())[:TOKEN_HEX]


def page_tokens(key: bytes, text: str) -> set[str]:
    return {token(key, w) for w in set(words(text))}


def snippet(text: str, query_words: list[str], width: int = 60) -> str:
    """A short piece of the page around the first query word, on one line."""
    flat = " ".join(text.split())
    folded = normalise(flat)  # same length as flat for Latin text after NFKD folding of most letters
    if len(folded) != len(flat):
        folded = flat.lower()
    at = min((i for w in query_words if (i := folded.find(w)) >= 0), default=0)
    start, end = max(0, at - width), min(len(flat), at + width)
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
