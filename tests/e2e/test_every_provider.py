"""Every provider type through a real daemon, with the official ``openai`` SDK as the client.

Each of the seven provider types runs behind its own daemon (see ``provider_matrix``), in
front of simulated upstreams that speak that provider's exact wire format. For each type:
plain and streamed answers with usage and finish reason, ``length`` when ``max_tokens``
cuts the answer, provider failures mid-stream (an in-stream error, a dropped connection, a
body that ends cleanly before the provider's end signal) reaching the SDK as in-stream
errors or, for a plain request, handing it to the next worker, a 429
moving to the worker's next key, and an overloaded worker (529 for Anthropic, 503 for the
rest) handing the request to the next worker; and an audio part, which no provider
translation carries, refused with a 400 before any upstream is called.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam
from provider_matrix import CASES, KEYED_TYPES, SETTLE_TIMEOUT, Matrix, running_matrix

from cortex.simulated import Fault

SYSTEM = "You are terse."
QUESTION = "Tell me about the weather today"
CONVERSATION: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": QUESTION},
]
PROMPT_TOKENS = len(SYSTEM.split()) + len(QUESTION.split())


@pytest.fixture(scope="module", params=sorted(CASES))
def daemon_for_type(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Matrix]:
    """One daemon per provider type, shared by that type's tests."""
    log_dir = tmp_path_factory.mktemp(f"every-provider-{request.param}")
    with running_matrix(CASES[request.param], log_dir) as matrix:
        yield matrix


@pytest.fixture
def matrix(daemon_for_type: Matrix) -> Iterator[Matrix]:
    """The provider type's daemon, settled before and after each test."""
    daemon_for_type.settle()
    yield daemon_for_type
    daemon_for_type.settle()


def expected_reply(server_name: str) -> str:
    """What the simulated upstreams answer to :data:`QUESTION`: a greeting and an echo."""
    return f"Hello from {server_name}! You said: {QUESTION}"


def first_words(server_name: str, count: int) -> str:
    """The reply cut after ``count`` simulated tokens (one per word)."""
    return " ".join(expected_reply(server_name).split()[:count])


def streamed_text(chunks: list[ChatCompletionChunk]) -> str:
    """The text of a streamed answer."""
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def finish_reasons(chunks: list[ChatCompletionChunk]) -> list[str]:
    """Every finish reason a streamed answer announced, in order."""
    return [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]


def collect_text(stream: openai.Stream[ChatCompletionChunk], into: list[str]) -> None:
    """Read a streamed answer to its end, keeping each piece of text as it arrives."""
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            into.append(chunk.choices[0].delta.content)


def assert_overload_was_read_once(matrix: Matrix) -> None:
    """The primary was tried once (a 529/503 is not its key's fault) and read as overload.

    The worker's actor publishes the failure it was told just after the response ended
    (until then ``last_error`` may still hold an earlier test's failure), so it is waited for.
    """
    assert len(matrix.chats(matrix.primary)) == 1
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last_error = None
    while time.monotonic() < deadline:
        last_error = matrix.workers()[matrix.primary_worker]["last_error"]
        if isinstance(last_error, str) and last_error.startswith("overloaded:"):
            return
        time.sleep(0.02)
    raise AssertionError(f"the primary's overload was never published (last: {last_error!r})")


def test_a_plain_completion_carries_the_text_usage_and_finish_reason(matrix: Matrix) -> None:
    raw = matrix.client.chat.completions.with_raw_response.create(
        model="auto", messages=CONVERSATION
    )
    completion = raw.parse()

    reply = expected_reply(matrix.primary.name)
    assert raw.headers["x-cortex-worker"] == matrix.primary_worker
    assert completion.model == matrix.case.model
    assert completion.choices[0].message.content == reply
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == PROMPT_TOKENS
    assert completion.usage.completion_tokens == len(reply.split())
    assert completion.usage.total_tokens == PROMPT_TOKENS + len(reply.split())


def test_a_streamed_completion_arrives_in_pieces_and_ends_with_finish_reason_and_usage(
    matrix: Matrix,
) -> None:
    stream = matrix.client.chat.completions.create(
        model="auto",
        messages=CONVERSATION,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    reply = expected_reply(matrix.primary.name)
    assert streamed_text(chunks) == reply
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert finish_reasons(chunks) == ["stop"]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == PROMPT_TOKENS
    assert chunks[-1].usage.completion_tokens == len(reply.split())


def test_an_answer_whose_end_signal_came_without_a_closing_sentinel_is_complete(
    matrix: Matrix,
) -> None:
    """OpenAI's ``[DONE]`` and Anthropic's ``message_stop`` are not needed after the signal."""
    matrix.primary.set_fault(Fault.NO_SENTINEL)

    chunks = list(
        matrix.client.chat.completions.create(model="auto", messages=CONVERSATION, stream=True)
    )

    assert streamed_text(chunks) == expected_reply(matrix.primary.name)
    assert finish_reasons(chunks) == ["stop"]


def test_the_conversation_reaches_the_upstream_in_its_native_format(matrix: Matrix) -> None:
    matrix.client.chat.completions.create(model="auto", messages=CONVERSATION)

    [call] = matrix.chats(matrix.primary)
    sent = str(call.body)
    assert SYSTEM in sent
    assert QUESTION in sent
    if matrix.case.keyed:
        assert call.api_key in matrix.case.keys("primary")


def test_max_tokens_cuts_a_plain_answer_with_finish_reason_length(matrix: Matrix) -> None:
    completion = matrix.client.chat.completions.create(
        model="auto", messages=CONVERSATION, max_tokens=3
    )

    assert completion.choices[0].message.content == first_words(matrix.primary.name, 3)
    assert completion.choices[0].finish_reason == "length"


def test_max_tokens_cuts_a_streamed_answer_with_finish_reason_length(matrix: Matrix) -> None:
    stream = matrix.client.chat.completions.create(
        model="auto", messages=CONVERSATION, max_tokens=3, stream=True
    )
    chunks = list(stream)

    assert streamed_text(chunks) == first_words(matrix.primary.name, 3)
    assert finish_reasons(chunks) == ["length"]


MID_STREAM_KINDS = {Fault.DROP_MID_STREAM: "connect_error", Fault.ENDS_EARLY: "upstream_error"}


@pytest.mark.parametrize("fault", [Fault.STREAM_ERROR, Fault.DROP_MID_STREAM, Fault.ENDS_EARLY])
def test_a_provider_failure_mid_stream_reaches_the_sdk_as_an_in_stream_error(
    matrix: Matrix, fault: Fault
) -> None:
    """A stream the provider broke off, or ended cleanly before its end signal, is an error."""
    matrix.primary.set_fault(fault)
    received: list[str] = []

    with matrix.slow_stream():
        stream = matrix.client.chat.completions.create(
            model="auto", messages=CONVERSATION, stream=True
        )
        with pytest.raises(openai.APIError) as caught:
            collect_text(stream, received)

    expected = MID_STREAM_KINDS.get(fault, matrix.case.stream_error_kind)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == expected
    if fault is Fault.ENDS_EARLY:
        assert "ended before the answer was complete" in caught.value.message
    assert received
    assert expected_reply(matrix.primary.name).startswith("".join(received))
    assert matrix.chats(matrix.backup) == []


def test_a_plain_answer_that_ends_before_its_end_signal_is_taken_from_the_next_worker(
    matrix: Matrix,
) -> None:
    matrix.primary.set_fault(Fault.ENDS_EARLY)

    with matrix.slow_stream():
        raw = matrix.client.chat.completions.with_raw_response.create(
            model="auto", messages=CONVERSATION
        )

    completion = raw.parse()
    assert raw.headers["x-cortex-worker"] == matrix.backup_worker
    assert completion.choices[0].message.content == expected_reply(matrix.backup.name)
    assert completion.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("daemon_for_type", KEYED_TYPES, indirect=True)
def test_a_rate_limited_key_hands_the_request_to_the_workers_next_key(matrix: Matrix) -> None:
    matrix.primary.set_fault(Fault.RATE_LIMIT, times=1, retry_after=120)

    raw = matrix.client.chat.completions.with_raw_response.create(
        model="auto", messages=CONVERSATION
    )

    assert raw.headers["x-cortex-worker"] == matrix.primary_worker
    assert raw.parse().choices[0].message.content == expected_reply(matrix.primary.name)
    first, second = matrix.chats(matrix.primary)
    assert first.api_key != second.api_key
    assert {first.api_key, second.api_key} == set(matrix.case.keys("primary"))
    assert matrix.chats(matrix.backup) == []
    blocks = [(k["blocked"], k["block_reason"]) for k in matrix.keys(matrix.primary_worker)]
    assert sorted(blocks, key=str) == sorted([(True, "rate_limited"), (False, None)], key=str)


def test_an_overloaded_worker_hands_a_plain_request_to_the_next_worker(matrix: Matrix) -> None:
    matrix.primary.set_fault(Fault.OVERLOADED)

    raw = matrix.client.chat.completions.with_raw_response.create(
        model="auto", messages=CONVERSATION
    )

    assert raw.headers["x-cortex-worker"] == matrix.backup_worker
    assert raw.parse().choices[0].message.content == expected_reply(matrix.backup.name)
    assert_overload_was_read_once(matrix)


def test_an_overloaded_worker_hands_a_streamed_request_to_the_next_worker(matrix: Matrix) -> None:
    matrix.primary.set_fault(Fault.OVERLOADED)

    raw = matrix.client.chat.completions.with_raw_response.create(
        model="auto", messages=CONVERSATION, stream=True
    )

    assert raw.headers["x-cortex-worker"] == matrix.backup_worker
    assert streamed_text(list(raw.parse())) == expected_reply(matrix.backup.name)
    assert_overload_was_read_once(matrix)


def test_an_audio_part_is_a_bad_request_naming_its_type_and_never_reaches_the_upstream(
    matrix: Matrix,
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        matrix.client.chat.completions.create(
            model="auto",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is said here?"},
                        {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
                    ],
                }
            ],
        )

    assert "part 1 is of type 'input_audio'" in caught.value.message
    assert matrix.chats(matrix.primary) == []
