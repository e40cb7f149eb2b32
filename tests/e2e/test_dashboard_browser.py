"""The dashboard in a real headless Chromium, driven by Selenium, against a real daemon.

One daemon (two simulated upstreams, admin token, fault drills on) and one browser serve
the whole module; every test measures what its own traffic changes, so the tests do not
depend on their order. The last state of the page is saved as a screenshot under
``test-artifacts/`` (ignored by git; ``CORTEX_ARTIFACTS`` moves it).

Chromium comes from :mod:`browser_harness`, which skips the module where it is missing
(unless CI requires the browser).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from browser_harness import WAIT, headless_chromium, skip_without_browser
from daemon_harness import (
    BACKUP_KEYS,
    PRIMARY_KEYS,
    REPO,
    CortexProcess,
    providers_json,
    running,
)

from cortex.simulated import Fault, SimulatedOpenAI

TOKEN = "browser-admin-token-0000000001"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
HELLO = {"messages": [{"role": "user", "content": "Hello"}]}

skip_without_browser()
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[SimulatedOpenAI, SimulatedOpenAI]]:
    """The first-choice and the backup upstream, shared by the module."""
    with (
        SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.0) as primary,
        SimulatedOpenAI(
            "backup", keys=BACKUP_KEYS, models=("llama-3.1-8b-instant",), chunk_delay=0.0
        ) as backup,
    ):
        yield primary, backup


@pytest.fixture(scope="module")
def daemon(upstreams, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CortexProcess]:
    """One real daemon with the admin API and fault drills on."""
    primary, backup = upstreams
    env = {
        "CORTEX_PROVIDERS": providers_json(primary, backup),
        "CORTEX_ADMIN_TOKEN": TOKEN,
        "CORTEX_FAULT_DRILLS": "1",
        "CORTEX_CACHE_ENABLED": "0",
    }
    with running(env, tmp_path_factory.mktemp("browser") / "cortex.log") as process:
        yield process


@pytest.fixture(scope="module")
def browser(daemon: CortexProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Headless Chromium showing the dashboard, once its event stream is live."""
    with headless_chromium(
        tmp_path_factory.mktemp("chromium"), "--window-size=1400,1000"
    ) as driver:
        driver.get(f"{daemon.url}/dashboard?token={TOKEN}")
        wait_for(driver, lambda d: d.find_element(By.ID, "conn").text == "live")
        yield driver


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], Any]) -> Any:
    """Wait (bounded) until ``condition`` holds on the page; its value is returned."""
    # Every event re-renders the tables, so an element found a moment ago may be gone.
    waiter = WebDriverWait(
        driver, WAIT, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
    )
    return waiter.until(condition)


def chart_total(driver: WebDriver) -> int:
    """Requests drawn on the request-rate chart (the page records what it drew)."""
    raw = driver.find_element(By.ID, "chart-requests").get_attribute("data-total")
    return int(float(raw or 0))


def worker_requests(driver: WebDriver, worker: str) -> int:
    """The requests column of the worker's row."""
    cells = driver.find_elements(By.CSS_SELECTOR, f'#workers tr[data-worker="{worker}"] td')
    return int(cells[6].text) if cells else -1


def restarts(driver: WebDriver, actor: str) -> int:
    """The restart count the supervision tree shows for ``actor`` (0 when none shown)."""
    badges = driver.find_elements(By.CSS_SELECTOR, f'#tree li[data-actor="{actor}"] > .restarts')
    return int(badges[0].get_attribute("data-restarts") or 0) if badges else 0


def chat(daemon: CortexProcess, count: int) -> None:
    for _ in range(count):
        response = requests.post(f"{daemon.url}/v1/chat/completions", json=HELLO, timeout=20)
        assert response.status_code == 200, response.text


def test_the_page_lists_every_worker_with_status_breaker_and_masked_keys(browser):
    rows = browser.find_elements(By.CSS_SELECTOR, "#workers tbody tr")
    keys = [
        row.get_attribute("data-key")
        for row in browser.find_elements(By.CSS_SELECTOR, "#keys tbody tr")
    ]

    assert [row.get_attribute("data-worker") for row in rows] == ["primary", "backup"]
    assert "available" in rows[0].text
    assert "closed" in rows[0].text
    assert keys == ["sk-pri***0001", "sk-pri***0002", "sk-bac***0001"]
    assert all(key not in browser.page_source for key in (*PRIMARY_KEYS, *BACKUP_KEYS))


def test_the_page_lists_this_instance_as_the_fleet_of_one(browser, daemon):
    this = daemon.get("/api/fleet").json()["this"]

    rows = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#instances tbody tr"))

    assert [row.get_attribute("data-instance") for row in rows] == [this]
    assert "(this one)" in rows[0].text


def test_traffic_updates_the_request_chart_and_the_worker_row(browser, daemon):
    drawn, served = chart_total(browser), worker_requests(browser, "primary")

    chat(daemon, 12)

    wait_for(browser, lambda d: chart_total(d) >= drawn + 12)
    wait_for(browser, lambda d: worker_requests(d, "primary") >= served + 12)
    assert browser.find_element(By.ID, "now-latency").text.endswith("ms")


def test_a_failover_shows_in_the_recent_failovers(browser, daemon, upstreams):
    primary, _ = upstreams
    primary.set_fault(Fault.SERVER_ERROR, times=1)

    chat(daemon, 1)

    shown = wait_for(
        browser,
        lambda d: [
            li.text
            for li in d.find_elements(By.CSS_SELECTOR, "#failovers li")
            if "primary → backup" in li.text
        ],
    )
    assert "upstream_error" in shown[0]


def test_a_crash_drill_shows_as_a_restart_in_the_supervision_tree(browser, daemon):
    before = restarts(browser, "primary")

    response = requests.post(f"{daemon.url}/admin/actors/primary/crash", headers=ADMIN, timeout=10)

    assert response.status_code == 202
    wait_for(browser, lambda d: restarts(d, "primary") == before + 1)
    chat(daemon, 3)
    wait_for(
        browser,
        lambda d: (
            "available"
            in d.find_element(By.CSS_SELECTOR, '#workers tr[data-worker="primary"]').text
        ),
    )


def test_the_live_page_is_saved_as_a_screenshot_artefact(browser, daemon):
    drawn = chart_total(browser)
    chat(daemon, 5)
    wait_for(browser, lambda d: chart_total(d) >= drawn + 5)
    folder = Path(os.environ.get("CORTEX_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dashboard.png"

    assert browser.save_screenshot(str(path))

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"dashboard screenshot: {path}")
