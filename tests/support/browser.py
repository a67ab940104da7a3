"""A real headless Chromium (Debian's, driven by its chromedriver through Selenium) for e2e tests.

Nothing is downloaded: the browser and the driver are the installed ones. The flags keep the
browser off the network but for the pages it is pointed at. Screenshots go to
``tests/artifacts/console`` (or ``LIENTHONG_TEST_ARTIFACTS``), to be looked at after a run.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[2]
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1366,900",
)


def artifacts_dir() -> Path:
    """Where screenshots of this run go (made if missing)."""
    folder = Path(os.environ.get("LIENTHONG_TEST_ARTIFACTS", ROOT / "tests" / "artifacts"))
    folder = folder / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium_driver(
    browser: str, driver: str, *, downloads: Path | None = None
) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile (saving downloads in ``downloads``), quit at the
    end of the block."""
    with tempfile.TemporaryDirectory(prefix="lienthong-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        chrome = webdriver.Chrome(service=Service(executable_path=driver), options=options)
        chrome.set_page_load_timeout(30)
        chrome.implicitly_wait(10)  # an element a submitted form brings is waited for
        if downloads is not None:
            chrome.execute_cdp_cmd(
                "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
            )
        try:
            yield chrome
        finally:
            chrome.quit()
