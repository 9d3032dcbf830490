"""Signup, invite links, joining, members management and 404 for outsiders."""
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD, create_workspace, open_board

pytestmark = pytest.mark.browser


def test_invite_signup_join_and_manage_members(browser, server_url, session):
    a = session("alice")
    ws = create_workspace(a, "Garden club")
    pa = a.page
    pa.goto(f"/workspaces/{ws}/members/")
    expect(pa.locator(f".member[data-user-id='{a.user_id}']")).to_contain_text("owner")
    pa.select_option("#invite-role", "member")
    pa.fill("#invite-max", "1")
    pa.fill("#invite-exp", "2")
    pa.click("#invite-form button[type=submit]")
    expect(pa.locator("#invite-url")).to_have_value(re.compile(r"/join/[^/]+/$"))
    link = pa.input_value("#invite-url")
    expect(pa.locator("#invite-list .invite")).to_have_count(1)
    expect(pa.locator("#invite-list .invite")).to_contain_text("0 / 1 uses")
    pa.click("#invite-copy")
    expect(pa.locator(".toast", has_text="copied")).to_be_visible()

    # A visitor follows the link: login with next, then sign up from there.
    visitor = browser.new_context(base_url=server_url)
    try:
        page = visitor.new_page()
        path = re.sub(r"^https?://[^/]+", "", link)
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/join/"))
        page.click("text=Sign up")
        page.fill("#id_username", "newbie_gardener")
        page.fill("#id_password1", PASSWORD)
        page.fill("#id_password2", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(re.compile(r"/join/"))
        expect(page.locator("h1")).to_have_text("Garden club")
        page.click("#join-button")
        expect(page).to_have_url(re.compile(rf"/workspaces/{ws}/$"))
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        expect(page.locator("#my-role")).to_have_text("member")
    finally:
        visitor.close()

    # The invite is used up; the owner manages the new member on the members page.
    pa.reload()
    expect(pa.locator("#invite-list .invite")).to_contain_text("1 / 1 uses")
    row = pa.locator(".member", has_text="newbie_gardener")
    row.locator("select").select_option("viewer")
    expect(pa.locator(".toast", has_text="is now viewer")).to_be_visible()
    members = a.api("GET", f"/api/workspaces/{ws}/members/").json()
    assert {m["user"]["username"]: m["role"] for m in members}["newbie_gardener"] == "viewer"
    row = pa.locator(".member", has_text="newbie_gardener")
    row.get_by_role("button", name="Remove").click()
    row.get_by_role("button", name="Confirm").click()
    expect(pa.locator(".member", has_text="newbie_gardener")).to_have_count(0)
    pa.locator("#invite-list .invite").get_by_role("button", name="Revoke").click()
    pa.locator("#invite-list .invite").get_by_role("button", name="Confirm").click()
    expect(pa.locator("#invite-list .invite")).to_contain_text("revoked")

    # An outsider gets 404 on the workspace's pages.
    m = session("mallory")
    assert m.page.goto(f"/workspaces/{ws}/").status == 404
    assert m.page.goto(f"/workspaces/{ws}/members/").status == 404

    # Added by username, then made owner: the old owner is an admin and may leave.
    pa.fill("#member-add-name", m.username)
    pa.click("#member-add button[type=submit]")
    row = pa.locator(f".member[data-user-id='{m.user_id}']")
    expect(row).to_be_visible()
    expect(pa.locator("#leave-btn")).to_be_hidden()
    row.get_by_role("button", name="Make owner").click()
    row.get_by_role("button", name="Confirm").click()
    expect(pa.locator("#my-role")).to_have_text("admin")
    expect(pa.locator(f".member[data-user-id='{m.user_id}']")).to_contain_text("owner")
    pa.click("#leave-btn")
    pa.click("#leave-btn")
    expect(pa).to_have_url(re.compile(r"/$"))
    assert a.api("GET", f"/api/workspaces/{ws}/").status == 404
