"""Start, signal, update and query a partner's workflow. Used by the CLI, the API and the tests."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from rules.preferences import Preferences
from settings import TASK_QUEUE
from workflows import search_attributes
from workflows.models import DisconnectRequest, IntegrationState, PartnerWorkflowInput

# Re-exported: the API reads the workflow's status through the starter (README, Architecture: `api/` may
# import `starter`, not `workflows`).
from workflows.models import PartnerStatus as PartnerStatus
from workflows.partner import PartnerIntegrationWorkflow


def workflow_id(partner_id: str) -> str:
    return f"qbo-partner-{partner_id}"


def handle_for(client: Client, partner_id: str) -> WorkflowHandle[PartnerIntegrationWorkflow, PartnerStatus]:
    return client.get_workflow_handle_for(PartnerIntegrationWorkflow.run, workflow_id(partner_id))


def is_running(description: WorkflowExecutionDescription) -> bool:
    return description.status is WorkflowExecutionStatus.RUNNING


async def workflow_running(client: Client, partner_id: str, rpc_timeout: timedelta | None = None) -> bool:
    """Whether the partner's workflow runs now (one that never started is not running)."""
    try:
        description = await handle_for(client, partner_id).describe(rpc_timeout=rpc_timeout)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return is_running(description)


async def start_or_reconnect(client: Client, partner_id: str, realm_id: str, *, sync_interval_seconds: int,
                             task_queue: str = TASK_QUEUE) -> str:
    """After an OAuth callback: signal `reconnected` to a running workflow, or start a new one.

    A disconnected partner's workflow has completed (or is completing: it is awaited); connecting again
    starts a new run under the same id (reuse allowed on purpose), while a running one is never duplicated
    (conflict policy USE_EXISTING). A running workflow is only ever signalled for its own realm."""
    handle = handle_for(client, partner_id)
    try:
        description = await handle.describe()
        if is_running(description):
            # Read from the search attributes, not a query: answered by the server even with no worker up.
            attributes = description.typed_search_attributes
            if attributes.get(search_attributes.INTEGRATION_STATE) != IntegrationState.DISCONNECTED.value:
                running_realm = attributes.get(search_attributes.REALM_ID)
                if running_realm != realm_id:  # the callback refuses this first (PRODUCT.md §5)
                    raise ValueError(f"partner {partner_id}'s workflow serves realm {running_realm}, not {realm_id}")
                await handle.signal(PartnerIntegrationWorkflow.reconnected)
                return "signalled"
            # Disconnected and draining its handlers: let it finish, then start afresh (a signal now would
            # be lost with the run).
            await asyncio.wait_for(handle.result(), timeout=30)
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
    await client.start_workflow(
        PartnerIntegrationWorkflow.run,
        PartnerWorkflowInput(partner_id=partner_id, realm_id=realm_id, sync_interval_seconds=sync_interval_seconds),
        id=workflow_id(partner_id), task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(search_attributes.PARTNER_ID, partner_id),
            SearchAttributePair(search_attributes.REALM_ID, realm_id),
            SearchAttributePair(search_attributes.INTEGRATION_STATE, IntegrationState.ONBOARDING.value),
        ]),
        static_summary=f"QBO integration for partner {partner_id} (realm {realm_id})",
        static_details="Onboarding, then a sync cycle every interval, on sync_now and after reconnect. "
                       "Query `status` for progress; messages: update_preferences, disconnect, sync_now, reconnected.",
    )
    return "started"


async def status(client: Client, partner_id: str, rpc_timeout: timedelta | None = None) -> PartnerStatus:
    return await handle_for(client, partner_id).query(PartnerIntegrationWorkflow.status, rpc_timeout=rpc_timeout)


async def sync_now(client: Client, partner_id: str) -> None:
    await handle_for(client, partner_id).signal(PartnerIntegrationWorkflow.sync_now)


async def request_reconciliation(client: Client, partner_id: str) -> None:
    await handle_for(client, partner_id).signal(PartnerIntegrationWorkflow.reconcile)


async def update_preferences(client: Client, partner_id: str, preferences: Preferences) -> Preferences:
    return await handle_for(client, partner_id).execute_update(PartnerIntegrationWorkflow.update_preferences,
                                                                preferences)


async def disconnect(client: Client, partner_id: str, reason: str = "requested from the dashboard") -> PartnerStatus:
    return await handle_for(client, partner_id).execute_update(PartnerIntegrationWorkflow.disconnect,
                                                                DisconnectRequest(reason=reason))
