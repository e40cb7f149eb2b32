"""SimulatedGemini with tools, structured output, images and thoughts, google-genai as client."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from cortex.simulated import SimulatedGemini
from cortex.simulated.gemini import signature_for

KEY = "AIza-sim-key-1"
MODEL = "gemini-2.5-flash"
PROMPT = "Weather in Paris"
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Get weather for a city",
    parameters_json_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
)
CLOCK = types.FunctionDeclaration(name="get_time", description="The time now")
TOOLS = [types.Tool(function_declarations=[WEATHER, CLOCK])]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def client(gemini_module: SimulatedGemini) -> Iterator[genai.Client]:
    options = types.HttpOptions(base_url=gemini_module.base_url, timeout=5000)
    with genai.Client(api_key=KEY, http_options=options) as client:
        yield client


def config(**fields: Any) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        tools=list(TOOLS),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        **fields,
    )


def test_a_function_call_comes_back_whole_and_signed(
    gemini_server: SimulatedGemini, client: genai.Client
) -> None:
    response = client.models.generate_content(model=MODEL, contents=PROMPT, config=config())
    assert response.function_calls is not None
    [call] = response.function_calls
    assert (call.id, call.name, call.args) == (None, "get_weather", {"city": "Paris", "days": 1})
    assert response.candidates
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.candidates[0].content is not None
    [part] = response.candidates[0].content.parts or []
    assert part.thought_signature == base64.b64decode(signature_for("get_weather"))
    [request] = gemini_server.requests
    declared = request.body["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in declared] == ["get_weather", "get_time"]
    assert "parameters_json_schema" in declared[0]  # the SDK's snake_case, read all the same


def test_a_named_function_is_the_one_called(client: genai.Client) -> None:
    choice = types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=["get_time"]
        )
    )
    response = client.models.generate_content(
        model=MODEL, contents=PROMPT, config=config(tool_config=choice)
    )
    assert [c.name for c in response.function_calls or []] == ["get_time"]


def test_mode_none_answers_in_text(client: genai.Client) -> None:
    choice = types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.NONE
        )
    )
    response = client.models.generate_content(
        model=MODEL, contents=PROMPT, config=config(tool_config=choice)
    )
    assert response.function_calls is None
    assert response.text == "Hello from gemini! You said: Weather in Paris"


def test_a_streamed_function_call_arrives_in_one_chunk(client: genai.Client) -> None:
    chunks = list(
        client.models.generate_content_stream(model=MODEL, contents=PROMPT, config=config())
    )
    calls = [call for chunk in chunks for call in chunk.function_calls or []]
    assert [(c.name, c.args) for c in calls] == [("get_weather", {"city": "Paris", "days": 1})]
    last = chunks[-1]
    assert last.candidates
    assert last.candidates[0].finish_reason == types.FinishReason.STOP


def test_gemini_3_models_name_their_calls() -> None:
    with SimulatedGemini(models=("gemini-3-flash-preview",), chunk_delay=0.0) as server:
        options = types.HttpOptions(base_url=server.base_url, timeout=5000)
        with genai.Client(api_key=KEY, http_options=options) as client:
            response = client.models.generate_content(
                model="gemini-3-flash-preview", contents=PROMPT, config=config()
            )
    [call] = response.function_calls or []
    assert call.id is not None
    assert call.id.startswith("fc-")


def tool_turns(call_id: str | None) -> list[types.Content]:
    call = types.FunctionCall(id=call_id, name="get_weather", args={"city": "Paris"})
    signed = types.Part(function_call=call, thought_signature=b"opaque")
    result = types.FunctionResponse(id=call_id, name="get_weather", response={"output": "18C"})
    return [
        types.Content(role="user", parts=[types.Part(text=PROMPT)]),
        types.Content(role="model", parts=[signed]),
        types.Content(role="user", parts=[types.Part(function_response=result)]),
    ]


def test_a_function_response_is_answered_in_text(
    gemini_server: SimulatedGemini, client: genai.Client
) -> None:
    response = client.models.generate_content(
        model=MODEL, contents=tool_turns("fc_1"), config=config()
    )
    assert response.function_calls is None
    assert response.text == "Tool said: 18C"
    [request] = gemini_server.requests
    model_turn = request.body["contents"][1]["parts"][0]
    assert model_turn["thoughtSignature"] == base64.b64encode(b"opaque").decode()


def test_a_structured_response_is_json_that_fits_the_schema(client: genai.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["name"],
        "additionalProperties": False,
    }
    settings = types.GenerateContentConfig(
        response_mime_type="application/json", response_json_schema=schema
    )
    response = client.models.generate_content(model=MODEL, contents=PROMPT, config=settings)
    assert json.loads(response.text or "") == {"name": "Paris", "population": 1}


def test_json_mode_wraps_the_reply(client: genai.Client) -> None:
    settings = types.GenerateContentConfig(response_mime_type="application/json")
    response = client.models.generate_content(model=MODEL, contents=PROMPT, config=settings)
    assert json.loads(response.text or "") == {
        "reply": "Hello from gemini! You said: Weather in Paris"
    }


def test_inline_and_file_images_are_seen(
    gemini_server: SimulatedGemini, client: genai.Client
) -> None:
    parts = [
        types.Part(text="Describe"),
        types.Part.from_bytes(data=PNG, mime_type="image/png"),
        types.Part.from_uri(file_uri="https://example.com/cat.jpg", mime_type="image/jpeg"),
    ]
    content = types.Content(role="user", parts=parts)
    response = client.models.generate_content(model=MODEL, contents=content)
    assert response.text == "Hello from gemini! You said: Describe (saw 2 images)"
    [request] = gemini_server.requests
    _, inline, by_uri = request.body["contents"][0]["parts"]
    assert inline["inlineData"]["mime_type"] == "image/png"
    assert by_uri["fileData"]["file_uri"] == "https://example.com/cat.jpg"


def test_thoughts_come_first_when_asked_for(
    gemini_server: SimulatedGemini, client: genai.Client
) -> None:
    thinking = types.ThinkingConfig(include_thoughts=True, thinking_budget=1024)
    settings = types.GenerateContentConfig(thinking_config=thinking)
    response = client.models.generate_content(model=MODEL, contents=PROMPT, config=settings)
    assert response.candidates
    assert response.candidates[0].content is not None
    thought, answer = response.candidates[0].content.parts or []
    assert (thought.thought, thought.text) == (True, "Thinking about: Weather in Paris")
    assert answer.text == "Hello from gemini! You said: Weather in Paris"
    [request] = gemini_server.requests
    sent = request.body["generationConfig"]["thinkingConfig"]
    assert sent == {"include_thoughts": True, "thinking_budget": 1024}


def test_a_response_to_a_call_never_made_is_refused(client: genai.Client) -> None:
    turns = tool_turns("fc_1")
    result = types.FunctionResponse(id="fc_9", name="get_weather", response={"output": "x"})
    turns[2] = types.Content(role="user", parts=[types.Part(function_response=result)])
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents=turns, config=config())
    assert caught.value.code == 400
    assert "does not match" in (caught.value.message or "")


def test_a_streamed_tool_result_is_answered_in_text(client: genai.Client) -> None:
    chunks = list(
        client.models.generate_content_stream(
            model=MODEL, contents=tool_turns(None), config=config()
        )
    )
    assert "".join(chunk.text or "" for chunk in chunks) == "Tool said: 18C"
