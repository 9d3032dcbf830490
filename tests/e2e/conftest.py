"""Browser tests: one real Daphne server (SQLite + in-memory layer, one
process) and headless Chromium driven by Playwright."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
PASSWORD = "a-Long-pass-phrase-42"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX", "COVERAGE_PROCESS_START"}}
    env.update({
        "SECRET_KEY": "e2e-only-" + uuid.uuid4().hex,
        "DEBUG": "0",
        "SQLITE_PATH": str(tmp / "db.sqlite3"),
        "STATIC_ROOT": str(tmp / "static"),
        "WS_CONNECTS_PER_MINUTE": "1000",
        "WS_MESSAGES_PER_MINUTE": "1000",
        "API_USER_RATE": "100000/min",
        "API_ANON_RATE": "100000/min",
        "LOG_LEVEL": "WARNING",
    })
    return env


@pytest.fixture(scope="package")
def server_url():
    tmp = Path(tempfile.mkdtemp(prefix="collab_e2e_"))
    env = _server_env(tmp)
    python = sys.executable
    # Both at once: each takes seconds and they touch different files.
    prep = [subprocess.Popen([python, "manage.py", *command], cwd=ROOT, env=env)
            for command in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"])]
    for proc in prep:
        assert proc.wait(timeout=180) == 0, "migrate or collectstatic failed"
    port = _free_port()
    log = open(tmp / "daphne.log", "wb")
    proc = subprocess.Popen([python, "-m", "collab_project.daphne", "-b", "127.0.0.1", "-p", str(port),
                             "collab_project.asgi:application"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"daphne exited: {(tmp / 'daphne.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/accounts/login/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("daphne did not become ready within 30 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM,
                                      args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()


class Session:
    """One user in one browser context."""

    def __init__(self, browser, base_url: str, username: str):
        self.username = username
        self.base_url = base_url
        self.context = browser.new_context(base_url=base_url, viewport={"width": 1440, "height": 900})
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        response = self.context.request.post("/api/auth/register/",
                                             data={"username": username, "password": PASSWORD})
        assert response.status == 201, response.text()
        self.user_id = response.json()["id"]
        self.page.goto("/accounts/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(base_url + "/")

    def api(self, method: str, path: str, data=None):
        """A REST call with this user's session (and the CSRF header)."""
        csrf = next((c["value"] for c in self.context.cookies() if c["name"] == "csrftoken"), "")
        response = self.context.request.fetch(path, method=method, data=data,
                                              headers={"X-CSRFToken": csrf, "Referer": self.base_url + "/"})
        return response

    def close(self):
        # Leave the app first: Chromium 156 sometimes never answers
        # Target.disposeBrowserContext for a context whose page still holds
        # its WebSockets open (seen as a hang in the fixture's teardown).
        for page in self.context.pages:
            try:
                page.goto("about:blank", timeout=5_000)
            except Exception:  # noqa: BLE001 - a page already gone or navigating: close anyway
                pass
        self.context.close()


@pytest.fixture
def session(browser, server_url):
    opened = []

    def make(prefix: str = "user") -> Session:
        s = Session(browser, server_url, f"{prefix}_{uuid.uuid4().hex[:8]}")
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


# -- helpers shared by the browser tests ------------------------------------------------------

def create_workspace(s: Session, name: str) -> str:
    s.page.goto("/")
    s.page.fill("#id_name", name)
    s.page.click("#workspace-create button[type=submit]")
    s.page.wait_for_url("**/workspaces/*/")
    return s.page.url.rstrip("/").rsplit("/", 1)[-1]


def add_member(owner: Session, ws: str, member: Session, role: str = "member") -> None:
    response = owner.api("POST", f"/api/workspaces/{ws}/members/", {"username": member.username, "role": role})
    assert response.status == 201, response.text()


def open_board(s: Session, ws: str, page=None):
    from playwright.sync_api import expect

    page = page or s.page
    page.goto(f"/workspaces/{ws}/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    return page


def card(page, title: str):
    return page.locator(".task").filter(has=page.get_by_text(title, exact=True))


def add_task(page, title: str, status: str = "todo"):
    page.fill(f"#add-{status}", title)
    page.press(f"#add-{status}", "Enter")


def events(s: Session, ws: str) -> list[dict]:
    response = s.api("GET", f"/api/workspaces/{ws}/events/?since=0&limit=1000")
    assert response.status == 200, response.text()
    return response.json()["results"]
