"""Wiring: settings → vault and flow runtime, and Prefect's environment. No side effects on import:
commands that do not run flows never load Prefect (see deployments.py for the flow entry points).
"""
from __future__ import annotations

import os

from .settings import Settings


def prepare_prefect_env(settings: Settings) -> None:
    """Prefect's home under the data home (so its database is covered by our checks), and no
    result persistence: results could otherwise land on disk outside the vault."""
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home))
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_FLOW_RUNS_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_TASK_RUNS_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_UI_ENABLED", "true")


def build_vault(settings: Settings):
    from archive.vault import Vault

    return Vault(settings.home, settings.db_url, settings.master_key_path)


def build_runtime(settings: Settings):
    from flows.runtime import Runtime
    from scanners.pages import Limits

    return Runtime(
        vault=build_vault(settings),
        work_dir=settings.work_dir,
        limits=Limits(dpi=settings.dpi, max_megapixels=settings.max_page_megapixels),
        languages=settings.languages,
        ocr_jobs=settings.ocr_jobs,
        ocr_dpi=settings.ocr_dpi,
        low_text_words=settings.low_text_words,
        low_confidence=settings.low_confidence,
        tesseract_timeout=settings.tesseract_timeout,
        deployment=settings.deployment,
    )
