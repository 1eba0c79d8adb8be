"""What a flow run needs besides its ids: the vault, folders, OCR options and the retention policy.

The application shell installs a factory (dossier/wiring.py); flows never read settings themselves,
and their parameters stay ids. A Prefect worker or runner imports a flow by its module path,
without the shell: then the shell's wiring is found through the package entry point
`dossier.runtime` (pyproject.toml), so no flow imports the layer above it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from archive.lifecycle import RetentionPolicy
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
    lease_seconds: float = 60.0  # a run's hold on its scan lapses this long after its last heartbeat
    policy: RetentionPolicy = field(default_factory=RetentionPolicy)
    # The intake mailbox (flows/mail_sweep.py): the password is read from the file at each sweep.
    imap_url: str | None = None
    imap_password_file: Path | None = None
    local_timezone: str = "Europe/Amsterdam"  # arrival days of intake mail are taken here
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
            _install_from_entry_point()
        if _factory is None:
            raise RuntimeError(
                "no runtime installed: the application's wiring (entry point dossier.runtime) is missing"
            )
        _current = _factory()
    return _current


def _install_from_entry_point() -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group="dossier.runtime"):
        ep.load()()  # it calls install()
        return
