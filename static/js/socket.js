// LiveSocket: the one client for our WebSockets.
//
// - reconnects with exponential backoff and full jitter (and at once when the
//   browser comes back online or the tab becomes visible);
// - with `catchUp`, remembers the last event seq and reconnects with
//   ?since=<seq>, drops events it already has (dedupe by seq) and reports a
//   gap or `resync_required` so the page reloads its state;
// - sends a heartbeat every `heartbeat_interval` from hello and treats a
//   missing answer as a dead connection;
// - reports its state: connecting | live | reconnecting | offline | closed.

const EVENT_TYPE = /^(task|member|workspace)\./;
const FATAL = new Set([4400, 4401, 4403, 4404]);

export class LiveSocket {
  constructor(path, { catchUp = false, onMessage = () => {}, onState = () => {}, onFatal = () => {},
                      baseDelay = 500, maxDelay = 15000, ackTimeoutMs = 10000 } = {}) {
    this.path = path;
    this.catchUp = catchUp;
    this.onMessage = onMessage;
    this.onState = onState;
    this.onFatal = onFatal;
    this.baseDelay = baseDelay;
    this.maxDelay = maxDelay;
    this.ackTimeoutMs = ackTimeoutMs;
    this.seq = null;          // last event seq applied (catchUp only)
    this.helloSeq = null;
    this.ws = null;
    this.state = "idle";
    this.attempt = 0;
    this.timers = {};
    this.stopped = false;
    this.ready = false;       // hello received on the current connection
    this._onOnline = () => this.reconnectNow();
    this._onOffline = () => this._goOffline();
    this._onVisible = () => { if (document.visibilityState === "visible") this.reconnectNow(); };
    window.addEventListener("online", this._onOnline);
    window.addEventListener("offline", this._onOffline);
    document.addEventListener("visibilitychange", this._onVisible);
  }

  start() {
    this.stopped = false;
    this._connect();
    return this;
  }

  stop() {
    this.stopped = true;
    this._clearTimers();
    window.removeEventListener("online", this._onOnline);
    window.removeEventListener("offline", this._onOffline);
    document.removeEventListener("visibilitychange", this._onVisible);
    if (this.ws) this.ws.close(1000);
  }

  // Send a message object; false when not connected (the caller keeps it).
  send(message) {
    if (!this.ready || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  reconnectNow() {
    if (this.stopped || this.state === "closed") return;
    if (this.ws && (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)) return;
    clearTimeout(this.timers.retry);
    this.attempt = 0;
    this._connect();
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.onState(state);
  }

  _url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let url = `${scheme}://${location.host}${this.path}`;
    if (this.catchUp && this.seq !== null) url += `?since=${this.seq}`;
    return url;
  }

  _connect() {
    if (this.stopped) return;
    if (navigator.onLine === false) { this._goOffline(); return; }
    this._setState(this.attempt === 0 && this.seq === null && this.state === "idle" ? "connecting" : "reconnecting");
    this.ready = false;
    const ws = new WebSocket(this._url());
    this.ws = ws;
    ws.addEventListener("message", (e) => { if (ws === this.ws) this._receive(e.data); });
    ws.addEventListener("close", (e) => { if (ws === this.ws) this._closed(e.code); });
  }

  _receive(text) {
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    if (!msg || typeof msg !== "object") return;
    clearTimeout(this.timers.ackWait);
    if (msg.type === "hello") return this._hello(msg);
    if (msg.type === "heartbeat.ack") {
      // The server delivered past what we hold: something was lost, catch up.
      if (this.catchUp && typeof msg.seq === "number" && this.seq !== null && msg.seq > this.seq) this._drop();
      return;
    }
    if (msg.type === "resync_required") {
      this.seq = this.helloSeq;
      this.onMessage(msg);
      return;
    }
    if (this.catchUp && EVENT_TYPE.test(msg.type) && typeof msg.seq === "number") {
      if (this.seq !== null && msg.seq <= this.seq) return;            // already applied
      if (this.seq !== null && msg.seq > this.seq + 1) { this._drop(); return; }  // gap: catch up by since
      this.seq = msg.seq;
    }
    this.onMessage(msg);
  }

  _hello(msg) {
    this.ready = true;
    this.attempt = 0;
    this.helloSeq = typeof msg.seq === "number" ? msg.seq : null;
    const fresh = this.catchUp && this.seq === null;
    if (fresh) this.seq = this.helloSeq;
    this._setState("live");
    this._startHeartbeat((msg.heartbeat_interval || 30) * 1000);
    this.onMessage(msg, { fresh });
  }

  _startHeartbeat(intervalMs) {
    clearInterval(this.timers.beat);
    this.timers.beat = setInterval(() => {
      if (!this.send({ type: "heartbeat" })) return;
      clearTimeout(this.timers.ackWait);
      this.timers.ackWait = setTimeout(() => this._drop(), this.ackTimeoutMs);
    }, Math.max(1000, intervalMs));
  }

  // Abandon the current connection and reconnect (with since).
  _drop() {
    const ws = this.ws;
    this.ws = null;
    if (ws) try { ws.close(4000); } catch { /* already closed */ }
    this._closed(4000);
  }

  _goOffline() {
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    this._clearTimers();
    if (ws) try { ws.close(4000); } catch { /* already closed */ }
    this._setState("offline");
    this.onMessage({ type: "_disconnected" });
  }

  _closed(code) {
    this.ready = false;
    this.ws = null;
    this._clearTimers();
    this.onMessage({ type: "_disconnected", code });
    if (this.stopped) return;
    if (FATAL.has(code)) {
      this._setState("closed");
      this.onFatal(code);
      return;
    }
    if (navigator.onLine === false) { this._setState("offline"); return; }
    this._setState("reconnecting");
    const cap = Math.min(this.maxDelay, this.baseDelay * 2 ** this.attempt);
    const floor = code === 4429 ? 5000 : 0;
    const delay = Math.max(floor, Math.random() * cap);   // full jitter
    this.attempt = Math.min(this.attempt + 1, 10);
    this.timers.retry = setTimeout(() => this._connect(), delay);
  }

  _clearTimers() {
    clearInterval(this.timers.beat);
    clearTimeout(this.timers.ackWait);
    clearTimeout(this.timers.retry);
  }
}
