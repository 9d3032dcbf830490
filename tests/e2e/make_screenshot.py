"""Regenerate docs/board.png: `.venv/bin/python tests/e2e/make_screenshot.py`.

Starts the same throwaway server as the browser tests, fills a board as two
users and photographs it as the first one sees it.
"""
import sys
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.e2e import conftest as e2e  # noqa: E402

TASKS = [
    ("Draft the launch announcement", "in_progress", 3, 2, "bob"),
    ("Review the pricing page copy", "todo", 2, 5, "alice"),
    ("Fix the signup form on Safari", "todo", 3, 1, "bob"),
    ("Collect beta feedback", "todo", 1, None, None),
    ("Record the product demo", "in_progress", 2, 7, "alice"),
    ("Set up the status page", "done", 0, None, "bob"),
    ("Migrate the blog to the new theme", "done", 1, None, "alice"),
]


def main(out: Path) -> None:
    server = e2e.server_url.__wrapped__()
    url = next(server)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=e2e.CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            a = e2e.Session(browser, url, "alice")
            b = e2e.Session(browser, url, "bob")
            ws = e2e.create_workspace(a, "Website relaunch")
            e2e.add_member(a, ws, b)
            ids = {"alice": a.user_id, "bob": b.user_id}
            for title, status, priority, due_in, who in TASKS:
                body = {"title": title, "status": status, "priority": priority}
                if due_in is not None:
                    body["due_date"] = (date.today() + timedelta(days=due_in)).isoformat()
                if who:
                    body["assigned_to"] = ids[who]
                assert a.api("POST", f"/api/workspaces/{ws}/tasks/", body).status == 201
            page = e2e.open_board(a, ws)
            pb = e2e.open_board(b, ws)
            e2e.card(pb, "Fix the signup form on Safari").locator(".task-title").click()
            expect(e2e.card(page, "Fix the signup form on Safari").locator(".viewing")).to_be_visible()
            page.mouse.move(0, 0)
            page.wait_for_timeout(300)
            page.screenshot(path=str(out))
            browser.close()
    finally:
        next(server, None)


if __name__ == "__main__":
    main(ROOT / "docs" / "board.png")
