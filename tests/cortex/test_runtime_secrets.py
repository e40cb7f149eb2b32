"""The runtime tells the gateway's redactor the gateway keys and admin token in force."""

from __future__ import annotations

from actors.redaction import Redactor, mask_key
from cortex.config.runtime import Runtime
from cortex.config.settings import Settings

GATEWAY_KEY = "gw_prefixless_0123456789"
ADMIN_TOKEN = "admin_prefixless_0123456789"
NEW_GATEWAY_KEY = "gw_prefixless_rotated_9876"


def test_the_gateway_keys_and_admin_token_are_redacted_from_the_start() -> None:
    redactor = Redactor()
    Runtime(Settings(api_keys=(GATEWAY_KEY,), admin_token=ADMIN_TOKEN), redactor)

    text = redactor.redact(f"echo {GATEWAY_KEY} and {ADMIN_TOKEN}")

    assert text == f"echo {mask_key(GATEWAY_KEY)} and {mask_key(ADMIN_TOKEN)}"


def test_reloaded_settings_add_their_secrets_and_the_old_ones_stay_redacted() -> None:
    runtime = Runtime(Settings(api_keys=(GATEWAY_KEY,), admin_token=ADMIN_TOKEN))

    runtime.use_settings(Settings(api_keys=(NEW_GATEWAY_KEY,)))

    text = runtime.redactor.redact(f"{GATEWAY_KEY} {ADMIN_TOKEN} {NEW_GATEWAY_KEY}")
    assert all(secret not in text for secret in (GATEWAY_KEY, ADMIN_TOKEN, NEW_GATEWAY_KEY))


def test_the_redis_url_and_its_password_are_redacted() -> None:
    password = "redis_pass_0123456789"
    url = f"redis://:{password}@10.0.0.5:6379/0"
    runtime = Runtime(Settings(redis_url=url))

    text = runtime.redactor.redact(f"connect {url} failed; AUTH {password} refused")

    assert password not in text
    assert url not in text
