"""The admin in a real browser: Playwright drives Debian's headless chromium against pytest-django's live server.

`scripts/test` installs chromium when /usr/bin/chromium is missing (Playwright's own browser download is not used).
A failed test leaves a screenshot of its page in var/test-screenshots/.
"""

import os
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "test-screenshots"
PASSWORD = "correct horse battery staple"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so that the page fixture knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def browser():
    """One chromium for all the browser tests; stopped after the last of them (see below)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run the tests with scripts/test, which installs Debian's chromium")
    # Playwright's sync API keeps an asyncio event loop running in the test thread while it is started, and Django
    # refuses ORM calls from a thread with a running loop (SynchronousOnlyOperation). Nothing runs concurrently here:
    # the loop only turns during a Playwright call, and the tests and fixtures use the database between those calls.
    # So the check is turned off, and only while Playwright runs: it stops with the last browser test of the package,
    # and the rest of the suite runs with neither the loop nor the variable.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        # Chromium's sandbox cannot start as root (CI runs as root).
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _plain_http_cookies(settings):
    """The live server speaks plain HTTP: the browser must send the session and CSRF cookies back over it."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


@pytest.fixture
def page(browser, live_server, request):
    """A fresh page (own cookies and storage) on the live server; a screenshot is saved if the test fails."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    failed = [getattr(request.node, f"report_{when}", None) for when in ("setup", "call")]
    if any(report is not None and report.failed for report in failed):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    context.close()


@pytest.fixture
def staff_user(transactional_db):
    return get_user_model().objects.create_user(
        "operator", password=PASSWORD, is_staff=True, is_superuser=True, email="operator@example.com"
    )


@pytest.fixture
def admin_page(page, staff_user, live_server):
    """A page whose browser is logged in as the staff user (the login form itself is tested once)."""
    client = Client()
    client.force_login(staff_user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
    return page


def add_form_ready(page) -> None:
    """Wait until the admin's add form has focused its first field, before filling any of them.

    Django loads admin/js/change_form.js with `async`, and on an add form it focuses the first field whenever it
    runs. Run after a fill has begun, it moves the focus mid-fill, and the rest of the text lands in the first field.
    """
    page.wait_for_function("() => document.activeElement?.form != null")
