"""Search data without plaintext at rest: keyed-hash word tokens and sealed page text.

A token is HMAC(dossier token key, normalised term): equal terms in one dossier give equal
tokens, nothing can be read back, and shredding the dossier's key makes them meaningless.

Dutch inflects and compounds: "rugklacht" must find "rugklachten", "klachten" must find
"klacht", "werkhervatting" the compound "werkhervattingsplan". So each word on a page gives
three kinds of term: the word itself, its Snowball (Dutch) stem, and every prefix of at least
PREFIX_MIN letters (the heads of compounds and inflected forms). A query word matches a page
holding it as a word, a prefix or a stem. Still no plaintext index: only keyed hashes are stored.
"""

from __future__ import annotations

import functools
import re
import threading
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


PREFIX_MIN = 4


_local = threading.local()  # a Snowball stemmer keeps state while it works: one per thread


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    stemmer = getattr(_local, "dutch", None)
    if stemmer is None:
        import snowballstemmer

        stemmer = _local.dutch = snowballstemmer.stemmer("dutch")
    return stemmer.stemWord(word)


def token(key: bytes, term: str) -> str:
    return crypto.mac(key, term.encode())[:TOKEN_HEX]


def word_terms(word: str) -> set[str]:
    """What one word on a page is indexed under: itself, its stem, its prefixes."""
    terms = {word, "s:" + stem(word)}
    terms.update("p:" + word[:n] for n in range(PREFIX_MIN, len(word) + 1))
    return terms


def query_terms(word: str) -> set[str]:
    """What a query word matches: the word, its stem, or (long enough) the start of a word."""
    terms = {word, "s:" + stem(word)}
    if len(word) >= PREFIX_MIN:
        terms.add("p:" + word)
    return terms


def page_tokens(key: bytes, text: str) -> set[str]:
    return {token(key, t) for w in set(words(text)) for t in word_terms(w)}


def marks(query: str) -> list[str]:
    """The strings to mark in a page for a query: its words and their stems (folded)."""
    found = []
    for w in words(query):
        for m in (w, stem(w)):
            if len(m) >= 2 and m not in found:
                found.append(m)
    return found


def snippet(text: str, query_words: list[str], width: int = 60) -> str:
    """A short piece of the page around the first query word, on one line."""
    flat = " ".join(text.split())
    folded = normalise(flat)  # same length as flat for Latin text after NFKD folding of most letters
    if len(folded) != len(flat):
        folded = flat.lower()
    at = min((i for w in query_words for m in (w, stem(w)) if (i := folded.find(m)) >= 0), default=0)
    start, end = max(0, at - width), min(len(flat), at + width)
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
