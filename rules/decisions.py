"""The shape every QBO → platform decision shares (PRODUCT.md §3).

Contract with the caller (the apply activity): write `state` when it is not None (it is the full new row,
so a batch of decisions becomes one set-based upsert); log to `sync_log` when `action` is `conflict`
(kind `conflict`) and, if it wants, `skip_platform_owned` / `ignore_stale` (kind `skip`), using `reason`
and `log_details()`. Nothing here does I/O.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol, TypeVar

from rules.facts import Frozen
from rules.values import QboId


class SyncAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    ARCHIVE = "archive"
    UNARCHIVE = "unarchive"
    MARK_VOID = "mark_void"
    IGNORE_STALE = "ignore_stale"
    NO_CHANGE = "no_change"
    CONFLICT = "conflict"  # `state` may still be written: the parts QBO owns (balance, status) follow QBO
    SKIP_PLATFORM_OWNED = "skip_platform_owned"


class DecisionBase(Frozen):
    """What every decision carries besides the entity-specific `state`.

    `sync_token` is the token of the change decided on (None for a tombstone), so a conflict is logged
    once per QBO version (`sync_log_dedupe` keys on `details->>'sync_token'`). `not_applied` lists the
    platform fields QBO changed but the platform kept.
    """

    action: SyncAction
    entity: str
    qbo_id: QboId
    sync_token: int | None = None
    reason: str | None = None
    not_applied: tuple[str, ...] = ()

    def log_details(self) -> dict[str, str | list[str]]:
        """JSON for `sync_log.details`: strings only, so amounts stay exact decimals."""
        details: dict[str, str | list[str]] = {"action": self.action.value}
        if self.sync_token is not None:
            details["sync_token"] = str(self.sync_token)
        if self.not_applied:
            details["not_applied"] = list(self.not_applied)
        return details


D = TypeVar("D", bound=DecisionBase)


class _PlatformRow(Protocol):
    """What the shared checks read of a platform row (customer or invoice)."""

    @property
    def source(self) -> str: ...
    @property
    def qbo_id(self) -> QboId | None: ...
    @property
    def qbo_sync_token(self) -> int | None: ...
    @property
    def qbo_deleted(self) -> bool: ...


class _Change(Protocol):
    """A QBO change: a live version or a tombstone."""

    @property
    def qbo_id(self) -> QboId: ...


class _Version(_Change, Protocol):
    """A live version."""

    @property
    def sync_token(self) -> int: ...


def not_ours_to_change(platform: _PlatformRow | None, change: _Change, decision: type[D], noun: str) -> D | None:
    """The first check of every entity's decision: a platform-created row is never changed by QBO (§3).
    Also refuses a pairing of rows with different QBO ids (a caller's bug, never data)."""
    if platform is not None and platform.source == "platform":
        token = getattr(change, "sync_token", None)  # a tombstone has none
        return decision.model_validate({"action": SyncAction.SKIP_PLATFORM_OWNED, "qbo_id": change.qbo_id,
                                        "sync_token": token,
                                        "reason": f"platform-created {noun}: never changed by QBO (§3)"})
    if platform is not None and platform.qbo_id != change.qbo_id:
        raise ValueError(f"identity mismatch: platform {platform.qbo_id!r} vs QBO {change.qbo_id!r}")
    return None


def not_newer(platform: _PlatformRow, change: _Version, decision: type[D]) -> D | None:
    """A live version that changes nothing, alike for every entity: the row was deleted in QBO (a
    tombstone is final), or the version is older than (stale) or the same as the one stored."""
    def stale(reason: str) -> D:
        return decision.model_validate({"action": SyncAction.IGNORE_STALE, "qbo_id": change.qbo_id,
                                        "sync_token": change.sync_token, "reason": reason})

    if platform.qbo_deleted:
        return stale("deleted in QBO: the tombstone is final, later versions are ignored")
    if platform.qbo_sync_token is not None:
        if change.sync_token < platform.qbo_sync_token:
            return stale(f"SyncToken {change.sync_token} < stored {platform.qbo_sync_token}")
        if change.sync_token == platform.qbo_sync_token:
            return decision.model_validate({"action": SyncAction.NO_CHANGE, "qbo_id": change.qbo_id,
                                            "sync_token": change.sync_token})
    return None


def tombstone_changes_nothing(platform: Any, change: Any, decision: type[D]) -> D | None:
    """The two deletes that write nothing, alike for every entity: an object the platform never saw
    (created and deleted between two polls, qbo-reference §4), or one already recorded as deleted."""
    if platform is None:
        return decision.model_validate({"action": SyncAction.NO_CHANGE, "qbo_id": change.qbo_id,
                                        "reason": "deleted in QBO before it was ever synced: nothing to archive"})
    if platform.qbo_deleted:
        return decision.model_validate({"action": SyncAction.NO_CHANGE, "qbo_id": change.qbo_id,
                                        "reason": "already deleted"})
    return None
