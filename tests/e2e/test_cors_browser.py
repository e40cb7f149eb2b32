"""A web page on another origin calls Cortex with ``fetch`` in a real headless Chromium.

Two tiny page servers on their own loopback ports are two origins: Cortex lists the first
in ``CORTEX_CORS_ORIGINS`` and not the second. The page sends the gateway key in
``Authorization`` and JSON, so every call needs a preflight, exactly as a browser app
using an SDK does. Selenium drives the page in the Chromium of :mod:`browser_harness`, as
the dashboard test does (skipped where it is missing, unless CI requires it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from admin_harness import wait_until
from aiohttp import web
from browser_harness import headless_chromium, skip_without_browser
from daemon_harness import PRIMARY_KEYS, CortexProcess, providers_json, running

from cortex.simulated import SimulatedOpenAI
from cortex.simulated.background import BackgroundServer

GATEWAY_KEY = "gw-browser-page-key-000001"

skip_without_browser()
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>cortex cors page</title></head><body>
<script>
function ask(base, key, stream) {
  return fetch(base + "/v1/chat/completions", {
    method: "POST",
    headers: {"Authorization": "Bearer " + key, "Content-Type": "application/json"},
    body: JSON.stringify({model: "auto", stream: stream,
                          messages: [{role: "user", content: "Hello from the browser"}]}),
  });
}
async function chatWhole(base, key) {
  const response = await ask(base, key, false);
  const body = await response.json();
  return {status: response.status, worker: response.headers.get("X-Cortex-Worker"),
          text: body.choices[0].message.content};
}
async function chatStream(base, key) {
  const response = await ask(base, key, true);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let raw = "";
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    raw += decoder.decode(value, {stream: true});
  }
  let text = "";
  for (const line of raw.split("\\n")) {
    if (!line.startsWith("data: {")) continue;
    const chunk = JSON.parse(line.slice(6));
    if (chunk.choices && chunk.choices.length) text += chunk.choices[0].delta.content || "";
  }
  return {status: response.status, worker: response.headers.get("X-Cortex-Worker"),
          type: response.headers.get("Content-Type"), text: text,
          done: raw.trimEnd().endsWith("data: [DONE]")};
}
async function tryCompletions(base, key) {
  const response = await fetch(base + "/v1/completions", {
    method: "POST",
    headers: {"Authorization": "Bearer " + key, "Content-Type": "application/json"},
    body: JSON.stringify({model: "auto", prompt: "Hello"}),
  });
  return {status: response.status, error: (await response.json()).error};
}
async function tryChat(base, key) {
  try {
    const response = await ask(base, key, false);
    return {read: true, status: response.status};
  } catch (error) {
    return {read: false, error: error.name + ": " + error.message};
  }
}
</script></body></html>
"""


class PageServer(BackgroundServer):
    """Serves the test page at ``/``: its port makes it an origin of its own."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name)

    def _build_app(self) -> web.Application:
        async def page(_: web.Request) -> web.Response:
            return web.Response(text=PAGE, content_type="text/html")

        app = web.Application()
        app.router.add_get("/", page)
        return app


@pytest.fixture(scope="module")
def pages() -> Iterator[tuple[PageServer, PageServer]]:
    """The listed page origin and an unlisted one."""
    with PageServer("listed-page") as listed, PageServer("unlisted-page") as unlisted:
        yield listed, unlisted


@pytest.fixture(scope="module")
def upstream() -> Iterator[SimulatedOpenAI]:
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.01) as server:
        yield server


@pytest.fixture(scope="module")
def daemon(pages, upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CortexProcess]:
    listed, _ = pages
    env = {
        "CORTEX_PROVIDERS": providers_json(upstream),
        "CORTEX_API_KEYS": GATEWAY_KEY,
        "CORTEX_CORS_ORIGINS": listed.url,
        "CORTEX_CACHE_ENABLED": "0",
    }
    with running(env, tmp_path_factory.mktemp("cors-browser") / "cortex.log") as process:
        yield process


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with headless_chromium(tmp_path_factory.mktemp("chromium-cors")) as driver:
        yield driver


def on_page(driver: WebDriver, page: PageServer, function: str, daemon: CortexProcess) -> Any:
    """Open ``page`` and run its async ``function`` against the daemon; its result."""
    driver.get(page.url + "/")
    return driver.execute_async_script(
        f"const done = arguments[arguments.length - 1];"
        f"{function}(arguments[0], arguments[1]).then(done, e => done({{failed: String(e)}}));",
        daemon.url,
        GATEWAY_KEY,
    )


def test_a_page_on_a_listed_origin_reads_a_whole_answer(browser, pages, daemon):
    result = on_page(browser, pages[0], "chatWhole", daemon)

    assert result["status"] == 200, result
    assert "Hello from the browser" in result["text"]
    assert result["worker"] == "primary"


def test_a_page_on_a_listed_origin_reads_a_stream_through_its_body_reader(browser, pages, daemon):
    result = on_page(browser, pages[0], "chatStream", daemon)

    assert result["status"] == 200, result
    assert result["type"].startswith("text/event-stream")
    assert "Hello from the browser" in result["text"]
    assert result["worker"] == "primary"
    assert result["done"] is True


def test_a_page_reads_the_json_error_of_an_endpoint_cortex_does_not_serve(browser, pages, daemon):
    result = on_page(browser, pages[0], "tryCompletions", daemon)

    assert result["status"] == 404, result
    assert result["error"]["code"] == "unsupported_endpoint"
    assert "POST /v1/chat/completions" in result["error"]["message"]


def chats(upstream: SimulatedOpenAI) -> int:
    """Chat calls the upstream received (its health probes are not counted)."""
    return len([r for r in upstream.requests if r.path.endswith("/chat/completions")])


def refused_preflights(daemon: CortexProcess) -> list[dict[str, Any]]:
    return [
        r
        for r in daemon.events("request")
        if r.get("method") == "OPTIONS" and r.get("status") == 403
    ]


def test_a_page_on_an_unlisted_origin_is_blocked_by_the_browser_before_any_upstream_call(
    browser, pages, daemon, upstream
):
    before = chats(upstream)

    result = on_page(browser, pages[1], "tryChat", daemon)

    assert result["read"] is False, result
    assert result["error"].startswith("TypeError")
    assert wait_until(lambda: refused_preflights(daemon))[-1]["path"] == "/v1/chat/completions"
    assert chats(upstream) == before
