"""The redactor: configured secrets of any shape are masked by exact value in any text."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from structlog.testing import capture_logs

from actors.keys import KeyLedger
from actors.outcomes import ErrorKind, UpstreamFailure
from actors.redaction import MIN_REDACTED_LENGTH, Redactor, mask_key, scrub

PREFIXLESS = "tok_live_4f9c2a7e1b3d5f60"
COHERE_SHAPED = "Xq7Lm2Np9Rs4Tv6Wy8Za1Bc3De5Fg7Hj9Kl0Mn2P"
AZURE_SHAPED = "0123456789abcdef0123456789abcdef"
ODD = 'pa"ss\\wörd-with/odd+chars'


@pytest.mark.parametrize(
    ("secret", "text"),
    [
        (PREFIXLESS, f"Incorrect API key provided: {PREFIXLESS}."),
        (COHERE_SHAPED, f"invalid api token {COHERE_SHAPED}"),
        (AZURE_SHAPED, f"Access denied due to invalid subscription key {AZURE_SHAPED}"),
        (AZURE_SHAPED, f"key={AZURE_SHAPED}&x=1"),
        (ODD, f"raw {ODD} end"),
        (ODD, json.dumps({"message": f"bad key {ODD}"})),
        (ODD, json.dumps({"message": f"bad key {ODD}"}, ensure_ascii=False)),
        (ODD, f"https://host/v1?key={quote(ODD, safe='')}"),
    ],
)
def test_a_secret_of_any_shape_is_replaced_by_its_mask_in_every_encoding(
    secret: str, text: str
) -> None:
    redactor = Redactor()
    redactor.use("worker:w", [secret])

    redacted = redactor.redact(text)

    assert secret[6:-4] not in redacted
    assert mask_key(secret) in redacted


def test_a_text_without_a_secret_comes_back_unchanged() -> None:
    redactor = Redactor()
    redactor.use("worker:w", [PREFIXLESS])
    text = "upstream answered HTTP 500: internal error"

    assert redactor.redact(text) is text


def test_the_longer_of_two_overlapping_secrets_is_replaced_whole() -> None:
    redactor = Redactor()
    redactor.use("worker:a", ["abcdefgh12"])
    redactor.use("worker:b", ["xxabcdefgh12yyzz"])

    assert redactor.redact("k=xxabcdefgh12yyzz") == f"k={mask_key('xxabcdefgh12yyzz')}"


def test_secrets_too_short_to_redact_are_left_and_a_warning_says_so() -> None:
    redactor = Redactor()
    short = "x" * (MIN_REDACTED_LENGTH - 1)

    with capture_logs() as logs:
        redactor.use("gateway", [short, PREFIXLESS])

    assert redactor.redact(f"{short} {PREFIXLESS}") == f"{short} {mask_key(PREFIXLESS)}"
    (warning,) = logs
    assert warning["event"] == "secret_too_short_to_redact"
    assert warning["lengths"] == [MIN_REDACTED_LENGTH - 1]
    assert short not in json.dumps(warning)


def test_a_secret_removed_from_the_configuration_stays_redacted() -> None:
    redactor = Redactor()
    redactor.use("worker:w", [PREFIXLESS, AZURE_SHAPED])

    redactor.use("worker:w", [AZURE_SHAPED])
    redactor.use("worker:gone", [])

    assert PREFIXLESS not in redactor.redact(f"late answer echoing {PREFIXLESS}")


def test_retired_secrets_are_bounded_oldest_first() -> None:
    redactor = Redactor(retired_limit=2)
    olds = [f"retired-secret-{n:04d}" for n in range(3)]
    for old in olds:
        redactor.use("worker:w", [old])
    redactor.use("worker:w", [])

    redacted = redactor.redact(" ".join(olds))

    assert olds[0] in redacted
    assert olds[1] not in redacted
    assert olds[2] not in redacted


def test_a_secret_still_held_by_another_owner_is_not_retired() -> None:
    redactor = Redactor(retired_limit=0)
    redactor.use("worker:a", [PREFIXLESS])
    redactor.use("worker:b", [PREFIXLESS])

    redactor.use("worker:a", [])

    assert PREFIXLESS not in redactor.redact(PREFIXLESS)


def test_the_ledger_tells_its_redactor_every_key_before_it_can_be_leased() -> None:
    ledger = KeyLedger()
    ledger.configure("w", [f" {COHERE_SHAPED} "])

    lease = ledger.checkout("w")

    assert lease is not None
    assert COHERE_SHAPED not in ledger.redactor.redact(f"echo {lease.secret}")


def test_the_ledger_keeps_redacting_the_keys_of_a_removed_worker() -> None:
    ledger = KeyLedger()
    ledger.configure("w", [COHERE_SHAPED])

    ledger.remove_worker("w")

    assert COHERE_SHAPED not in ledger.redactor.redact(COHERE_SHAPED)


@pytest.mark.parametrize(
    ("failure", "key", "message"),
    [
        (
            UpstreamFailure(ErrorKind.INVALID_KEY, f"Incorrect API key {PREFIXLESS}", status=401),
            "tok_li***5f60",
            "the provider refused key tok_li***5f60 (HTTP 401): invalid, revoked or not permitted",
        ),
        (
            UpstreamFailure(ErrorKind.INVALID_KEY, "The caller does not have permission", 403),
            None,
            "the provider refused the request's credentials (HTTP 403): "
            "invalid, revoked or not permitted",
        ),
        (
            UpstreamFailure(ErrorKind.BAD_REQUEST, f"bad field for key {PREFIXLESS}", 400),
            "tok_li***5f60",
            "bad field for key tok_li***5f60",
        ),
        (
            UpstreamFailure(ErrorKind.UPSTREAM_ERROR, f"boom {AZURE_SHAPED}", 500),
            None,
            f"boom {mask_key(AZURE_SHAPED)}",
        ),
    ],
)
def test_scrub_masks_every_secret_and_gives_refused_keys_a_fixed_message(
    failure: UpstreamFailure, key: str | None, message: str
) -> None:
    redactor = Redactor()
    redactor.use("worker:w", [PREFIXLESS, AZURE_SHAPED])

    scrubbed = scrub(failure, redactor, key)

    assert scrubbed.message == message
    assert (scrubbed.kind, scrubbed.status) == (failure.kind, failure.status)


def test_scrub_masks_a_secret_in_the_error_code_too() -> None:
    redactor = Redactor()
    redactor.use("worker:w", [PREFIXLESS])
    failure = UpstreamFailure(ErrorKind.BAD_REQUEST, "bad", 400, code=PREFIXLESS)

    assert scrub(failure, redactor, None).code == mask_key(PREFIXLESS)


def test_scrub_returns_a_clean_failure_as_it_is() -> None:
    failure = UpstreamFailure(ErrorKind.OVERLOADED, "Overloaded", 529, code="overloaded_error")

    assert scrub(failure, Redactor(), "sk-abc***wxyz") is failure
