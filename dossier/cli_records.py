"""Records management commands (paper dossiers, lifecycle, retention): registered on the main app."""
from __future__ import annotations

from .cli import app  # noqa: F401
