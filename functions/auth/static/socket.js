// One WebSocket to Parley that comes back by itself: exponential backoff with jitter, a ping under API
// Gateway's 10-minute idle timeout, and a pong deadline so a silently dead socket is noticed too.

export const PING_EVERY_MS = 4 * 60 * 1000;
const PONG_DEADLINE_MS = 20 * 1000;
const STABLE_AFTER_MS = 10 * 1000; // an open socket that lasted this long resets the backoff
const OPEN_DEADLINE_MS = 15 * 1000; // a handshake that has not finished by then is given up
const RETIRE_AFTER_MS = 5 * 1000; // after a renewal, the old socket overlaps the new one this long

/** Delay before reconnect attempt number `attempt` (0-based): exponential, capped, with "equal jitter". */
export function backoffDelay(attempt, { baseMs = 500, maxMs = 30000, random = Math.random } = {}) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export class ChatSocket {
  /**
   * @param {object} options
   * @param {string} options.url       the WebSocket endpoint, without the token
   * @param {string} options.token     the JWT, sent as ?token=
   * @param {(frame: object) => void} options.onFrame
   * @param {() => void} options.onOpen
   * @param {(status: {state: string, retryInMs?: number, attempt?: number}) => void} options.onStatus
   * @param {(info: {everOpened: boolean}) => void} [options.onClose]
   */
  constructor({ url, token, onFrame, onOpen, onStatus, onClose }) {
    this.url = url;
    this.token = token;
    this.onFrame = onFrame;
    this.onOpen = onOpen;
    this.onStatus = onStatus;
    this.onClose = onClose || (() => {});
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.openedAt = 0;
    this.timers = { retry: 0, ping: 0, pong: 0, open: 0 };
    this._wake = () => {
      if (!this.stopped && !this.isOpen() && !this.ws) this.reconnectNow();
    };
    this._onVisible = () => {
      if (document.visibilityState === "visible") this._wake();
    };
  }

  isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this._wake);
    document.addEventListener("visibilitychange", this._onVisible);
    this._connect();
  }

  /** Close for good (log out): no reconnect. */
  stop() {
    this.stopped = true;
    this._retire();
    window.removeEventListener("online", this._wake);
    document.removeEventListener("visibilitychange", this._onVisible);
    this._clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      detach(ws);
      try {
        ws.close(1000, "bye");
      } catch {
        /* already closed */
      }
    }
    this.onStatus({ state: "offline" });
  }

  /** Skip the rest of the backoff wait (the browser says it is back online, or the user asked). */
  reconnectNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timers.retry);
    this._connect();
  }

  /**
   * Use a renewed token: make before break. A new socket opens with it, quietly (no status change), and the app
   * joins its rooms there (onOpen; the joined frames catch up); the old socket keeps delivering until
   * RETIRE_AFTER_MS after that, then closes. Others never see the user go offline; frames that arrive on both
   * are told apart by message id.
   */
  renew(token) {
    this.token = token;
    if (this.stopped || !this.isOpen()) return; // the next attempt uses it
    this._retire();
    this.retiring = this.ws;
    this.ws = null;
    this._connect(true);
  }

  _retire(delayMs = 0) {
    const old = this.retiring;
    this.retiring = null;
    if (!old) return;
    setTimeout(() => {
      detach(old);
      try {
        old.close(1000, "renewed");
      } catch {
        /* already closed */
      }
    }, delayMs);
  }

  /** Send one frame; false when the socket is not open (the caller keeps what must survive a reconnect). */
  send(frame) {
    if (!this.isOpen()) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  _connect(quiet = false) {
    this._clearTimers();
    if (!quiet) this.onStatus({ state: this.attempt === 0 ? "connecting" : "reconnecting", attempt: this.attempt });
    const separator = this.url.includes("?") ? "&" : "?";
    let ws;
    try {
      ws = new WebSocket(`${this.url}${separator}token=${encodeURIComponent(this.token)}`);
    } catch {
      this._closed(null, false);
      return;
    }
    this.ws = ws;
    let opened = false;
    this.timers.open = setTimeout(() => this._abandon(ws, opened), OPEN_DEADLINE_MS);
    ws.onopen = () => {
      opened = true;
      clearTimeout(this.timers.open);
      this.openedAt = Date.now();
      this.onStatus({ state: "online" });
      this._schedulePing();
      this.onOpen();
      this._retire(RETIRE_AFTER_MS);
    };
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return; // not ours to understand
      }
      if (!frame || typeof frame !== "object") return;
      if (frame.type === "pong") {
        clearTimeout(this.timers.pong);
        return;
      }
      this.onFrame(frame);
    };
    ws.onclose = () => this._closed(ws, opened);
    ws.onerror = () => {
      /* onclose follows and handles it */
    };
  }

  _schedulePing() {
    clearTimeout(this.timers.ping);
    this.timers.ping = setTimeout(() => {
      const ws = this.ws;
      if (!this.send({ action: "ping" })) return;
      clearTimeout(this.timers.pong);
      this.timers.pong = setTimeout(() => this._abandon(ws, true), PONG_DEADLINE_MS);
      this._schedulePing();
    }, PING_EVERY_MS);
  }

  /** Give up on a socket that stopped answering without waiting for its closing handshake. */
  _abandon(ws, opened) {
    if (!ws || ws !== this.ws) return;
    detach(ws);
    try {
      ws.close(4000, "no answer");
    } catch {
      /* already closed */
    }
    this._closed(ws, opened);
  }

  _closed(ws, opened) {
    if (ws && ws !== this.ws) return; // an old socket we already gave up on
    this.ws = null;
    this._clearTimers();
    if (this.stopped) return;
    this._retire(); // a renewal's new socket failed: the old one goes too, and the usual reconnect follows
    if (opened && Date.now() - this.openedAt >= STABLE_AFTER_MS) this.attempt = 0;
    const retryInMs = backoffDelay(this.attempt);
    this.attempt += 1;
    this.onStatus({ state: "reconnecting", retryInMs, attempt: this.attempt });
    this.onClose({ everOpened: opened });
    if (this.stopped) return; // onClose may have logged out
    this.timers.retry = setTimeout(() => this._connect(), retryInMs);
  }

  _clearTimers() {
    for (const key of Object.keys(this.timers)) clearTimeout(this.timers[key]);
  }
}

function detach(ws) {
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
}
