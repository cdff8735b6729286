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
