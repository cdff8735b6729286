"""Session fixtures: real PostgreSQL, real Temporal (local dev server and time-skipping server from the
installed binaries), and the QBO emulator as a separate process over HTTP. Ports are picked per run so
two suites can run side by side.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

# No wall clock in property tests: hypothesis' per-example deadline (200 ms by default) and its too_slow
# health check fail a test whose example was merely descheduled on a loaded machine. pytest-timeout still
# stops a test that really hangs. Explicit settings(...) in a test module start from this profile.
hypothesis_settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("suite")

# Secrets for this run only, set before anything reads settings (the emulator subprocess inherits them).
_RUN_DIR = Path(tempfile.mkdtemp(prefix="qbo-tests-"))
# Each process of a run (the controller and every xdist worker) removes its own folder when it exits: a
# run's PostgreSQL data and logs are ~80 MB, and hundreds of runs filled /tmp.
atexit.register(shutil.rmtree, _RUN_DIR, True)
os.environ.update(
    QBO_DATA_DIR=str(_RUN_DIR / "devdata"),
    QBO_CLIENT_ID="test-client",
    QBO_CLIENT_SECRET=secrets.token_urlsafe(24),
    QBO_WEBHOOK_VERIFIER_TOKEN=secrets.token_urlsafe(24),
    TOKEN_ENCRYPTION_KEY="t1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
)

from devstack.binaries import temporal_cli_path, temporal_test_server_path  # noqa: E402
from devstack.temporal import SEARCH_ATTRIBUTES  # noqa: E402
from store.embedded import EmbeddedPostgres, free_port  # noqa: E402
from store.migrate import migrate  # noqa: E402
from tests.helpers import stop_process, wait_until  # noqa: E402


@pytest.fixture(scope="session")
def run_dir() -> Path:
    return _RUN_DIR


@pytest.fixture
def stack_dir(run_dir: Path) -> Iterator[Path]:
    """A fresh folder for a stack's data (PostgreSQL's among it), outside /tmp/pytest-of-<user>: pytest
    resets that folder to 0700 whenever any session starts on the machine (another suite beside this one),
    and an initdb running as the `embedded_postgres` user at that moment failed (seen twice under load).
    Removed after the test (pytest's own tmp_path retention doesn't reach it)."""
    path = Path(tempfile.mkdtemp(prefix="stack-", dir=run_dir))
    yield path
    shutil.rmtree(path, ignore_errors=True)


# --- Scheduling (README "Tests") ----------------------------------------------------------------------

# The files that take longest, longest first (`--durations` per file, issue 15 §3): handed out first under
# `make test`'s pytest-xdist (`--dist loadfile --no-loadscope-reorder`, files in this order), so the soak and
# the stacks of real processes overlap with the hundreds of short tests, and the files handed out last, when
# one worker may be left alone with its last file, are all short (~5 s or less). Serial runs keep the same
# order; no test depends on another's. Keep it roughly sorted when a file's cost changes a lot.
SLOW_FIRST = (
    "tests/chaos/test_chaos_soak.py",
    "tests/campaigns/test_api_hostile.py",
    "tests/test_devstack.py",
    "tests/workflows/test_time_skipping.py",
    "tests/dashboard/test_integrations_page.py",
    "tests/test_bench_smoke.py",
    "tests/campaigns/test_qbo_parsers.py",
    "tests/api/test_one_company.py",
    "tests/rules/test_properties.py",
    "tests/e2e/test_real_processes.py",
    "tests/posting/test_refunds.py",
    "tests/campaigns/test_oauth_hostile.py",
    "tests/api/test_connect.py",
    "tests/posting/test_changed_in_qbo.py",
    "tests/emulator/test_limits.py",
    "tests/campaigns/test_webhook_hostile.py",
    "tests/api/test_webhook_coalescing.py",
    "tests/rules/test_deposit_refund_properties.py",
    "tests/emulator/test_persistence.py",
    "tests/workflows/test_partner_workflow.py",
    "tests/metrics/test_api_metrics.py",
    "tests/rules/test_facts.py",
    "tests/api/test_platform.py",
    "tests/api/test_currency.py",
    "tests/e2e/test_cli.py",
    "tests/sync/test_rules_rows.py",
    "tests/qbo/test_refresh_race.py",
    "tests/workflows/test_replay.py",
    "tests/posting/test_payments.py",
    "tests/posting/test_attention.py",
    "tests/posting/test_crash_and_deposits.py",
    "tests/e2e/test_rotate_keys.py",
    "tests/qbo/test_emulator_reads.py",
    "tests/api/test_refunds_currency.py",
    "tests/api/test_refunds_workflow.py",
    "tests/emulator/test_refunds.py",
    "tests/emulator/test_oauth.py",
    "tests/qbo/test_emulator_writes.py",
    "tests/metrics/test_worker_metrics.py",
    "tests/emulator/test_webhooks.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: the rest keep order


# The bad-input campaigns' counts (tests/campaigns/tally.py) live in the process that ran the campaign: under
# pytest-xdist each worker hands its counts to the controller, which prints the one table.
def pytest_sessionfinish(session) -> None:
    if hasattr(session.config, "workeroutput"):
        from tests.campaigns.tally import table

        session.config.workeroutput["campaign_counts"] = table()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    from tests.campaigns.tally import merge

    merge(getattr(node, "workeroutput", {}).get("campaign_counts", {}))


def pytest_terminal_summary(terminalreporter, config) -> None:
    from tests.campaigns.tally import table

    counts = table()
    if not counts or hasattr(config, "workerinput"):
        return
    terminalreporter.section("bad-input campaigns")
    for name, row in counts.items():
        rest = ", ".join(f"{k} {v}" for k, v in row.items() if k != "tried")
        terminalreporter.write_line(f"{name}: {row['tried']} hostile inputs tried ({rest})")
    if path := os.environ.get("CAMPAIGN_COUNTS"):
        with open(path, "w") as fh:
            json.dump(counts, fh, indent=2)


# --- PostgreSQL ---------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres_server(run_dir: Path) -> Iterator[EmbeddedPostgres | None]:
    """An embedded server for the session, unless DATABASE_URL names one."""
    if os.environ.get("DATABASE_URL"):
        yield None
        return
    os.environ.setdefault("PG_FAST", "1")
    server = EmbeddedPostgres(run_dir / "pgdata", free_port(), database="postgres")
    server.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def database_url(postgres_server: EmbeddedPostgres | None) -> str:
    """A throwaway database with every migration applied."""
    import asyncpg

    admin_url = os.environ.get("DATABASE_URL") or postgres_server.url  # type: ignore[union-attr]
    name = f"qbo_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    await migrate(url)
    return url


@pytest.fixture(scope="session")
async def db_pool(database_url: str) -> AsyncIterator:
    from store.db import create_pool

    pool = await create_pool(database_url, max_size=20)
    yield pool
    await pool.close()


# --- Temporal -----------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator:
    """The real dev server. Continue-as-new is suggested early so it can be tested in seconds."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli_path()),
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=[
            "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=200",
            "--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=true",
        ],
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def ts_env() -> AsyncIterator:
    """A time-skipping server per test: its clock is global, so tests must not share one."""
    from temporalio.api.enums.v1 import IndexedValueType  # noqa: F401
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server_path()), data_converter=pydantic_data_converter
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: int(key.indexed_value_type) for key in SEARCH_ATTRIBUTES},
        )
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


# --- QBO emulator -------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def emulator_url(run_dir: Path) -> Iterator[str]:
    """The emulator as its own process on a free port, in-memory state, over real HTTP."""
    port = free_port()
    log = open(run_dir / "emulator.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbo_emulator", "--port", str(port), "--memory"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited with {proc.returncode}; see {run_dir / 'emulator.log'}")
        try:
            return httpx.get(f"{url}/_emulator/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout=30, what="emulator health")
    os.environ["QBO_EMULATOR_URL"] = url
    yield url
    stop_process(proc)
    log.close()


@pytest.fixture
def settings(emulator_url: str, database_url: str):
    """Settings for this run: the emulator on its test port, the throwaway database."""
    from settings import load_settings

    return load_settings({**os.environ, "QBO_EMULATOR_URL": emulator_url, "DATABASE_URL": database_url})
