"""Headless Chromium for the browser tests, driven by Selenium.

Chromium and ChromeDriver come from Debian's ``chromium`` and ``chromium-driver`` packages,
which ``.ci/run`` installs (``CHROMIUM`` and ``CHROMEDRIVER`` point elsewhere). Where they
are missing a browser test module is skipped, unless ``CORTEX_REQUIRE_BROWSER=1`` (set by
``.ci/run``) turns the absence into a failure, so CI never passes without having run the
browser.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

WAIT = 20.0
"""Seconds a page load or a page's script may take: CI machines are slow and shared."""
CHROMIUM = os.environ.get("CHROMIUM", "") or shutil.which("chromium") or ""
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "") or shutil.which("chromedriver") or ""
REQUIRED = os.environ.get("CORTEX_REQUIRE_BROWSER") == "1"
# The background-networking flags keep Chromium from calling home on a closed network.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def skip_without_browser() -> None:
    """Skip the calling test module where Chromium is missing, unless CI requires it."""
    if REQUIRED:
        return
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(
            "headless browser tests need Debian's chromium and chromium-driver "
            "(.ci/run installs them)",
            allow_module_level=True,
        )
    pytest.importorskip("selenium")


@contextlib.contextmanager
def headless_chromium(profile: Path, *flags: str) -> Iterator[WebDriver]:
    """A headless Chromium with its own profile folder; quit on exit."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("CORTEX_REQUIRE_BROWSER=1 but chromium or chromedriver is not installed")
    from selenium import webdriver  # noqa: PLC0415 - only once the browser is known to exist
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415 - as above

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, *flags, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(WAIT)
        driver.set_script_timeout(WAIT)
        yield driver
    finally:
        driver.quit()
