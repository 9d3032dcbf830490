"""Going offline: catch-up on return, offline edits kept across a reload and
applied exactly once, and a conflict found on reconnect is shown."""
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import add_member, add_task, card, create_workspace, events, open_board

pytestmark = pytest.mark.browser
LIVE = 2000

OUTBOX_JS = """() => Object.keys(localStorage).filter((k) => k.startsWith('collab.outbox.'))
  .flatMap((k) => JSON.parse(localStorage.getItem(k)).ops)"""

RESEND_JS = """(op) => new Promise((resolve, reject) => {
  const socket = window.collab.socket;
  const original = socket.onMessage;
  const timer = setTimeout(() => reject(new Error('no answer to the resend')), 5000);
  socket.onMessage = (msg, info) => {
    original(msg, info);
    if ((msg.type === 'ack' || msg.type === 'error') && msg.op_id === op.op_id) {
      clearTimeout(timer); socket.onMessage = original; resolve(msg);
    }
  };
  if (!socket.send({ type: op.type, op_id: op.op_id, data: op.data })) reject(new Error('socket not live'));
})"""


def rename(page, old: str, new: str):
    card(page, old).locator(".task-title").click()
    page.fill("#task-title", new)
    page.click("#task-save")


def test_offline_catch_up_and_offline_edits_apply_once(session):
    a, b = session("alice"), session("bob")
    ws = create_workspace(a, "Field trip")
    add_member(a, ws, b)
    pa = open_board(a, ws)
    pb = open_board(b, ws)
    add_task(pa, "Pack the van")
    add_task(pa, "Book the ferry")
    expect(card(pb, "Book the ferry")).to_be_visible(timeout=LIVE)

    # B goes offline, A edits, B comes back and catches up without a reload.
    b.context.set_offline(True)
    expect(pb.locator("#conn")).to_have_attribute("data-state", "offline")
    rename(pa, "Pack the van", "Pack the van tonight")
    expect(card(pa, "Pack the van tonight")).not_to_have_class(re.compile("is-pending"), timeout=LIVE)
    b.context.set_offline(False)
    expect(pb.locator("#conn")).to_have_attribute("data-state", "live", timeout=LIVE)
    expect(card(pb, "Pack the van tonight")).to_be_visible(timeout=LIVE)

    # B edits while offline: shown at once, marked, kept in localStorage.
    b.context.set_offline(True)
    expect(pb.locator("#conn")).to_have_attribute("data-state", "offline")
    rename(pb, "Book the ferry", "Book the early ferry")
    b_card = card(pb, "Book the early ferry")
    expect(b_card).to_have_class(re.compile("is-pending"))
    expect(b_card.locator(".sync-badge")).to_have_text("Offline edit")
    expect(pb.locator("#pending-note")).to_have_text("1 change waiting to sync")
    outbox = pb.evaluate(OUTBOX_JS)
    assert [op["type"] for op in outbox] == ["task.update"]
    op = outbox[0]
    assert op["data"]["title"] == "Book the early ferry"
    expect(card(pa, "Book the early ferry")).to_have_count(0)

    # The tab is reloaded (same tab: same sessionStorage) once the network is back.
    tab = pb.evaluate("sessionStorage.getItem('collab.tab')")
    pb.close()
    b.context.set_offline(False)
    pb = b.context.new_page()
    pb.add_init_script(f"sessionStorage.setItem('collab.tab', {tab!r})")
    open_board(b, ws, page=pb)
    expect(card(pb, "Book the early ferry")).to_be_visible(timeout=LIVE)
    expect(card(pa, "Book the early ferry")).to_have_count(1, timeout=LIVE)
    expect(card(pb, "Book the early ferry")).not_to_have_class(re.compile("is-pending"), timeout=LIVE)
    assert pb.evaluate(OUTBOX_JS) == []

    applied = [e for e in events(a, ws) if e["op_id"] == op["op_id"]]
    assert [e["type"] for e in applied] == ["task.updated"]
    assert applied[0]["data"]["title"] == "Book the early ferry"

    # The same op sent again (as after a lost ack) gets the first answer, not a second write.
    reply = pb.evaluate(RESEND_JS, op)
    assert reply["type"] == "ack" and reply["seq"] == applied[0]["seq"]
    assert len([e for e in events(a, ws) if e["op_id"] == op["op_id"]]) == 1
    expect(card(pa, "Book the early ferry")).to_have_count(1)

    # A conflict found on reconnect is shown, with the current version.
    b.context.set_offline(True)
    expect(pb.locator("#conn")).to_have_attribute("data-state", "offline")
    rename(pb, "Pack the van tonight", "Pack the car")
    rename(pa, "Pack the van tonight", "Pack the truck")
    expect(card(pa, "Pack the truck")).not_to_have_class(re.compile("is-pending"), timeout=LIVE)
    b.context.set_offline(False)
    conflict = pb.locator(".toast-conflict")
    expect(conflict).to_be_visible(timeout=LIVE)
    expect(conflict).to_contain_text("Pack the truck")
    expect(card(pb, "Pack the truck")).to_be_visible()
    expect(card(pb, "Pack the car")).to_have_count(0)
    expect(card(pa, "Pack the car")).to_have_count(0)

    # A resync_required (here: asking for events after a seq the server never had)
    # reloads the tasks, and live updates carry on.
    pb.evaluate("() => { window.collab.socket.seq = 10 ** 9; window.collab.socket._drop(); }")
    expect(pb.locator("#conn")).to_have_attribute("data-state", "live", timeout=LIVE)
    add_task(pa, "After the resync")
    expect(card(pb, "After the resync")).to_be_visible(timeout=LIVE)
    assert pb.evaluate("window.collab.socket.seq") < 10 ** 9
    assert b.errors == [] and a.errors == []
