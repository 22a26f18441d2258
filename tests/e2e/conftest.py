"""Browser tests: Playwright driving Chromium (Debian's, or Playwright's own) against a
live server."""

from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.e2e.browser import THE_COMMAND, find_chromium

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"


def pytest_collection_modifyitems(items):
    """Every test in this folder is a browser test."""
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session."""
    path, managed = find_chromium()
    if path is None:
        pytest.exit(f"No Chromium for the browser tests. Run: {THE_COMMAND}", returncode=3)
    with sync_playwright() as playwright:
        executable = None if managed else str(path)
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (no cookies) whose relative URLs go to the live server."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    yield page
    context.close()
    # A CSP violation or a script error is a bug even when the test's steps passed.
    real = [e for e in errors if "status of 4" not in e and "status of 5" not in e]
    assert not real, f"browser errors: {real}"


@pytest.fixture
def screenshot(page, request):
    """Save a full-page screenshot under tests/e2e/screenshots/ to look at."""

    def take(name):
        SCREENSHOTS.mkdir(exist_ok=True)
        db = (
            request.node.callspec.params.get("database", "db")
            if hasattr(request.node, "callspec")
            else "db"
        )
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{db}.png"), full_page=True)

    return take


@pytest.fixture
def sign_in(page):
    """Sign in through the login form in the browser."""
    from tests.conftest import PASSWORD

    def sign(email, password=PASSWORD):
        page.goto("/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()

    return sign
