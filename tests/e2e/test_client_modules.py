"""The client modules on their own, in Chromium: LiveSocket (static/js/socket.js)
against a scripted fake WebSocket, and BoardStore (static/js/store.js) with a
fake transport. Fast and exact where the two-browser tests are end to end."""
import pytest

pytestmark = pytest.mark.browser

FAKE_WS = """
window.FakeWS = class FakeWS {
  constructor(url) {
    this.url = url; this.readyState = 0; this.sent = []; this.listeners = {};
    this.createdAt = performance.now();
    FakeWS.all.push(this);
    setTimeout(() => { if (this.readyState === 0) { this.readyState = 1; this.emit('open', {}); } }, 0);
  }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  emit(type, event) { for (const fn of this.listeners[type] || []) fn(event); }
  send(text) { this.sent.push(JSON.parse(text)); }
  close(code) { this.serverClose(code || 1000); }
  serverSend(msg) { this.emit('message', { data: JSON.stringify(msg) }); }
  serverClose(code) { if (this.readyState === 3) return; this.readyState = 3; this.emit('close', { code }); }
};
FakeWS.OPEN = 1; FakeWS.CONNECTING = 0; FakeWS.all = [];
window.WebSocket = FakeWS;
window.until = async (cond, ms = 3000) => {
  const end = performance.now() + ms;
  while (!cond()) { if (performance.now() > end) throw new Error('timed out: ' + cond); await new Promise((r) => setTimeout(r, 5)); }
};
"""


@pytest.fixture
def page(browser, server_url):
    context = browser.new_context(base_url=server_url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")
    page.add_script_tag(content=FAKE_WS)
    yield page
    context.close()


def test_socket_catch_up_dedupe_gap_and_resync(page):
    result = page.evaluate("""async () => {
      const { LiveSocket } = await import('/static/js/socket.js');
      const got = [], states = [];
      const s = new LiveSocket('/ws/workspaces/w1/', { catchUp: true, baseDelay: 10,
        onMessage: (m, info) => got.push([m.type, m.seq ?? null, info ? !!info.fresh : null]),
        onState: (st) => states.push(st) }).start();
      await until(() => FakeWS.all.length === 1);
      const first = FakeWS.all[0];
      first.serverSend({ type: 'hello', seq: 5, heartbeat_interval: 30, presence: [] });
      for (const seq of [6, 6, 5, 7]) first.serverSend({ type: 'task.updated', seq, data: {} });
      first.serverSend({ type: 'ack', op_id: 'x', seq: 99, data: {} });     // not an event: passed through
      first.serverSend({ type: 'task.updated', seq: 9, data: {} });        // gap: 8 is missing
      await until(() => FakeWS.all.length === 2);
      const second = FakeWS.all[1];
      second.serverSend({ type: 'hello', seq: 9 });
      second.serverSend({ type: 'task.created', seq: 8, data: {} });
      second.serverSend({ type: 'task.updated', seq: 9, data: {} });
      second.serverSend({ type: 'resync_required' });
      const afterResync = s.seq;
      second.serverSend({ type: 'task.deleted', seq: 10, data: {} });
      s.stop();
      return { urls: FakeWS.all.map((w) => w.url.replace(/^ws:\\/\\/[^/]+/, '')), got, states, afterResync, seq: s.seq };
    }""")
    assert result["urls"] == ["/ws/workspaces/w1/", "/ws/workspaces/w1/?since=7"]
    assert result["got"] == [
        ["hello", 5, True], ["task.updated", 6, None], ["task.updated", 7, None], ["ack", 99, None],
        ["_disconnected", None, None],
        ["hello", 9, False], ["task.created", 8, None], ["task.updated", 9, None], ["resync_required", None, None],
        ["task.deleted", 10, None], ["_disconnected", None, None],
    ]
    assert result["afterResync"] == 9 and result["seq"] == 10
    assert result["states"][:3] == ["connecting", "live", "reconnecting"] and result["states"][3] == "live"


def test_socket_backoff_grows_with_jitter_and_fatal_codes_stop(page):
    result = page.evaluate("""async () => {
      const { LiveSocket } = await import('/static/js/socket.js');
      const realRandom = Math.random;
      Math.random = () => 1;                 // the top of each jitter window
      const s = new LiveSocket('/ws/me/', { baseDelay: 40, maxDelay: 200 }).start();
      for (let i = 1; i <= 5; i++) {
        await until(() => FakeWS.all.length === i);
        FakeWS.all[i - 1].serverClose(1006);  // refused before hello
      }
      await until(() => FakeWS.all.length === 6);
      const gaps = FakeWS.all.slice(1).map((w, i) => w.createdAt - FakeWS.all[i].createdAt);
      Math.random = () => 0;                 // the bottom: at once
      const t = performance.now();
      FakeWS.all[5].serverSend({ type: 'hello' });
      FakeWS.all[5].serverClose(1006);
      await until(() => FakeWS.all.length === 7);
      const quick = performance.now() - t;
      Math.random = realRandom;
      let fatal = null;
      s.onFatal = (code) => { fatal = code; };
      FakeWS.all[6].serverSend({ type: 'hello' });
      FakeWS.all[6].serverClose(4404);
      await new Promise((r) => setTimeout(r, 150));
      const result = { gaps, quick, fatal, state: s.state, count: FakeWS.all.length };
      s.stop();
      return result;
    }""")
    gaps = result["gaps"]
    # random() = 1 puts each retry at the top of its window: 40, 80, 160, then capped at 200.
    # Timers never fire early, so the lower bounds are exact; the upper one shows the cap.
    for gap, window in zip(gaps, [40, 80, 160, 200, 200]):
        assert gap >= window - 2, gaps
    assert gaps[4] < 600, gaps   # uncapped it would be 640
    assert result["quick"] < 150
    assert result["fatal"] == 4404 and result["state"] == "closed" and result["count"] == 7


def test_socket_heartbeat_and_missing_ack_and_offline(page):
    result = page.evaluate("""async () => {
      const { LiveSocket } = await import('/static/js/socket.js');
      const states = [];
      const s = new LiveSocket('/ws/workspaces/w1/', { catchUp: true, baseDelay: 10, ackTimeoutMs: 200,
        onState: (st) => states.push(st) }).start();
      await until(() => FakeWS.all.length === 1);
      FakeWS.all[0].serverSend({ type: 'hello', seq: 3, heartbeat_interval: 1 });
      await until(() => FakeWS.all[0].sent.length === 1, 2500);
      const beat = FakeWS.all[0].sent[0];
      FakeWS.all[0].serverSend({ type: 'heartbeat.ack', seq: 3 });   // answered: stays
      await until(() => FakeWS.all[0].sent.length === 2, 2500);
      await until(() => FakeWS.all.length === 2, 1000);             // not answered: reconnects
      const url = FakeWS.all[1].url;
      FakeWS.all[1].serverSend({ type: 'hello', seq: 3, heartbeat_interval: 30 });
      FakeWS.all[1].serverSend({ type: 'heartbeat.ack', seq: 4 });   // the server is ahead: catch up
      await until(() => FakeWS.all.length === 3 && FakeWS.all[2].readyState === 1, 1000);
      FakeWS.all[2].serverSend({ type: 'hello', seq: 4, heartbeat_interval: 30 });
      const sendWhileLive = s.send({ type: 'heartbeat' });
      window.dispatchEvent(new Event('offline'));
      const offlineState = s.state, sendWhileOffline = s.send({ type: 'heartbeat' });
      window.dispatchEvent(new Event('online'));
      await until(() => FakeWS.all.length === 4, 1000);
      s.stop();
      return { beat, url, states, offlineState, sendWhileLive, sendWhileOffline };
    }""")
    assert result["beat"] == {"type": "heartbeat"}
    assert result["url"].endswith("/ws/workspaces/w1/?since=3")
    assert result["sendWhileLive"] is True and result["sendWhileOffline"] is False
    assert result["offlineState"] == "offline"
    assert "reconnecting" in result["states"] and result["states"][-1] == "reconnecting"


STORE_SETUP = """async () => {
  const { BoardStore } = await import('/static/js/store.js');
  window.sent = [];
  window.link = { up: false };
  window.problems = [];
  window.makeStore = () => new BoardStore({ workspaceId: 'w1', userId: 7,
    send: (m) => { if (!link.up) return false; sent.push(m); return true; },
    onProblem: (p) => problems.push({ code: p.code, fields: p.fields, current: p.current && p.current.title }) });
  window.task = (id, version, extra = {}) => ({ id, workspace: 'w1', title: id, description: '', status: 'todo',
    priority: 0, due_date: null, assigned_to: null, position: 1, created_by: 7, version, ...extra });
}"""


def test_store_offline_create_merge_ack_remap_and_reload(page):
    page.evaluate(STORE_SETUP)
    result = page.evaluate("""async () => {
      const s = makeStore();
      s.setSnapshot([task('a', 3)]);
      const tmp = s.create({ title: 'New', status: 'todo' });
      s.update(tmp, { priority: 2 });                 // merged into the unsent create
      s.update('a', { title: 'A1' });
      s.update('a', { status: 'done' });              // merged into the unsent update
      const offline = { ops: s.ops.map((o) => [o.type, o.data]), view: s.view().map((t) => [t.id.startsWith('tmp-') ? 'tmp' : t.id, t.title, t.status, t.pending]) };
      const stored = JSON.parse(localStorage.getItem(s.key)).ops.length;
      const reloaded = makeStore();                   // a reload of this tab
      reloaded.setSnapshot([task('a', 3)]);
      const afterReload = reloaded.view().map((t) => t.title);
      link.up = true;
      reloaded.flush();
      const first = sent.map((m) => [m.type, m.data]);
      reloaded.onAck({ type: 'ack', op_id: sent[0].op_id, seq: 4, data: task('n1', 1, { title: 'New', priority: 2, position: 2 }) });
      reloaded.onAck({ type: 'ack', op_id: sent[1].op_id, seq: 5, data: task('a', 4, { title: 'A1', status: 'done' }) });
      return { offline, stored, afterReload, first, second: sent.slice(1).map((m) => [m.type, m.data]),
               final: reloaded.view().map((t) => [t.id, t.title, t.status, t.pending]), left: reloaded.ops.length,
               storage: localStorage.getItem(reloaded.key) };
    }""")
    assert result["offline"]["ops"] == [
        ["task.create", {"title": "New", "status": "todo", "priority": 2}],
        ["task.update", {"id": "a", "version": 3, "title": "A1", "status": "done"}],
    ]
    assert sorted(result["offline"]["view"]) == [["a", "A1", "done", True], ["tmp", "New", "todo", True]]
    assert result["stored"] == 2 and sorted(result["afterReload"]) == ["A1", "New"]
    # One write in flight at a time.
    assert result["first"] == [["task.create", {"title": "New", "status": "todo", "priority": 2}]]
    assert result["second"] == [["task.update", {"id": "a", "version": 3, "title": "A1", "status": "done"}]]
    assert sorted(result["final"]) == [["a", "A1", "done", False], ["n1", "New", "todo", False]]
    assert result["left"] == 0 and result["storage"] is None


def test_store_rebase_own_event_conflict_and_tmp_delete(page):
    page.evaluate(STORE_SETUP)
    result = page.evaluate("""async () => {
      link.up = true;
      const s = makeStore();
      s.setSnapshot([task('a', 1), task('b', 1)]);
      s.update('a', { title: 'one' });               // sent, base 1
      s.update('a', { title: 'two' });               // queued, base 1
      s.onAck({ type: 'ack', op_id: sent[0].op_id, seq: 2, data: task('a', 2, { title: 'one' }) });
      const rebased = sent[1].data.version;          // our own write moved it to 2
      // Our own event (by op_id) confirms before the ack does; the late ack is ignored.
      s.applyEvent({ type: 'task.updated', seq: 3, op_id: sent[1].op_id, actor: { id: 7 },
                     data: { ...task('a', 3, { title: 'two' }), changed: ['title'] } });
      s.onAck({ type: 'ack', op_id: sent[1].op_id, seq: 3, data: task('a', 3, { title: 'two' }) });
      const afterOwn = s.view().find((t) => t.id === 'a');
      // Someone else's event for b, then our stale edit of b conflicts and rolls back.
      s.update('b', { title: 'mine' }, 1);
      s.onError({ type: 'error', op_id: sent[2].op_id, code: 'conflict', detail: 'x',
                  data: { current: task('b', 2, { title: 'theirs' }), fields: ['title'] } });
      const b = s.view().find((t) => t.id === 'b');
      // A create deleted before it was sent never reaches the server.
      link.up = false;
      const tmp = s.create({ title: 'gone' });
      s.remove(tmp);
      link.up = true; s.flush();
      // An older event never overwrites a newer state.
      s.applyEvent({ type: 'task.updated', seq: 9, op_id: null, actor: { id: 8 }, data: { ...task('a', 2, { title: 'old' }), changed: [] } });
      return { rebased, afterOwn: [afterOwn.title, afterOwn.version, afterOwn.pending], b: [b.title, b.pending],
               problems, sentCount: sent.length, ops: s.ops.length, a: s.view().find((t) => t.id === 'a').title };
    }""")
    assert result["rebased"] == 2
    assert result["afterOwn"] == ["two", 3, False]
    assert result["b"] == ["theirs", False]
    assert result["problems"] == [{"code": "conflict", "fields": ["title"], "current": "theirs"}]
    assert result["sentCount"] == 3 and result["ops"] == 0 and result["a"] == "two"


def test_store_adopts_a_closed_tabs_outbox(page):
    page.evaluate(STORE_SETUP)
    result = page.evaluate("""async () => {
      const op = { op_id: 'left-behind', type: 'task.update', data: { id: 'a', version: 1, title: 'x' }, sent: true };
      localStorage.setItem('collab.outbox.w1.7.oldtab', JSON.stringify({ touched: Date.now() - 60000, ops: [op] }));
      localStorage.setItem('collab.outbox.w1.7.livetab', JSON.stringify({ touched: Date.now(), ops: [{ ...op, op_id: 'live' }] }));
      localStorage.setItem('collab.outbox.w1.8.oldtab', JSON.stringify({ touched: 0, ops: [{ ...op, op_id: 'other-user' }] }));
      const s = makeStore();
      return { ops: s.ops.map((o) => o.op_id), keys: Object.keys(localStorage).filter((k) => k.startsWith('collab.outbox.')).sort() };
    }""")
    assert result["ops"] == ["left-behind"]
    assert "collab.outbox.w1.7.oldtab" not in result["keys"]
    assert {"collab.outbox.w1.7.livetab", "collab.outbox.w1.8.oldtab"} <= set(result["keys"])
