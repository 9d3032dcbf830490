"""A viewer gets no edit controls and the socket refuses their writes; user
text renders as text everywhere; the board reads on a phone-sized screen."""
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import add_member, add_task, card, create_workspace, open_board

pytestmark = pytest.mark.browser
LIVE = 2000
XSS = "<img src=x onerror=alert(1)>"

SOCKET_WRITE_JS = """(ws) => new Promise((resolve, reject) => {
  const sock = new WebSocket(`ws://${location.host}/ws/workspaces/${ws}/`);
  const timer = setTimeout(() => reject(new Error('no answer')), 5000);
  sock.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === 'hello') sock.send(JSON.stringify({ type: 'task.create', op_id: 'viewer-try', data: { title: 'nope' } }));
    else if (msg.op_id === 'viewer-try') { clearTimeout(timer); sock.close(); resolve(msg); }
  };
})"""


def test_viewer_cannot_edit_and_user_text_is_inert(session):
    a, v = session("alice"), session("viola")
    ws_name = "<b>Ops</b> & <script>alert(3)</script>"
    ws = create_workspace(a, ws_name)
    add_member(a, ws, v, role="viewer")
    pa = open_board(a, ws)
    add_task(pa, XSS)
    card(pa, XSS).locator(".task-title").click()
    pa.fill("#task-description", "<script>alert(2)</script> hello @nobody")
    pa.click("#task-save")

    pv = open_board(v, ws)
    v_card = card(pv, XSS)
    expect(v_card).to_be_visible()
    expect(v_card.locator(".task-desc")).to_have_text("<script>alert(2)</script> hello @nobody", timeout=LIVE)
    expect(pv.locator("#ws-title")).to_have_text(ws_name)
    assert pv.locator("#board img, #activity img, #board script").count() == 0
    expect(pv.locator("#activity")).to_contain_text(XSS)

    # No edit controls for a viewer.
    expect(pv.locator("#my-role")).to_have_text("viewer")
    for form in pv.locator(".add-form").all():
        expect(form).to_be_hidden()
    expect(pv.locator(".task-actions")).to_have_count(0)
    assert v_card.get_attribute("draggable") is None
    v_card.locator(".task-title").click()
    expect(pv.locator("#task-dialog-title")).to_have_text("Task details")
    expect(pv.locator("#task-save")).to_be_hidden()
    expect(pv.locator("#task-delete")).to_be_hidden()
    expect(pv.locator("#task-title")).to_be_disabled()
    pv.keyboard.press("Escape")
    v_card.focus()
    pv.keyboard.press("Alt+ArrowRight")
    expect(pv.locator("#col-todo .task")).to_have_count(1)

    # An attempt through the socket itself is refused.
    reply = pv.evaluate(SOCKET_WRITE_JS, ws)
    assert reply["type"] == "error" and reply["code"] == "forbidden"

    # Promoted live: the controls appear without a reload.
    response = a.api("PATCH", f"/api/workspaces/{ws}/members/{v.user_id}/", {"role": "member"})
    assert response.status == 200, response.text()
    expect(pv.locator("#my-role")).to_have_text("member", timeout=LIVE)
    expect(pv.locator(".add-form").first).to_be_visible()

    # The workspace list shows the name as text too.
    v.page.goto("/")
    expect(v.page.get_by_text(ws_name, exact=True)).to_be_visible()
    assert v.page.locator(".ws-list b, .ws-list script").count() == 0
    assert a.dialogs == [] and v.dialogs == []


def test_board_reads_on_a_phone(browser, server_url, session):
    a = session("alice")
    ws = create_workspace(a, "Pocket")
    phone = browser.new_context(base_url=server_url, viewport={"width": 390, "height": 844}, is_mobile=True,
                                has_touch=True, storage_state=a.context.storage_state())
    try:
        page = phone.new_page()
        open_board(a, ws, page=page)
        add_task(page, "Check on the go")
        expect(card(page, "Check on the go")).to_be_visible()
        expect(card(page, "Check on the go").locator("[data-action=right]")).to_be_visible()
        todo = page.locator("#col-todo").bounding_box()
        done = page.locator("#col-done").bounding_box()
        assert abs(todo["x"] - done["x"]) < 2 and done["y"] > todo["y"]
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        card(page, "Check on the go").locator("[data-action=right]").tap()
        expect(page.locator("#col-in_progress .task")).to_have_count(1)
    finally:
        phone.close()
