"""A deliberately changed workflow, to prove the replay test catches a command change made without
`workflow.patched` (kept apart from the test module: workflow files must stay free of test imports).

Each variant is spelled out in full, `@workflow.init` and `@workflow.run` included: the SDK reads those from
the class itself, and a factory building these classes failed the replay tests when it was tried, so the
repetition is deliberate."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.posting import PostingActivities
    from activities.sync import SyncActivities
    from workflows import lifecycle
    from workflows.models import ApplyInput, DepositSummary, PartnerStatus, PartnerWorkflowInput, cycle_counts
    from workflows.partner import PartnerIntegrationWorkflow
    from workflows.policies import DB_ONLY, LONG_QBO


@workflow.defn(name="PartnerIntegrationWorkflow")
class WithoutAccountReload(PartnerIntegrationWorkflow):
    @workflow.init
    def __init__(self, input: PartnerWorkflowInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: PartnerWorkflowInput) -> PartnerStatus:
        return await super().run(input)

    async def _reload_accounts_if_unknown(self, preferences) -> None:  # the change, unpatched
        return None


@workflow.defn(name="PartnerIntegrationWorkflow")
class WithoutDefaultsLock(PartnerIntegrationWorkflow):
    @workflow.init
    def __init__(self, input: PartnerWorkflowInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: PartnerWorkflowInput) -> PartnerStatus:
        return await super().run(input)

    async def _default_preferences_serialised(self, ref) -> None:  # the change, unpatched
        await self._apply_default_preferences(ref)


@workflow.defn(name="PartnerIntegrationWorkflow")
class WithoutReconciliation(PartnerIntegrationWorkflow):
    @workflow.init
    def __init__(self, input: PartnerWorkflowInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: PartnerWorkflowInput) -> PartnerStatus:
        return await super().run(input)

    async def _reconcile(self, counts) -> None:  # the change, unpatched
        return None


@workflow.defn(name="PartnerIntegrationWorkflow")
class WithoutSettlingPayouts(PartnerIntegrationWorkflow):
    @workflow.init
    def __init__(self, input: PartnerWorkflowInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: PartnerWorkflowInput) -> PartnerStatus:
        return await super().run(input)

    async def _call(self, activity, arg, what: str, policy, *, step: bool = True):
        # the change, unpatched: as before it, create_deposits is never scheduled while deposits are off
        if activity is PostingActivities.create_deposits and not (
                self.partner.preferences and self.partner.preferences.create_deposits):
            return DepositSummary()
        return await super()._call(activity, arg, what, policy, step=step)


@workflow.defn(name="PartnerIntegrationWorkflow")
class WithoutApplyInFetch(PartnerIntegrationWorkflow):
    @workflow.init
    def __init__(self, input: PartnerWorkflowInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: PartnerWorkflowInput) -> PartnerStatus:
        return await super().run(input)

    async def _apply_staged(self, fetch, counts) -> None:  # the change, unpatched: apply_staged after every staging fetch
        if fetch.staged:
            applied = await self._call(
                SyncActivities.apply_staged, ApplyInput(partner_id=self.partner.partner_id, sync_run_id=fetch.sync_run_id),
                f"apply {fetch.staged} staged changes", DB_ONLY)
            counts |= cycle_counts(fetch.staged, applied)


@workflow.defn(name="PartnerIntegrationWorkflow")
class WithoutLocalFetch(PartnerIntegrationWorkflow):
    @workflow.init
    def __init__(self, input: PartnerWorkflowInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: PartnerWorkflowInput) -> PartnerStatus:
        return await super().run(input)

    async def _call_local(self, activity, arg, what: str, config):  # the change, unpatched: a regular activity
        return await self._call(activity, arg, what, LONG_QBO)


@workflow.defn(name="PartnerIntegrationWorkflow")
class WithoutLastSyncAtGrain(PartnerIntegrationWorkflow):
    @workflow.init
    def __init__(self, input: PartnerWorkflowInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: PartnerWorkflowInput) -> PartnerStatus:
        return await super().run(input)

    def _last_sync_at_due(self) -> bool:  # the change, unpatched: LastSyncAt after every cycle
        return True


@workflow.defn(name="PartnerIntegrationWorkflow")
class WithFailedDisconnectWakingTheSleep(PartnerIntegrationWorkflow):
    @workflow.init
    def __init__(self, input: PartnerWorkflowInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: PartnerWorkflowInput) -> PartnerStatus:
        return await super().run(input)

    async def _sleep_until_woken(self) -> None:  # the change, unpatched: the sleep as before it
        try:
            await workflow.wait_condition(lambda: lifecycle.wakes(self.requests, self._should_continue_as_new()),
                                          timeout=self.interval, timeout_summary="next scheduled sync")
        except TimeoutError:
            pass
        self._take_reconnect_while_active()


@workflow.defn(name="PartnerIntegrationWorkflow")
class WithFailedDisconnectResuming(PartnerIntegrationWorkflow):
    @workflow.init
    def __init__(self, input: PartnerWorkflowInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: PartnerWorkflowInput) -> PartnerStatus:
        return await super().run(input)

    async def _await_reconnect(self) -> None:  # the change, unpatched: the wait in needs_reconnect as before it
        await workflow.wait_condition(lambda: lifecycle.reconnect_answered(self.requests))


@workflow.defn(name="PartnerIntegrationWorkflow")
class WithoutPostAfterLargeApply(PartnerIntegrationWorkflow):
    @workflow.init
    def __init__(self, input: PartnerWorkflowInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: PartnerWorkflowInput) -> PartnerStatus:
        return await super().run(input)

    async def _post(self, fetch, counts, *, recheck: bool = False) -> None:  # the change, unpatched: fetch's count only
        await super()._post(fetch, counts, recheck=False)
