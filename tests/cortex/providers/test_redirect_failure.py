"""A provider's redirect, never followed, as the upstream error that names only its origin."""

from __future__ import annotations

import pytest

from actors.outcomes import ErrorKind, redirect_failure

BASE = "https://api.example.com/v1/chat/completions"


@pytest.mark.parametrize(
    ("location", "named"),
    [
        ("http://127.0.0.1:8080/steal?key=abc", "a redirect to http://127.0.0.1:8080;"),
        ("/v2/chat/completions", "a redirect to https://api.example.com;"),
        ("https://user:pw@evil.example:444/x", "a redirect to https://evil.example:444;"),
        ("http://[::1]:9000/", "a redirect to http://[::1]:9000;"),
        ("http://evil.example:notaport/", "a redirect to an unreadable location;"),
        (None, "a redirect to no location;"),
    ],
)
def test_a_redirect_is_an_upstream_error_naming_only_the_target_origin(
    location: str | None, named: str
) -> None:
    failure = redirect_failure(307, location, BASE)

    assert failure.kind is ErrorKind.UPSTREAM_ERROR
    assert failure.status == 307
    assert named in failure.message
    assert "steal" not in failure.message
    assert "pw" not in failure.message
