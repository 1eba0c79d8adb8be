"""Flow entry points with the application's wiring installed: `dossier` and Prefect workers
(prefect.yaml) import the flows from here, so both run them with the same settings."""
from __future__ import annotations

from flows import runtime as _runtime

from .settings import Settings
from .wiring import build_runtime, prepare_prefect_env

prepare_prefect_env(Settings())
_runtime.install(lambda: build_runtime(Settings()))

from flows.process_scan import process_scan  # noqa: E402
from flows.retention import install_policy as _install_policy, retention_run  # noqa: E402

_install_policy(lambda: Settings().retention_policy())

__all__ = ["process_scan", "retention_run"]
