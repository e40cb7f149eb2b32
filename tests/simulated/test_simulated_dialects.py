"""SimulatedOpenAI in other providers' layouts, checked with the official openai SDK."""

from __future__ import annotations

from dataclasses import replace

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from cortex.simulated import Dialect, SimulatedOpenAI
from cortex.simulated.openai import AZURE

KEY = "azure-key-0001"
VERSION = "2024-10-21"
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def test_the_azure_sdk_reaches_a_deployment_with_its_api_key_header_and_version() -> None:
    upstream = SimulatedOpenAI("azure", keys=(KEY,), models=("prod-4o",))
    upstream.dialect = replace(AZURE, query={"api-version": VERSION})
    with upstream:
        client = openai.AzureOpenAI(
            azure_endpoint=upstream.base_url,
            api_key=KEY,
            api_version=VERSION,
            max_retries=0,
            timeout=5,
        )
        result = client.chat.completions.create(model="prod-4o", messages=HELLO)
        assert result.choices[0].message.content == "Hello from azure! You said: hi"
        (request,) = upstream.requests
        assert request.path == "/openai/deployments/prod-4o/chat/completions"
        assert (request.query, request.headers["api-key"]) == ({"api-version": VERSION}, KEY)
        assert "authorization" not in request.headers


def test_a_request_without_the_required_query_is_refused() -> None:
    upstream = SimulatedOpenAI("azure", keys=(KEY,))
    upstream.dialect = replace(AZURE, query={"api-version": VERSION})
    with upstream:
        client = openai.AzureOpenAI(
            azure_endpoint=upstream.base_url,
            api_key=KEY,
            api_version="2023-05-15",
            max_retries=0,
            timeout=5,
        )
        with pytest.raises(openai.BadRequestError):
            client.models.list()


def test_a_prefix_less_api_is_served_at_its_root() -> None:
    upstream = SimulatedOpenAI("deepseek", keys=(KEY,))
    upstream.dialect = Dialect(prefix="")
    with upstream:
        client = openai.OpenAI(base_url=upstream.base_url, api_key=KEY, max_retries=0, timeout=5)
        assert [m.id for m in client.models.list()] == list(upstream.models)
        assert upstream.requests[0].path == "/models"
