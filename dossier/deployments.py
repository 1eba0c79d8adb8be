"""Flow entry points with the application's wiring installed, for Prefect workers (prefect.yaml)
and for code that runs a flow directly."""

from __future__ import annotations

from .wiring import install_runtime

install_runtime()

from flows.integrity import integrity_check  # noqa: E402
from flows.mail_sweep import mail_sweep  # noqa: E402
from flows.process_scan import process_scan  # noqa: E402
from flows.retention import retention_run  # noqa: E402

__all__ = ["integrity_check", "mail_sweep", "process_scan", "retention_run"]
