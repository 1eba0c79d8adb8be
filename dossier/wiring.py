"""Wiring: settings → the application (services.App) and the flows' runtime, and Prefect's
environment. No side effects on import: commands that do not run flows never load Prefect.
"""

from __future__ import annotations

import datetime as dt
import os

from .settings import Settings


def prepare_prefect_env(settings: Settings, console: str = "CRITICAL") -> None:
    """Prefect's home under the data home (so its database is covered by our checks), and no
    result persistence: results could otherwise land on disk outside the vault. A command reports
    outcomes in its own words, so Prefect's console log stays quiet (`console`; the watcher shows
    warnings); every flow's log still reaches the Prefect server."""
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home))
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", console)
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_FLOW_RUNS_LEVEL", console)
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_TASK_RUNS_LEVEL", console)
    os.environ.setdefault("PREFECT_UI_ENABLED", "true")


def build_vault(settings: Settings):
    from archive.vault import Vault

    return Vault(settings.home, settings.db_url, settings.master_key_path)


def build_app(settings: Settings, vault=None):
    from services.context import App

    return App(
        vault=vault or build_vault(settings),
        home=settings.home,
        inbox_dir=settings.inbox_dir,
        work_dir=settings.work_dir,
        run_dir=settings.run_dir,
        policy=settings.retention_policy(),
        paper_checkout_days=settings.paper_checkout_days,
        concurrency=settings.watch_concurrency,
        settle_seconds=settings.settle_seconds,
        imap_url=settings.imap_url,
        session_idle=dt.timedelta(minutes=settings.web_idle_minutes),
        session_max=dt.timedelta(hours=settings.web_session_hours),
        work_pool=settings.work_pool,
        deployment=settings.deployment,
    )


def build_runtime(settings: Settings, vault=None):
    from flows.runtime import Runtime
    from scanners.pages import Limits

    return Runtime(
        vault=vault or build_vault(settings),
        work_dir=settings.work_dir,
        limits=Limits(dpi=settings.dpi, max_megapixels=settings.max_page_megapixels, max_pages=settings.max_pages),
        languages=settings.languages,
        ocr_jobs=settings.ocr_jobs,
        ocr_dpi=settings.ocr_dpi,
        low_text_words=settings.low_text_words,
        low_confidence=settings.low_confidence,
        tesseract_timeout=settings.tesseract_timeout,
        deployment=settings.deployment,
        lease_seconds=settings.lease_seconds,
        policy=settings.retention_policy(),
        imap_url=settings.imap_url,
        imap_password_file=settings.imap_password_file,
        local_timezone=settings.local_timezone,
    )


def install_runtime(settings: Settings | None = None, vault=None) -> None:
    """Give the flows their runtime (also the entry point `dossier.runtime` that a Prefect worker
    or runner finds when it imports a flow by its module path)."""
    from flows import runtime

    settings = settings or Settings()
    prepare_prefect_env(settings)
    runtime.install(lambda: build_runtime(settings, vault))
