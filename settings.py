"""Configuration: every environment variable of PRODUCT.md §2 in one place.

Defaults work for the embedded stack (`make run`, `make test`). The secrets (client secret, verifier
token, encryption key) have no defaults in the code: for the emulator they are generated once and kept in
the git-ignored `.devdata/dev-secrets.json`, so the service and the emulator agree without a secret ever
being committed. Against Intuit's sandbox or production they must come from the environment.

This module imports nothing of the project and no I/O library, so anything may import it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

ROOT = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("QBO_DATA_DIR", ROOT / ".devdata"))
TASK_QUEUE = "qbo-integration"


class QboEnv(StrEnum):
    EMULATOR = "emulator"
    SANDBOX = "sandbox"
    PRODUCTION = "production"


class QboHosts(BaseModel):
    """Where QBO lives. The client uses the same code path for all three environments (qbo-reference §1.1, §10.1)."""

    api_base: str
    authorize_url: str
    token_url: str
    revoke_url: str


class Settings(BaseModel):
    database_url: str | None = None  # None: the embedded PostgreSQL of `make run`
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    qbo_env: QboEnv = QboEnv.EMULATOR
    qbo_emulator_url: str = "http://127.0.0.1:8010"
    qbo_client_id: str = "qbo-emulator-client"
    qbo_client_secret: SecretStr
    qbo_redirect_uri: str = "http://127.0.0.1:8000/oauth/qbo/callback"
    qbo_webhook_verifier_token: SecretStr
    token_encryption_key: SecretStr = Field(description="urlsafe-base64 32-byte AES key, optionally 'kid:key,kid:key' for rotation")
    api_port: int = 8000
    api_key: SecretStr | None = Field(None, description="one key, or several separated by commas (rotation)")
    sync_interval_seconds: int = 300
    log_level: str = "INFO"
    # The worker's two Prometheus endpoints (README "Metrics"): the service's counters (prometheus_client)
    # and the Temporal SDK's own exporter, a Rust server that can't share a port with Python's.
    worker_metrics_port: int = 9464
    worker_temporal_metrics_port: int = 9465
    metrics_bind_host: str = Field("127.0.0.1", description="0.0.0.0 in containers, so Prometheus can scrape")
    dashboard_enabled: bool | None = Field(None, description="the /dashboard pages; unset: on with the emulator only")
    # The worker's capacity (README "Operating it", "Fleet size per worker"; measured by bench/fleet.py). A
    # partner's workflow sleeps between cycles; evicted from the sticky cache, it replays its whole run's
    # history on every wake, so the cache holds every partner a worker serves.
    worker_max_cached_workflows: int = Field(2500, ge=1)
    worker_max_concurrent_workflow_tasks: int | None = Field(None, ge=2, description="unset: the SDK's default")
    worker_max_concurrent_activities: int | None = Field(None, ge=1, description="unset: the SDK's default")
    worker_workflow_task_pollers: int | None = Field(None, ge=2, description="unset: the SDK's default (5)")
    worker_activity_task_pollers: int | None = Field(None, ge=1, description="unset: the SDK's default (5)")

    @property
    def qbo_hosts(self) -> QboHosts:
        if self.qbo_env is QboEnv.EMULATOR:
            base = self.qbo_emulator_url.rstrip("/")
            return QboHosts(
                api_base=f"{base}/v3/company",
                authorize_url=f"{base}/connect/oauth2",
                token_url=f"{base}/oauth2/v1/tokens/bearer",
                revoke_url=f"{base}/v2/oauth2/tokens/revoke",
            )
        api = {
            QboEnv.SANDBOX: "https://sandbox-quickbooks.api.intuit.com/v3/company",
            QboEnv.PRODUCTION: "https://quickbooks.api.intuit.com/v3/company",
        }[self.qbo_env]
        return QboHosts(
            api_base=api,
            authorize_url="https://appcenter.intuit.com/connect/oauth2",
            token_url="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
            revoke_url="https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
        )

    @property
    def api_keys(self) -> tuple[SecretStr, ...]:
        """Every accepted API key. Several at once let ops rotate without downtime: add the new key, move
        the dashboard to it, then drop the old one."""
        return tuple(SecretStr(k) for k in split_keys(self.api_key.get_secret_value() if self.api_key else ""))

    def check_api(self) -> None:
        """The API refuses to start without a key against real QBO (PRODUCT.md §6): an open API lets anyone
        on the network record payments into a partner's books or disconnect them. Only the emulator stack,
        which holds no one's books, may run without one."""
        if self.qbo_env is not QboEnv.EMULATOR and not self.api_keys:
            raise RuntimeError(f"QBO_ENV={self.qbo_env.value} needs API_KEY (one key, or several separated by "
                               "commas): the API does not start unauthenticated against real QuickBooks")

    @property
    def dashboard_on(self) -> bool:
        """The Integrations page is a demo and reference by default: served with the emulator, and against
        real QBO only when DASHBOARD_ENABLED says so (it then sits behind the API-key login)."""
        if self.dashboard_enabled is not None:
            return self.dashboard_enabled
        return self.qbo_env is QboEnv.EMULATOR

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


def split_keys(value: str) -> list[str]:
    """`API_KEY=k1,k2` → ["k1", "k2"] (blanks dropped): the first is the one our own tools send."""
    return [k.strip() for k in value.split(",") if k.strip()]


_SECRET_VARS = ("QBO_CLIENT_SECRET", "QBO_WEBHOOK_VERIFIER_TOKEN", "TOKEN_ENCRYPTION_KEY")


def _dev_secrets() -> dict[str, str]:
    """Secrets for the emulator stack, generated on first use and kept out of the repo."""
    path = DATA_DIR / "dev-secrets.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    values = {
        "QBO_CLIENT_SECRET": secrets.token_urlsafe(32),
        "QBO_WEBHOOK_VERIFIER_TOKEN": secrets.token_urlsafe(32),
        "TOKEN_ENCRYPTION_KEY": "k1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values))
    tmp.chmod(0o600)
    tmp.replace(path)
    return values


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    qbo_env = env.get("QBO_ENV", QboEnv.EMULATOR.value)
    missing = [name for name in _SECRET_VARS if not env.get(name)]
    if missing:
        if qbo_env != QboEnv.EMULATOR.value:
            raise RuntimeError(f"QBO_ENV={qbo_env} needs these environment variables: {', '.join(missing)}")
        dev = _dev_secrets()
        for name in missing:
            env[name] = dev[name]
    fields = {name.lower(): value for name, value in env.items() if name.lower() in Settings.model_fields}
    fields = {k: v for k, v in fields.items() if v != ""}
    return Settings(**fields)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


class PathOnlyAccessLog(logging.Filter):
    """Drops the query string from uvicorn's access-log lines. The OAuth callback's query carries a live
    authorization `code` and the one-time `state` (and list cursors are opaque), so only the path is logged.

    uvicorn logs `(client, method, path?query, http_version, status)` as the record's args and its
    formatter reads them from there, so the args are rewritten rather than the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


def configure_logging(level: str) -> None:
    """One log format for every process. httpx's line per request shows only at DEBUG: the QBO client logs
    what matters itself, with Intuit's `intuit_tid`, and never a token. uvicorn's access log keeps its own
    handlers (uvicorn's dictConfig replaces handlers, not filters), with query strings removed."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, PathOnlyAccessLog) for f in access.filters):
        access.addFilter(PathOnlyAccessLog())
