"""One way to reach Temporal for every client process (worker, API, CLI, tests).

Connection settings come from Temporal's environment configuration (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TLS/API key, or a TOML profile), with our settings as the defaults, and always the
pydantic data converter (temporal-notes §0.5).
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from settings import Settings


async def connect_temporal(settings: Settings, *, lazy: bool = False, runtime: Runtime | None = None) -> Client:
    """`lazy=True` (the API) connects on first use, so the API starts, answers /healthz with 503 and keeps
    accepting webhooks while Temporal is down; the worker connects eagerly and fails fast instead.
    `runtime`: the worker's, which exports the SDK's metrics (`metrics.worker`); default the SDK's own."""
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", settings.temporal_address)
    config.setdefault("namespace", settings.temporal_namespace)
    return await Client.connect(**config, data_converter=pydantic_data_converter, lazy=lazy, runtime=runtime)
