"""The shared store's URL: which ones are accepted, what is redacted and what may be shown."""

from __future__ import annotations

import pytest

from cortex.config.store_url import shown_store_url, store_url_problem, store_url_secrets

PASSWORD = "s3cret-redis-pass"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "redis://127.0.0.1:6379/0",
        "redis://localhost",
        "rediss://redis.internal:6380/2",
        f"redis://:{PASSWORD}@10.0.0.5:6379/0",
        f"rediss://cortex:{PASSWORD}@redis.example.com:6380",
        "redis://[::1]:6379/0",
    ],
)
def test_redis_and_rediss_urls_are_accepted(url: str) -> None:
    assert store_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"http://:{PASSWORD}@127.0.0.1:6379", "must start with redis:// or rediss://"),
        ("127.0.0.1:6379", "must start with redis:// or rediss://"),
        (f"unix://:{PASSWORD}@/run/redis.sock", "got unix://"),
        ("redis://", "names no host"),
        (f"redis://:{PASSWORD}@host:notaport/0", "invalid port"),
        ("redis://127.0.0.1:6379/cache", "must be a database number"),
    ],
)
def test_other_urls_are_refused_with_a_reason_that_never_repeats_the_password(
    url: str, expected: str
) -> None:
    problem = store_url_problem(url)

    assert problem is not None
    assert expected in problem
    assert PASSWORD not in problem


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("", ()),
        ("redis://127.0.0.1:6379/0", ("redis://127.0.0.1:6379/0",)),
        (f"redis://:{PASSWORD}@h:1/0", (f"redis://:{PASSWORD}@h:1/0", PASSWORD)),
        (
            "redis://:p%40ss-word-long@h",
            ("redis://:p%40ss-word-long@h", "p%40ss-word-long", "p@ss-word-long"),
        ),
    ],
)
def test_the_url_and_its_password_as_written_and_decoded_are_secrets(
    url: str, secrets: tuple[str, ...]
) -> None:
    assert store_url_secrets(url) == secrets


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        (
            f"rediss://cortex:{PASSWORD}@redis.example.com:6380/1",
            "rediss://***@redis.example.com:6380/1",
        ),
        (f"redis://:{PASSWORD}@[::1]:6379", "redis://***@[::1]:6379"),
    ],
)
def test_a_shown_url_keeps_the_address_and_hides_the_credentials(url: str, shown: str) -> None:
    assert shown_store_url(url) == shown
