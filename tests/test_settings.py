"""One settings module: defaults for the embedded stack, secrets never defaulted in code."""

import pytest

from settings import QboEnv, load_settings


def test_emulator_defaults_generate_secrets_outside_the_repo(tmp_path, monkeypatch):
    import settings as settings_module

    monkeypatch.setattr(settings_module, "DATA_DIR", tmp_path)
    first = load_settings({})
    again = load_settings({})
    assert first.qbo_env is QboEnv.EMULATOR
    assert first.temporal_address == "127.0.0.1:7233"
    assert first.sync_interval_seconds == 300
    assert first.qbo_client_secret.get_secret_value() == again.qbo_client_secret.get_secret_value()
    assert (tmp_path / "dev-secrets.json").stat().st_mode & 0o077 == 0
    assert "**********" in repr(first.qbo_client_secret)


def test_real_qbo_requires_secrets_from_the_environment():
    with pytest.raises(RuntimeError, match="QBO_CLIENT_SECRET"):
        load_settings({"QBO_ENV": "sandbox"})


def test_hosts_follow_qbo_env():
    env = {"QBO_CLIENT_SECRET": "s", "QBO_WEBHOOK_VERIFIER_TOKEN": "v", "TOKEN_ENCRYPTION_KEY": "k"}
    emu = load_settings({**env, "QBO_EMULATOR_URL": "http://127.0.0.1:9999"})
    sandbox = load_settings({**env, "QBO_ENV": "sandbox"})
    prod = load_settings({**env, "QBO_ENV": "production"})
    assert emu.qbo_hosts.api_base == "http://127.0.0.1:9999/v3/company"
    assert sandbox.qbo_hosts.api_base == "https://sandbox-quickbooks.api.intuit.com/v3/company"
    assert prod.qbo_hosts.api_base == "https://quickbooks.api.intuit.com/v3/company"
    assert sandbox.qbo_hosts.token_url == prod.qbo_hosts.token_url


def test_every_documented_variable_is_a_setting():
    documented = ["DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "QBO_ENV", "QBO_EMULATOR_URL",
                  "QBO_CLIENT_ID", "QBO_CLIENT_SECRET", "QBO_REDIRECT_URI", "QBO_WEBHOOK_VERIFIER_TOKEN",
                  "TOKEN_ENCRYPTION_KEY", "API_PORT", "API_KEY", "SYNC_INTERVAL_SECONDS", "LOG_LEVEL"]
    from settings import Settings

    assert {name.lower() for name in documented} <= set(Settings.model_fields)


REAL_QBO = {"QBO_CLIENT_SECRET": "s", "QBO_WEBHOOK_VERIFIER_TOKEN": "v", "TOKEN_ENCRYPTION_KEY": "k"}


@pytest.mark.parametrize("qbo_env", ["sandbox", "production"])
def test_api_needs_a_key_against_real_qbo(qbo_env):
    for blank in ({}, {"API_KEY": ""}, {"API_KEY": " , "}):
        with pytest.raises(RuntimeError, match="needs API_KEY"):
            load_settings({**REAL_QBO, "QBO_ENV": qbo_env, **blank}).check_api()
    load_settings({**REAL_QBO, "QBO_ENV": qbo_env, "API_KEY": "k1"}).check_api()
    load_settings(REAL_QBO).check_api()  # the emulator stack may run without one


def test_several_api_keys_for_rotation():
    keys = load_settings({**REAL_QBO, "API_KEY": " new-key , old-key,"}).api_keys
    assert [k.get_secret_value() for k in keys] == ["new-key", "old-key"]
    assert "old-key" not in repr(keys)
    assert load_settings(REAL_QBO).api_keys == ()


def test_python_m_api_refuses_to_start_without_a_key():
    """The real entry point exits with the reason before it opens a port or a connection."""
    import subprocess
    import sys

    from settings import ROOT

    env = {**REAL_QBO, "QBO_ENV": "production", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
           "DATABASE_URL": "postgresql://u:p@127.0.0.1:9/none"}  # nothing listens: a missing check shows
    result = subprocess.run([sys.executable, "-m", "api"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "QBO_ENV=production needs API_KEY" in result.stderr


def test_worker_capacity_settings_reach_the_worker():
    """WORKER_* (README "Fleet size per worker") become the Worker's own arguments, by their real names;
    unset ones leave the SDK's defaults, except the sticky cache, which must hold the whole fleet."""
    import inspect

    from temporalio.worker import Worker

    import worker

    tuned = worker.capacity(load_settings({
        **REAL_QBO, "WORKER_MAX_CACHED_WORKFLOWS": "3000", "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "40",
        "WORKER_MAX_CONCURRENT_ACTIVITIES": "60", "WORKER_WORKFLOW_TASK_POLLERS": "8",
        "WORKER_ACTIVITY_TASK_POLLERS": "3"}))
    assert set(tuned) <= set(inspect.signature(Worker.__init__).parameters)
    assert (tuned["max_cached_workflows"], tuned["max_concurrent_workflow_tasks"],
            tuned["max_concurrent_activities"]) == (3000, 40, 60)
    assert (tuned["workflow_task_poller_behavior"].maximum, tuned["activity_task_poller_behavior"].maximum) == (8, 3)
    assert worker.capacity(load_settings(REAL_QBO)) == {"max_cached_workflows": 2500}
