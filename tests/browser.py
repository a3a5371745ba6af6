"""Helpers to drive the app in Debian's headless Chromium with Playwright."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = ROOT / "tests" / "artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, wait_s: float = 20) -> None:
    """Terminate a server process, killing it if it does not stop within `wait_s`."""
    proc.terminate()
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def app_server(home: Path, *options: str):
    """The app served on a free localhost port with its own home folder (plus Streamlit `options`)."""
    port = free_port()
    env = dict(os.environ, WINNOW_HOME=str(home), WINNOW_DEVICE="cpu")
    log = open(home.parent / f"streamlit-{port}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "scripts/serve.py", "--server.port", str(port), "--server.address", "127.0.0.1", *options],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("the app did not start: " + (home.parent / f"streamlit-{port}.log").read_text()[-2000:])
        yield url
    finally:
        stop(proc)
        log.close()
        from core.jobs.worker import stop_workers

        stop_workers(home, grace_s=0)


@contextmanager
def browser_page(width: int = 1400, height: int = 1000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


# The app root's own record of the script run, which Streamlit's e2e tests read too. The status
# widget it replaces shows only once a run has lasted 0.5 s, so under load settle() could return
# in the middle of a run that had not yet put it up.
_IDLE = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !!app && app.dataset.testConnectionState === 'CONNECTED' && app.dataset.testScriptState === 'notRunning';
}"""


def settle(page, timeout: float = 30_000) -> None:
    """Wait until Streamlit has finished the current script run."""
    # a widget's rerun starts when the server answers it: give it time to say "running"
    page.wait_for_timeout(300)
    page.wait_for_function(_IDLE, timeout=timeout)
    page.wait_for_timeout(200)


def open_app(page, url: str, title: str = "Data", timeout: float = 180_000) -> None:
    """First visit: wait for the page's title, however cold the machine (CI's first Chromium and first import are slow)."""
    page.goto(url, timeout=timeout)
    page.wait_for_selector(f"h1:has-text('{title}')", timeout=timeout)
    settle(page, timeout)


def goto(page, title: str) -> None:
    """Navigate with the sidebar, keeping the browser session (selection, name) alive."""
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    page.wait_for_selector(f"h1:has-text('{title}')")
    settle(page)


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def no_exceptions(page) -> None:
    errors = page.get_by_test_id("stException").all_inner_texts()
    assert not errors, errors[0]
