"""The operator console in a real headless Chromium: what an operator does, click by click.

One sandbox (SQLite; a delivery that fails once is a dead letter; the portal's breaker probes
again after one second) and one browser. Each step saves a screenshot under
``tests/artifacts/console``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.api_harness import Sandbox, register_dossier, running_sandbox
from tests.support.browser import artifacts_dir, chromium_driver
from tests.support.console import PASSWORD, add_operator


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, dev_keys: Path) -> Iterator[Sandbox]:
    """The adapter + mocks for the browser."""
    root = tmp_path_factory.mktemp("console_browser")
    with running_sandbox(
        root, dev_keys, worker_max_attempts=1, breaker_reset_seconds=1.0
    ) as running:
        yield running


@pytest.fixture(scope="module")
def names(sandbox: Sandbox) -> dict[str, str]:
    """One account per role."""
    found = {role: f"{role}-{uuid.uuid4().hex[:6]}" for role in ("viewer", "operator", "auditor")}
    for role, name in found.items():
        add_operator(sandbox.settings.resolved_database_url, name, role)
    return found


@pytest.fixture
def browser(chromium: tuple[str, str], tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium for one test (downloads go to ``tmp_path / "downloads"``)."""
    (tmp_path / "downloads").mkdir()
    with chromium_driver(*chromium, downloads=tmp_path / "downloads") as driver:
        yield driver


def _shot(driver: webdriver.Chrome, name: str) -> None:
    driver.save_screenshot(str(artifacts_dir() / f"{name}.png"))


def _login(driver: webdriver.Chrome, sandbox: Sandbox, name: str, password: str = PASSWORD) -> None:
    driver.get(sandbox.base_url + "/console/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    _submit(driver, driver.find_element(By.ID, "login"))


def _submit(driver: webdriver.Chrome, button: WebElement) -> None:
    """Click ``button`` and wait until the page it posts to has replaced this one and loaded.

    The old page is marked in its own window object, so "replaced" does not depend on how the
    browser reports a node of a document that is going away (Chromium may answer "stale", or
    "node does not belong to the document", or nothing while it unloads).
    """
    driver.execute_script("window.__lienthongOldPage = true;")
    button.click()
    WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(_new_page_loaded)


def _new_page_loaded(driver: webdriver.Chrome) -> bool:
    return bool(
        driver.execute_script(
            "return !window.__lienthongOldPage && document.readyState === 'complete';"
        )
    )


def _until(check: Callable[[], bool], seconds: float = 30.0, every: float = 0.2) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the page never showed what was expected")
        time.sleep(every)


def _text(driver: webdriver.Chrome, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def _sync_status(sandbox: Sandbox, code: str) -> str:
    with sandbox.client() as client:
        return str(client.get(f"/v1/dossiers/{code}").json()["sync"]["status"])


def test_operator_sees_an_outage_and_retries_a_dead_letter_until_delivered(
    sandbox: Sandbox, names: dict[str, str], browser: webdriver.Chrome
) -> None:
    """Log in; a portal outage shows on the overview (breaker open, failures); the dossiers
    registered meanwhile are dead letters; after the outage one is retried from the browser
    (with its confirmation dialog) and its page shows it delivered."""
    browser.get(sandbox.base_url + "/console/login")
    _shot(browser, "01-login")
    _login(browser, sandbox, names["operator"])
    assert _text(browser, "operator") == names["operator"]
    assert _text(browser, "readiness") in {"Sẵn sàng", "Chưa sẵn sàng"}

    sandbox.set_faults("portal", outage=True)
    try:
        with sandbox.client() as client:
            codes = [register_dossier(client) for _ in range(3)]
        _until(lambda: all(_sync_status(sandbox, code) == "dead" for code in codes))

        def portal_shows_trouble() -> bool:
            browser.refresh()
            row = browser.find_element(By.CSS_SELECTOR, 'tr[data-upstream="portal"]')
            return "bad" in (row.get_attribute("class") or "") and "—" not in row.text.split()[-1:]

        _until(portal_shows_trouble)
        _shot(browser, "02-overview-portal-outage")
        assert int(_text(browser, "dead")) >= 3
    finally:
        sandbox.clear_faults()
    time.sleep(1.2)  # the breaker may probe the portal again

    def retry_from_the_dead_letters() -> None:
        browser.get(sandbox.base_url + "/console/dead-letters")
        row = browser.find_element(By.XPATH, f'//tr[td/a[text()="{codes[0]}"]]')
        assert row.find_element(By.CLASS_NAME, "reason").text  # the reason is shown
        row.find_element(By.CLASS_NAME, "retry").click()
        browser.switch_to.alert.accept()
        assert "1" in _text(browser, "notice")

    browser.get(sandbox.base_url + "/console/dead-letters")
    _shot(browser, "03-dead-letters")
    retry_from_the_dead_letters()

    def delivered() -> bool:
        browser.get(sandbox.base_url + f"/console/dossiers/{codes[0]}")
        status = _text(browser, "sync")
        if status == "dead":
            # The retry met the breaker still open: another call (a read-back) had taken its
            # one half-open probe. The operator retries again, as the page lets them.
            retry_from_the_dead_letters()
        return status == "delivered"

    _until(delivered)
    _shot(browser, "04-dossier-delivered")
    assert codes[0] in browser.find_element(By.ID, "portal").text
    assert _sync_status(sandbox, codes[1]) == "dead"  # only the one retried


def test_a_form_without_its_csrf_token_is_refused(
    sandbox: Sandbox, names: dict[str, str], browser: webdriver.Chrome
) -> None:
    """The retry form stripped of its token (as a forged cross-site post would be) is refused
    and the dead letter stays dead."""
    sandbox.set_faults("portal", outage=True)
    try:
        with sandbox.client() as client:
            code = register_dossier(client)
        _until(lambda: _sync_status(sandbox, code) == "dead")
    finally:
        sandbox.clear_faults()
    _login(browser, sandbox, names["operator"])
    browser.get(sandbox.base_url + "/console/dead-letters")
    form = browser.find_element(By.XPATH, f'//tr[td/a[text()="{code}"]]//form')
    browser.execute_script(
        "arguments[0].querySelector('input[name=csrf]').remove();"
        "arguments[0].removeAttribute('data-confirm');",
        form,
    )
    _submit(browser, form.find_element(By.CLASS_NAME, "retry"))
    _shot(browser, "05-csrf-refused")
    assert _text(browser, "notice").startswith("Biểu mẫu đã hết hạn")
    assert _sync_status(sandbox, code) == "dead"


def test_a_viewer_is_refused_an_operator_action(
    sandbox: Sandbox, names: dict[str, str], browser: webdriver.Chrome
) -> None:
    """The viewer sees no retry buttons, and opening the retry-all page is refused."""
    _login(browser, sandbox, names["viewer"])
    browser.get(sandbox.base_url + "/console/dead-letters")
    assert not browser.find_elements(By.CLASS_NAME, "retry")
    browser.get(sandbox.base_url + "/console/dead-letters/retry-all")
    _shot(browser, "06-viewer-refused")
    assert "không được phép" in _text(browser, "notice")
    assert not browser.find_elements(By.LINK_TEXT, "Nhật ký tra cứu")  # no access-log link


def test_repeated_failed_logins_lock_the_account(
    sandbox: Sandbox, names: dict[str, str], browser: webdriver.Chrome
) -> None:
    """Five wrong passwords lock the account; then even the right one is refused for a while."""
    name = f"locked-{uuid.uuid4().hex[:6]}"
    add_operator(sandbox.settings.resolved_database_url, name, "viewer")
    for _ in range(4):
        _login(browser, sandbox, name, "not the right password")
        assert _text(browser, "notice") == "Sai tên đăng nhập hoặc mật khẩu."
    _login(browser, sandbox, name, "not the right password")
    assert "khóa" in _text(browser, "notice")
    _login(browser, sandbox, name)
    _shot(browser, "07-locked-out")
    assert "khóa" in _text(browser, "notice")
    assert "/console/login" in browser.current_url


def test_every_page_renders_for_an_auditor_in_both_languages(
    sandbox: Sandbox, names: dict[str, str], browser: webdriver.Chrome
) -> None:
    """The auditor's pages (access log search included) render; the English switch works and
    the session cookie has the hardened flags."""
    citizen = sandbox.citizens(1)[0]["citizen_id"]
    _login(browser, sandbox, names["auditor"])
    cookie = browser.get_cookie("lienthong_console")
    assert cookie is not None
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")
    browser.get(sandbox.base_url + "/console/access-log")
    browser.find_element(By.ID, "citizen_id").send_keys(citizen)
    _submit(browser, browser.find_element(By.CSS_SELECTOR, "#access-form button"))
    assert citizen not in browser.current_url
    _shot(browser, "08-access-log")
    for page in ("message-log", "clients", "audit", "dossiers"):
        browser.get(sandbox.base_url + f"/console/{page}")
        _shot(browser, f"09-{page}")
        assert browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.ID, "language").click()
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Overview")
    _shot(browser, "10-overview-english")
    browser.get(sandbox.base_url + "/console/audit")
    assert "access_log.view" in browser.find_element(By.ID, "audit").text


def test_the_timeliness_report_and_its_csv_download(
    sandbox: Sandbox, names: dict[str, str], browser: webdriver.Chrome, tmp_path: Path
) -> None:
    """The timeliness page shows the report by sector with its chart; the CSV link downloads
    a file whose total row counts the dossiers the table counts."""
    with sandbox.client() as client:
        register_dossier(client)
    _login(browser, sandbox, names["viewer"])
    browser.get(sandbox.base_url + "/console/timeliness?from=2026-01-01&to=2026-12-31")
    select = browser.find_element(By.ID, "group_by")
    select.find_element(By.CSS_SELECTOR, 'option[value="sector"]').click()
    _submit(browser, browser.find_element(By.CSS_SELECTOR, "#report-form button"))
    assert "group_by=sector" in browser.current_url
    assert browser.find_element(By.ID, "chart").is_displayed()
    total_row = browser.find_element(By.CSS_SELECTOR, "#report tr.total").text.split()
    _shot(browser, "11-timeliness")
    browser.find_element(By.ID, "csv").click()
    folder = tmp_path / "downloads"
    _until(lambda: any(f.suffix == ".csv" for f in folder.iterdir()))
    (csv_file,) = [f for f in folder.iterdir() if f.suffix == ".csv"]
    assert csv_file.name.startswith("timeliness-sector-2026-01-01-2026-12-31")
    last = csv_file.read_text(encoding="utf-8").splitlines()[-1].split(",")
    assert last[0] == "total"
    assert last[1] == total_row[1]  # received, as the page's total row says
