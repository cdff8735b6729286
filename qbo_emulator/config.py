"""Switchable behaviours (PUT /_emulator/config), global with per-realm overrides.

The items of qbo-reference §14 that nobody has verified in a sandbox are switches here, so the
client can be tested against each possible answer. Per-realm overrides let one test change a
behaviour for its own company without disturbing other tests that share the emulator process.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Intuit's webhook retry schedule (qbo-reference §11.1): 10 s, 20 s, 30 s, 5 min, 20 min, 2 h, 4 h, 6 h,
# then every 6 h. The last value repeats.
INTUIT_RETRY_SCHEDULE = [10.0, 20.0, 30.0, 300.0, 1200.0, 7200.0, 14400.0, 21600.0]


class EmulatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cdc_overflow: Literal["truncate", "fault"] = "truncate"  # §4/§14: past 1000 objects
    cdc_strict_30_days: bool = True  # §4/§14: reject changedSince older than 30 days
    cdc_max_objects: int = 1000
    refresh_grace_seconds: float = 86400.0  # §10.3: superseded refresh token stays valid 24 h
    access_token_ttl_seconds: float = 3600.0
    refresh_latency_seconds: float = 0.0  # a slow token endpoint: a refresh of this realm's token answers late
    # An Intuit outage (5xx) or throttle (429) at the token and revoke endpoints: refreshes and revokes of this
    # realm's tokens get this status and change nothing (0: answer normally).
    oauth_fault_status: int = Field(0, ge=0, le=599)
    refresh_token_ttl_seconds: float = 8726400.0  # rolling lifetime, fx:oauth_token_response
    refresh_token_hard_ttl_seconds: float = 5 * 365 * 86400.0  # §10.3, 5-year hard limit
    requestid_replay: Literal["replay", "ignore"] = "replay"  # §7.5; "ignore" = QBO failing to dedupe
    batch_requestid_reuse_6000: bool = False  # §7.5: reused batch requestid → 6000 instead of replay
    throttle_enabled: bool = True
    throttle_per_minute: int = 500  # §9
    throttle_concurrent: int = 10  # §9
    throttle_batch_per_minute: int = 40  # §9
    throttle_clock_frozen: bool = False  # windows stand still: a limit test is not a test of machine speed
    batch_max_items: int = 30  # §7.6
    # Every write item of a batch answers a Fault with this code instead of running (request still 200, §7.6):
    # "3001" throttled, "3200" token, "" a Fault with no code, any other code as given; None: off.
    batch_item_fault_code: str | None = None
    duplicate_docnumber_check: bool = True  # §5.1: company preference "warn on duplicate numbers"
    inactive_name_suffix: bool = True  # §5.2: " (deleted)" appended on deactivation (seen on Account)
    allow_negative_deposit: bool = False  # §6.3: unverified for the API; the UI refuses it
    webhook_retry_schedule_seconds: list[float] = Field(default_factory=lambda: list(INTUIT_RETRY_SCHEDULE))
    webhook_timeout_seconds: float = 3.0  # §11.1: Intuit wants an ack within 3 s
    webhook_max_events_per_delivery: int = 100  # §11.1 CloudEvents batches hold up to 100 events
    clock_offset_seconds: float = 0.0


GLOBAL_ONLY = {"webhook_retry_schedule_seconds", "webhook_timeout_seconds", "webhook_max_events_per_delivery",
               "clock_offset_seconds"}


class ConfigRegistry:
    """The global config plus sparse per-realm overrides."""

    def __init__(self) -> None:
        self.global_config = EmulatorConfig()
        self.overrides: dict[str, dict[str, Any]] = {}

    def get(self, realm: str | None = None) -> EmulatorConfig:
        if realm and realm in self.overrides:
            return self.global_config.model_copy(update=self.overrides[realm])
        return self.global_config

    def update(self, changes: dict[str, Any], realm: str | None = None) -> EmulatorConfig:
        """Validate and apply; unknown keys and bad values raise (pydantic ValidationError / ValueError)."""
        merged = {**self.global_config.model_dump(), **(self.overrides.get(realm, {}) if realm else {}), **changes}
        EmulatorConfig.model_validate(merged)  # validates types and literals
        if realm:
            bad = GLOBAL_ONLY & changes.keys()
            if bad:
                raise ValueError(f"these settings are global only: {sorted(bad)}")
            clean = EmulatorConfig.model_validate(merged).model_dump()
            self.overrides.setdefault(realm, {}).update({k: clean[k] for k in changes})
        else:
            self.global_config = EmulatorConfig.model_validate({**self.global_config.model_dump(), **changes})
        return self.get(realm)

    def reset(self, realm: str | None = None) -> None:
        if realm:
            self.overrides.pop(realm, None)
        else:
            self.global_config = EmulatorConfig()
            self.overrides.clear()

    def snapshot(self) -> dict[str, Any]:
        return {"global": self.global_config.model_dump(), "realm_overrides": self.overrides}

    def restore(self, data: dict[str, Any]) -> None:
        self.global_config = EmulatorConfig.model_validate(data.get("global", {}))
        self.overrides = dict(data.get("realm_overrides", {}))
