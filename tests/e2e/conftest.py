"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Run only these with `make test PYTEST_ARGS=tests/e2e`. Screenshots of each step go to
tests/e2e/screenshots/ (not in git). Without /usr/bin/chromium the tests skip and say why;
.ci/run installs it, so CI always runs them.
"""

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import login_with_mfa
from tests.responses.conftest import celery_worker, worker_keys  # noqa: F401 - the real worker, the pool keys

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(
            "browser tests need Debian's Chromium at /usr/bin/chromium "
            "(apt-get install -y --no-install-recommends chromium); .ci/run installs it"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extras")
    # Playwright's sync API keeps an asyncio loop running in this thread; Django then refuses ORM
    # calls from it (a guard against real async code). The tests are synchronous, so lift the guard
    # exactly while the browser runs.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def _plain_http_cookies(settings):
    # The live server speaks plain HTTP; production cookies are Secure.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


@pytest.fixture
def login(browser, live_server, client):
    """Open a browser context logged in as `user` (a session made by Django's test client; `mfa=True`
    for staff)."""
    from django.conf import settings

    contexts = []

    def open_as(user, *, mfa=False, **context_options):
        # Staff pages want a session that passed MFA (tests/conftest.py::login_with_mfa).
        if mfa:
            login_with_mfa(client, user)
        else:
            client.force_login(user)
        context = browser.new_context(base_url=live_server.url, **context_options)
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                }
            ]
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_as
    for context in contexts:
        context.close()


@pytest.fixture
def shot(request):
    """Save a full-page screenshot of a step as tests/e2e/screenshots/<test>-<nn>-<step>.png."""
    SCREENSHOTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name)
    count = 0

    def take(page, step: str) -> Path:
        nonlocal count
        count += 1
        path = SCREENSHOTS / f"{name}-{count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core from node_modules (package.json); `make install` runs npm ci, this is the fallback."""
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(
                "axe-core is not installed and npm is missing: run `npm ci` for the accessibility tests"
            )
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True, timeout=300)
    return AXE.read_text(encoding="utf-8")
