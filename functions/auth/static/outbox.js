// Our messages on their way: each is sent under a clientMsgId of its own (so the server stores it once,
// however often it goes), shown as Sending… until the server's copy comes back, as Not sent (with Retry) when
// it does not in time or is refused, held back while the server says to wait (rate_limited), and sent again
// after a reconnect.

import { newClientMsgId } from "./rooms.js";

const SEND_DEADLINE_MS = 10000; // a sent message not echoed by then is shown as failed (and can be retried)
const MAX_WAIT_MS = 60_000; // the longest a rate-limited message is held back

/**
 * @param {object} deps {state, send, timeline, notices}
 */
export function createOutbox({ state, send, timeline, notices }) {
  const sendTimers = new Map(); // clientMsgId -> timeout id
  const resumeTimers = new Map(); // room name -> {at, timer}: when its rate-limited messages go out again

  /** The user wrote `text` in `room` (`fields`: what else the message goes with, such as replyTo): show it as
   * Sending… and send it. */
  function write(room, text, fields = {}) {
    const entry = room.addPending(newClientMsgId(), text);
    entry.fields = fields;
    timeline.appendPending(entry);
    timeline.scrollToBottom();
    transmit(room, entry);
  }

  /** Send (or send again) one of our messages, under the same clientMsgId so the server never stores it twice. */
  function transmit(room, entry) {
    setStatus(room, entry, "pending");
    if (!room.joined) return; // sent when the room is joined (again)
    const ok = send({ action: "sendMessage", room: room.name, text: entry.text, clientMsgId: entry.clientMsgId, ...entry.fields });
    if (!ok) return;
    entry.sentAt = Date.now();
    clearTimeout(sendTimers.get(entry.clientMsgId));
    sendTimers.set(
      entry.clientMsgId,
      setTimeout(() => fail(room, entry.clientMsgId), SEND_DEADLINE_MS),
    );
  }

  function fail(room, clientMsgId) {
    clearTimeout(sendTimers.get(clientMsgId));
    sendTimers.delete(clientMsgId);
    const entry = room.pending.get(clientMsgId);
    if (!entry) return;
    entry.sentAt = 0;
    setStatus(room, entry, "failed");
  }

  /** The server rate-limited this message (nothing was stored): it stays pending and is sent again, under the
   * same clientMsgId, once the server said it may be (retryAfterMs, capped at a minute). The room's waiting
   * messages all go out together, in the order they were written, when the latest of their waits is over. */
  function sendLater(clientMsgId, retryAfterMs) {
    for (const room of state.rooms.values()) {
      const entry = room.pending.get(clientMsgId);
      if (!entry) continue;
      clearTimeout(sendTimers.get(clientMsgId));
      sendTimers.delete(clientMsgId);
      entry.waiting = true;
      const at = Date.now() + Math.min(retryAfterMs, MAX_WAIT_MS) + 50;
      const current = resumeTimers.get(room.name);
      if (current && current.at >= at) continue;
      if (current) clearTimeout(current.timer);
      const timer = setTimeout(() => {
        resumeTimers.delete(room.name);
        for (const waiting of room.pending.values()) {
          if (!waiting.waiting) continue;
          waiting.waiting = false;
          transmit(room, waiting);
        }
      }, at - Date.now());
      resumeTimers.set(room.name, { at, timer });
    }
  }

  function retry(clientMsgId) {
    const room = state.rooms.get(state.active);
    const entry = room && room.pending.get(clientMsgId);
    if (entry) transmit(room, entry);
  }

  /** Our message came back from the server: its pending copy goes (the server's copy takes its place). */
  function confirm(clientMsgId) {
    clearTimeout(sendTimers.get(clientMsgId));
    sendTimers.delete(clientMsgId);
    timeline.removePending(clientMsgId);
  }

  function setStatus(room, entry, status) {
    entry.status = status;
    if (room.name === state.active) timeline.updatePending(entry);
  }

  /** The room was joined (again): what is still pending there goes out. */
  function onJoined(room) {
    for (const entry of room.pending.values()) if (entry.status === "pending") transmit(room, entry);
  }

  /**
   * A refused sendMessage (other than not_in_room, which rejoins). The error names the refused message by its
   * clientMsgId; without one (an older server), every message still in flight is shown as not sent: one that
   * did get through is confirmed by its echo anyway, and a retry never duplicates (clientMsgId).
   */
  function onRefused(frame, text) {
    if (frame.code === "rate_limited" && typeof frame.clientMsgId === "string" && frame.retryAfterMs > 0) {
      sendLater(frame.clientMsgId, frame.retryAfterMs); // refused, not stored: the same clientMsgId goes again
      notices.show(`Sending too fast: your message goes out in ${Math.ceil(frame.retryAfterMs / 1000)} s.`);
      return;
    }
    for (const room of state.rooms.values()) {
      for (const entry of room.pending.values()) {
        const named = typeof frame.clientMsgId === "string";
        if (named ? entry.clientMsgId === frame.clientMsgId : entry.sentAt) fail(room, entry.clientMsgId);
      }
    }
    notices.show(`Message not sent: ${text}`);
  }

  /** The socket went: nothing is in flight any more; pending messages are resent after the rooms are joined. */
  function onClosed(room) {
    for (const entry of room.pending.values()) entry.sentAt = 0;
  }

  function stopTimers() {
    for (const timer of sendTimers.values()) clearTimeout(timer);
    sendTimers.clear();
  }

  /** The room is left: its messages on their way are given up. */
  function forget(room) {
    for (const cmid of room.pending.keys()) {
      clearTimeout(sendTimers.get(cmid));
      sendTimers.delete(cmid);
    }
  }

  return { write, retry, confirm, onJoined, onRefused, onClosed, stopTimers, forget };
}
