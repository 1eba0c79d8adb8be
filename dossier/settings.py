"""Configuration: environment variables (DOSSIER_*) over an optional file, over defaults.

Everything lives under DOSSIER_HOME unless a setting points elsewhere. The file
`$DOSSIER_HOME/dossier.toml` may hold the same keys in lower case (e.g. `dpi = 300`).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource


def default_home() -> Path:
    return Path(os.environ.get("DOSSIER_HOME") or Path.home() / ".dossier").expanduser()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOSSIER_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    # The master key lives outside the archive folder; point it to removable or managed storage if wanted.
    key_file: Path | None = None
    inbox: Path | None = None
    database_url: str | None = None
    languages: str = "nld+eng"
    dpi: int = 300
    ocr_jobs: int = Field(default_factory=lambda: os.cpu_count() or 1)
    # Finer page images are OCRed at this resolution, doubtful pages again at their own (see
    # scanners/ocr.py for the measurements); 0 reads every page at its own resolution.
    ocr_dpi: int = 200
    # A page beyond this is refused (decompression bombs, posters): A4 at 600 dpi is ~35 Mpx.
    max_page_megapixels: float = 60.0
    # A scan with more pages is refused whole (`too-many-pages`): split the stack.
    max_pages: int = 1000
    # Pages with fewer recognised words, or a lower mean confidence, are flagged (likely handwriting).
    low_text_words: int = 5
    low_confidence: float = 60.0
    tesseract_timeout: int = 300
    # Records management: destruction date = trajectory end + this ISO 8601 period (P1Y, P18M, P400D);
    # "upcoming" lists what becomes due within so many days; a paper check-out without --due is due
    # back after so many days; dates ("today") are taken in this time zone.
    retention_period: str = "P1Y"
    retention_upcoming_days: int = 30
    paper_checkout_days: int = 14
    local_timezone: str = "Europe/Amsterdam"
    # Unattended intake (`dossier watch`).
    settle_seconds: float = 5.0  # size and mtime unchanged this long before a file is taken in
    sweep_seconds: float = 60.0  # full look at the inbox, for events lost on network shares
    watch_polling: bool | None = None  # None: decide by file system type; True: always poll
    watch_concurrency: int = 2  # scans processed at once
    prefect_port: int = 4200  # the embedded Prefect server, bound to 127.0.0.1
    # Name of the served process-scan deployment; distinct names let several archives share one server.
    deployment: str = "process-scan"
    # The intake mailbox (DESIGN.md §11): imap[s]://user@host:port/MAILBOX. The password is read
    # only from this file (mode 0600), never from the environment, so it stays out of logs and Prefect.
    imap_url: str | None = None
    imap_password_file: Path | None = None
    # The web app (DESIGN.md §9): loopback by default; any other address needs TLS here or a proxy
    # in front that terminates it (then cookies are Secure). Sessions end after so many idle
    # minutes, and after so many hours whatever happens.
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    web_tls_cert: Path | None = None
    web_tls_key: Path | None = None
    web_behind_proxy: bool = False
    web_idle_minutes: float = 15.0
    web_session_hours: float = 10.0
    # Scale-out (DESIGN.md §6): the Prefect work pool `dossier deploy` registers the deployments on and
    # `dossier worker` serves; with it set, `dossier watch` dispatches to the pool instead of serving.
    work_pool: str | None = None
    # A run renews its hold on its scan (a lease in the catalog) every quarter of this; a scan whose
    # worker died is taken over once its lease has run out.
    lease_seconds: float = 60.0

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        toml = default_home() / "dossier.toml"
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @field_validator("dpi")
    @classmethod
    def _dpi_range(cls, v: int) -> int:
        if not 100 <= v <= 600:
            raise ValueError("dpi must be between 100 and 600")
        return v

    @field_validator("ocr_dpi")
    @classmethod
    def _ocr_dpi_range(cls, v: int) -> int:
        if v != 0 and not 150 <= v <= 600:
            raise ValueError("ocr_dpi must be 0 or between 150 and 600")
        return v

    @field_validator("retention_period")
    @classmethod
    def _period_valid(cls, v: str) -> str:
        from archive.retention import parse_period

        return str(parse_period(v))

    @field_validator("local_timezone")
    @classmethod
    def _timezone_known(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        ZoneInfo(v)  # raises for an unknown zone name
        return v

    @field_validator("max_pages")
    @classmethod
    def _pages_positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("max_pages must be at least 1")
        return v

    @field_validator("retention_upcoming_days", "paper_checkout_days")
    @classmethod
    def _days_positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be at least 1 day")
        return v

    def retention_policy(self):
        from archive.lifecycle import RetentionPolicy
        from archive.retention import parse_period

        return RetentionPolicy(parse_period(self.retention_period), self.retention_upcoming_days, self.local_timezone)

    @field_validator("web_idle_minutes", "web_session_hours")
    @classmethod
    def _duration_positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be more than 0")
        return v

    @field_validator("lease_seconds")
    @classmethod
    def _lease_range(cls, v: float) -> float:
        if not 5 <= v <= 600:
            raise ValueError("lease_seconds must be between 5 and 600")
        return v

    @field_validator("ocr_jobs")
    @classmethod
    def _jobs_positive(cls, v: int) -> int:
        return max(1, v)

    # Derived locations: one place decides the layout of the data home.
    @property
    def master_key_path(self) -> Path:
        return self.key_file or self.home / "keys" / "master.key"

    @property
    def inbox_dir(self) -> Path:
        return self.inbox or self.home / "inbox"

    @property
    def work_dir(self) -> Path:
        return self.home / "work"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'catalog.db'}"
