"""SimulatedGemini, checked with the official google-genai SDK as the client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from google import genai
from google.genai import errors, types

from cortex.simulated import Fault, SimulatedGemini

KEY = "AIza-sim-key-1"
MODEL = "gemini-2.5-flash"
PROMPT = "name three rivers"
EXPECTED = "Hello from gemini! You said: name three rivers"


@pytest.fixture(scope="module")
def client(gemini_module: SimulatedGemini) -> Iterator[genai.Client]:
    options = types.HttpOptions(base_url=gemini_module.base_url, timeout=5000)
    with genai.Client(api_key=KEY, http_options=options) as client:
        yield client


def test_generate_content_returns_text_and_usage(client: genai.Client) -> None:
    response = client.models.generate_content(model=MODEL, contents=PROMPT)
    assert response.text == EXPECTED
    assert response.candidates
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata is not None
    assert response.usage_metadata.prompt_token_count == 3
    assert response.usage_metadata.candidates_token_count == 8
    assert response.usage_metadata.total_token_count == 11


def test_stream_yields_pieces_and_finishes_with_full_usage(client: genai.Client) -> None:
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=PROMPT))
    assert "".join(c.text or "" for c in chunks) == EXPECTED
    last = chunks[-1]
    assert last.candidates
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None
    assert last.usage_metadata.candidates_token_count == 8


def test_max_output_tokens_finishes_with_max_tokens(client: genai.Client) -> None:
    config = types.GenerateContentConfig(max_output_tokens=2, system_instruction="be brief")
    response = client.models.generate_content(model=MODEL, contents=PROMPT, config=config)
    assert response.text == "Hello from"
    assert response.candidates
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert response.usage_metadata is not None
    assert response.usage_metadata.prompt_token_count == 5


def test_both_api_versions_and_the_query_key_are_served(
    gemini_server: SimulatedGemini, http: httpx.Client
) -> None:
    for version in ("v1", "v1beta"):
        response = http.get(f"{gemini_server.url}/{version}/models?key={KEY}")
        assert [m["name"] for m in response.json()["models"]] == [
            "models/gemini-2.5-flash",
            "models/gemini-2.5-pro",
        ]


def test_models_list_returns_every_model(client: genai.Client) -> None:
    assert [m.name for m in client.models.list()] == [
        "models/gemini-2.5-flash",
        "models/gemini-2.5-pro",
    ]


def test_unknown_key_is_a_400_api_key_invalid(gemini_server: SimulatedGemini) -> None:
    options = types.HttpOptions(base_url=gemini_server.base_url, timeout=5000)
    with (
        genai.Client(api_key="bad", http_options=options) as bad,
        pytest.raises(errors.ClientError) as caught,
    ):
        bad.models.generate_content(model=MODEL, contents=PROMPT)
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_unknown_model_is_a_404_not_found(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model="gemini-9", contents=PROMPT)
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("fault", "error", "code", "status"),
    [
        (Fault.RATE_LIMIT, errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
        (Fault.QUOTA, errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
        (Fault.UNAUTHORIZED, errors.ClientError, 403, "PERMISSION_DENIED"),
        (Fault.SERVER_ERROR, errors.ServerError, 500, "INTERNAL"),
        (Fault.OVERLOADED, errors.ServerError, 503, "UNAVAILABLE"),
        (Fault.BAD_REQUEST, errors.ClientError, 400, "INVALID_ARGUMENT"),
    ],
)
def test_status_faults_raise_the_sdk_error_for_their_code(
    gemini_server: SimulatedGemini,
    client: genai.Client,
    fault: Fault,
    error: type[errors.APIError],
    code: int,
    status: str,
) -> None:
    gemini_server.set_fault(fault)
    with pytest.raises(error) as caught:
        client.models.generate_content(model=MODEL, contents=PROMPT)
    assert (caught.value.code, caught.value.status) == (code, status)


def test_rate_limit_carries_retry_info_in_the_body(
    gemini_server: SimulatedGemini, client: genai.Client
) -> None:
    gemini_server.set_fault(Fault.RATE_LIMIT, retry_after=17)
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents=PROMPT)
    details = caught.value.details["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"} in details


def test_stream_error_fault_raises_a_server_error_mid_stream(
    gemini_server: SimulatedGemini, client: genai.Client
) -> None:
    gemini_server.set_fault(Fault.STREAM_ERROR)
    texts: list[str] = []
    with pytest.raises(errors.ServerError) as caught:
        texts.extend(
            c.text or ""
            for c in client.models.generate_content_stream(model=MODEL, contents=PROMPT)
        )
    assert caught.value.code == 503
    assert texts == ["Hello", " from"]


def test_ends_early_closes_the_stream_cleanly_without_a_finish_reason(
    gemini_server: SimulatedGemini, client: genai.Client
) -> None:
    gemini_server.set_fault(Fault.ENDS_EARLY)
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=PROMPT))
    assert [c.text for c in chunks] == ["Hello", " from"]
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks)


def test_request_log_records_the_path_and_header_key(
    gemini_server: SimulatedGemini, client: genai.Client
) -> None:
    client.models.generate_content(model=MODEL, contents=PROMPT)
    [request] = gemini_server.requests
    assert request.path.endswith(f"/models/{MODEL}:generateContent")
    assert request.headers["x-goog-api-key"] == KEY
    assert request.body["contents"][0]["parts"][0]["text"] == PROMPT
