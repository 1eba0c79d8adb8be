"""What a flow run needs besides its ids: the vault, folders and OCR options.

The application shell installs a factory (dossier/wiring.py); flows never read settings themselves,
and their parameters stay ids.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from archive.vault import Vault
from scanners.pages import Limits


@dataclass
class Runtime:
    vault: Vault
    work_dir: Path
    limits: Limits
    languages: str = "nld+eng"
    ocr_jobs: int = 2
    ocr_dpi: int = 200  # finer page images are read at this resolution (0: at their own)
    low_text_words: int = 5
    low_confidence: float = 60.0
    tesseract_timeout: int = 300
    deployment: str = "process-scan"
    # Told (scan id, pages read, pages in scan) after each page; the CLI shows it as progress bars.
    on_page: Callable[[str, int, int], None] | None = None
    _ocr_pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _ocr_pool_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ocr_pool(self) -> ThreadPoolExecutor:
        """One pool of `ocr_jobs` tesseract slots for every scan this process runs, so scans
        processed side by side never run more tesseracts than there are slots."""
        with self._ocr_pool_lock:
            if self._ocr_pool is None:
                self._ocr_pool = ThreadPoolExecutor(max_workers=self.ocr_jobs, thread_name_prefix="ocr")
            return self._ocr_pool


_factory: Callable[[], Runtime] | None = None
_current: Runtime | None = None


def install(factory: Callable[[], Runtime]) -> None:
    global _factory, _current
    _factory, _current = factory, None


def current() -> Runtime:
    global _current
    if _current is None:
        if _factory is None:
            import dossier.deployments  # noqa: F401  (a worker importing a flow directly gets the default wiring)
        if _factory is None:
            raise RuntimeError("no runtime installed")
        _current = _factory()
    return _current
