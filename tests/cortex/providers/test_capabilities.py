"""What each wire can carry: fields that leave the plan, fields declared dropped."""

from __future__ import annotations

import dataclasses

import pytest

from actors.planning import Candidate, Plan
from cortex.chat import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from cortex.dataplane.fitting import fitted, worker_fit
from cortex.errors import BadRequest
from cortex.providers.capabilities import (
    DROPPED_HEADER,
    MAX_DROPPED_HEADER,
    Carries,
    Fit,
    dropped_headers,
    fit,
    read_dropped,
)

HI = (Message("user", "hi"),)
TOOLS = (Tool("get_weather"), Tool("get_time"))
URL_IMAGE = Message("user", "see", (TextPart("see"), ImagePart("https://x/a.png")))
DATA_IMAGE = Message("user", "see", (ImagePart("data:image/png;base64,AAAA"),))


def request(**fields: object) -> ChatRequest:
    return ChatRequest(messages=HI, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("carries", "asked", "unmet"),
    [
        (Carries(tools=False), request(tools=TOOLS), ("tools",)),
        (Carries(tools=False), request(tools=TOOLS, tool_choice=ToolChoice("none")), ()),
        (
            Carries(required_choice=False),
            request(tools=TOOLS, tool_choice=ToolChoice("required")),
            ("tool_choice",),
        ),
        (
            Carries(required_choice=False),
            request(tools=TOOLS, tool_choice=ToolChoice("required", "get_time")),
            (),
        ),
        (
            Carries(named_choice=False),
            request(tools=TOOLS, tool_choice=ToolChoice("required", "get_time")),
            ("tool_choice",),
        ),
        (
            Carries(response_format=False),
            request(response_format=ResponseFormat("json_object")),
            ("response_format",),
        ),
        (Carries(images=False), ChatRequest(messages=(DATA_IMAGE,)), ("image_url",)),
        (Carries(image_urls=False), ChatRequest(messages=(DATA_IMAGE,)), ()),
        (Carries(image_urls=False), ChatRequest(messages=(URL_IMAGE,)), ("image_url (by URL)",)),
        (Carries(), request(n=3), ("n",)),
        (Carries(choices=True), request(n=3), ()),
    ],
)
def test_fields_that_change_the_answer_are_unmet(
    carries: Carries, asked: ChatRequest, unmet: tuple[str, ...]
) -> None:
    assert fit(carries, asked).unmet == unmet


def test_tuning_fields_are_dropped_by_name_and_strict_makes_them_unmet() -> None:
    asked = request(
        tools=TOOLS,
        parallel_tool_calls=False,
        reasoning_effort="low",
        options={"seed": 1, "logit_bias": {}},
        extra={"vendor": 1},
        ignored=("messages[].x",),
    )
    found = fit(Carries(reasoning_effort=False, options=frozenset({"seed"})), asked)

    assert found == Fit(
        (), ("messages[].x", "parallel_tool_calls", "reasoning_effort", "logit_bias", "vendor")
    )
    assert found.strict() == Fit(found.dropped, ())
    assert fit(Carries(parallel_switch=True, extra=True), request(extra={"v": 1})).dropped == ()


def candidate(worker: str, type_: str) -> Candidate:
    return Candidate(worker, type_, "http://127.0.0.1:1", "m", 5.0, needs_key=False)


PLAN = Plan(
    (candidate("local", "ollama"), candidate("cloud", "openai")),
    fallbacks={"rate_limit": candidate("claude", "anthropic")},
)


def test_workers_that_cannot_honour_a_request_leave_the_plan() -> None:
    asked = request(tools=TOOLS, tool_choice=ToolChoice("required"))

    kept = fitted(PLAN, asked)

    assert [c.worker for c in kept.candidates] == ["cloud"]
    assert list(kept.fallbacks) == ["rate_limit"]
    assert fitted(PLAN, request()) is PLAN


def test_when_no_worker_can_the_400_names_the_field_and_every_worker() -> None:
    only_local = dataclasses.replace(PLAN, candidates=PLAN.candidates[:1])

    with pytest.raises(BadRequest) as caught:
        fitted(only_local, request(tools=TOOLS, tool_choice=ToolChoice("required")))

    assert caught.value.code == "unsupported_parameter"
    assert "local (ollama): tool_choice" in caught.value.message


def test_content_a_wire_refuses_in_translation_is_unmet_for_that_worker() -> None:
    call = Message("assistant", "", tool_calls=())
    bad_args = ChatRequest(
        messages=(
            *HI,
            dataclasses.replace(call, tool_calls=(ToolCall("c1", "f", "[1]"),)),
            Message("tool", "18", tool_call_id="c1"),
        )
    )

    assert worker_fit("openai", bad_args).unmet == ()
    assert worker_fit("anthropic", bad_args).unmet != ()


def test_strict_params_turn_a_drop_into_a_refusal() -> None:
    asked = request(options={"logit_bias": {"1": 2}})

    assert worker_fit("anthropic", asked).dropped == ("logit_bias",)
    with pytest.raises(BadRequest, match="logit_bias"):
        fitted(Plan((candidate("claude", "anthropic"),)), asked, strict=True)


def test_the_dropped_header_is_safe_and_bounded_whatever_the_client_named() -> None:
    odd = ("messages[].\x1f", "vendor knob", "a,b", "naïve")
    header = dropped_headers(odd)[DROPPED_HEADER]

    assert header.isascii()
    assert header.isprintable()
    assert read_dropped({DROPPED_HEADER: header}) == odd
    many = dropped_headers(tuple(f"field_{n}" for n in range(500)))[DROPPED_HEADER]
    assert len(many) <= MAX_DROPPED_HEADER
    assert many.endswith("more")
    assert dropped_headers(()) == {}
