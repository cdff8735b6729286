"""The emulator's process-wide state: store, switches, counters, tokens, webhooks."""

from __future__ import annotations

import json
from pathlib import Path

import settings as project_settings
from qbo_emulator.config import ConfigRegistry, EmulatorConfig
from qbo_emulator.limits import FaultInjector, Throttle
from qbo_emulator.oauth import TokenService
from qbo_emulator.stats import RequestStats
from qbo_emulator.store import Store
from qbo_emulator.webhooks import WebhookConfig, WebhookDispatcher
from qbo_emulator.wire import CLOCK


class Emulator:
    def __init__(self, db_path: Path | None) -> None:
        s = project_settings.get_settings()
        self.client_id = s.qbo_client_id
        self.client_secret = s.qbo_client_secret.get_secret_value()
        self.verifier_token = s.qbo_webhook_verifier_token.get_secret_value()
        self.store = Store(db_path)
        self.config = ConfigRegistry()
        self.stats = RequestStats()
        self.throttle = Throttle()
        self.faults = FaultInjector()
        self.tokens = TokenService(self)
        self.webhooks = WebhookDispatcher(self)
        self._load_persisted()

    def cfg(self, realm: str | None = None) -> EmulatorConfig:
        return self.config.get(realm)

    # Config and webhook settings survive a restart in file mode, like the companies do.
    def _load_persisted(self) -> None:
        raw = self.store.kv_get("config")
        if raw:
            self.config.restore(json.loads(raw))
        CLOCK.offset = self.config.global_config.clock_offset_seconds
        raw = self.store.kv_get("webhooks")
        if raw:
            self.webhooks.config = WebhookConfig.model_validate_json(raw)

    def persist(self) -> None:
        CLOCK.offset = self.config.global_config.clock_offset_seconds
        with self.store.tx():
            self.store.kv_set("config", json.dumps(self.config.snapshot()))
            self.store.kv_set("webhooks", self.webhooks.config.model_dump_json())
