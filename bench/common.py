"""Paths and constants shared by the bench modules."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PY = sys.executable
LANGS = "nld+eng"
DPI = 300
