"""The real `worker.py` as its own process: both endpoints answer on the ports settings give them, and their
numbers move when the worker onboards a partner (the Temporal SDK's exporter included)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from settings import TASK_QUEUE
from store.embedded import free_ports
from tests.api.conftest import oauth_round_trip, running_app
from tests.helpers import eventually, stop_process
from tests.metrics.names import dashboard_metric_names
from tests.metrics.scrape import Samples, parse, value

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_process(api_settings, database_url, temporal_env, emulator_url, run_dir) -> Iterator[dict]:
    """worker.py polling the default task queue, with its metrics on free ports."""
    # Picked together: two picks one after the other may get the same just-released port (store/embedded.py).
    ports = dict(zip(("service", "temporal"), free_ports(2), strict=True))
    env = {**os.environ, "DATABASE_URL": database_url, "QBO_EMULATOR_URL": emulator_url,
           "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
           "WORKER_METRICS_PORT": str(ports["service"]), "WORKER_TEMPORAL_METRICS_PORT": str(ports["temporal"]),
           "SYNC_INTERVAL_SECONDS": "3600"}
    log = open(run_dir / "metrics-worker.log", "wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield {name: f"http://127.0.0.1:{port}/metrics" for name, port in ports.items()} | {"proc": proc}
    finally:
        stop_process(proc, timeout=20)
        log.close()


async def scrape_url(url: str, proc: subprocess.Popen) -> Samples | None:
    if proc.poll() is not None:  # fails at once: an assert in a probe would only mean "not yet"
        pytest.fail(f"worker exited with {proc.returncode}; see metrics-worker.log")
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            resp = await http.get(url)
    except httpx.TransportError:
        return None  # not listening yet
    return parse(resp.text) if resp.status_code == 200 else None


def total(samples: Samples, name: str) -> float:
    """A metric summed over its labels (the SDK labels by activity type, task queue, namespace)."""
    return sum(v for (n, _), v in samples.items() if n == name)


async def test_worker_endpoints_count_what_the_worker_does(worker_process, api_settings, new_partner_factory,
                                                          emu) -> None:
    proc = worker_process["proc"]
    sdk = await eventually(lambda: scrape_url(worker_process["temporal"], proc), timeout=60,
                           what="the Temporal SDK exporter to answer")
    activities = "temporal_activity_execution_latency_seconds_count"
    assert total(sdk, activities) == 0 and any(name.startswith("temporal_request") for name, _ in sdk)
    service_before = await eventually(lambda: scrape_url(worker_process["service"], proc), timeout=60,
                                      what="the service endpoint to answer")
    onboarding = {"trigger": "onboarding", "outcome": "succeeded"}
    assert value(service_before, "qbo_sync_cycles_total", **onboarding) == 0

    async with running_app(api_settings, TASK_QUEUE) as (_, api):
        pid = await new_partner_factory(api)
        realm = await emu.create_company(customers=2, invoices=2)
        assert (await oauth_round_trip(api, pid, realm)).status_code == 200

        async def onboarded() -> Samples | None:
            now = await scrape_url(worker_process["service"], proc)
            assert now and value(now, "qbo_sync_cycles_total", **onboarding) >= 1
            return now

        service = await eventually(onboarded, timeout=90, what="the worker to finish the onboarding cycle")
    assert value(service, "qbo_requests_total", operation="query", method="POST", status="200") > 0
    sdk_after = await scrape_url(worker_process["temporal"], proc)
    assert sdk_after is not None
    assert total(sdk_after, activities) > 0  # the SDK's exporter saw the onboarding's activities
    assert total(sdk_after, "temporal_worker_task_slots_available") > 0
    dashboard = {n for n in dashboard_metric_names() if n.startswith("temporal_")}
    assert dashboard and dashboard <= {n for n, _ in sdk_after}, dashboard - {n for n, _ in sdk_after}
    label_values = {v for samples in (service, sdk_after) for _, labels in samples for _, v in labels}
    assert pid not in label_values and realm not in label_values  # no partner on the worker's series
