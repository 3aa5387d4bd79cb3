// Our messages on their way: each is sent under a clientMsgId of its own (so the server stores it once,
// however often it goes), shown as Sending… until the server's copy comes back, as Not sent (with Retry) when
// it does not in time or is refused, held back while the server says to wait (rate_limited), and sent again
// after a reconnect. A room's messages go strictly in the order they were written, one at a time: the next
// leaves when the server has answered the one before (stored, or refused for good), so a message held back by
// the rate limit, or still in flight, is never overtaken by a later one (and API Gateway, which runs a
// connection's frames concurrently, cannot store them out of order).

import { newClientMsgId } from "./rooms.js";

const SEND_DEADLINE_MS = 10000; // a sent message not echoed by then is shown as failed (and can be retried)
const MAX_WAIT_MS = 60_000; // the longest a rate-limited message is held back

/**
 * @param {object} deps {state, send, timeline, notices}
 */
export function createOutbox({ state, send, timeline, notices }) {
  const sendTimers = new Map(); // clientMsgId -> timeout id
  const resumeTimers = new Map(); // room name -> timer: when its rate-limited message goes out again

  /**
   * The user wrote `text` in `room`: show it as Sending… and send it after those written before it.
   * `mentions`: the users it names ([{id, username}]; highlighted while it is on its way, sent as ids);
   * `fields`: what else the message goes with, such as replyTo.
   */
  function write(room, text, { mentions = [], ...fields } = {}) {
    const entry = room.addPending(newClientMsgId(), text);
    entry.mentions = mentions;
    entry.fields = fields;
    timeline.appendPending(entry);
    timeline.scrollToBottom();
    pump(room);
  }

  /**
   * Send the room's oldest message still to go, unless one is on its way or held back: the rest wait their turn.
   * Messages shown as Not sent are out of the line (Retry puts one back, in its place).
   */
  function pump(room) {
    if (!room.joined || state.rooms.get(room.name) !== room) return; // sent when the room is joined (again)
    const line = [...room.pending.values()].filter((entry) => entry.status !== "failed");
    if (!line.length || line.some((entry) => entry.sentAt || entry.waiting)) return;
    transmit(room, line[0]);
  }

  /** Send (or send again) one of our messages, under the same clientMsgId so the server never stores it twice. */
  function transmit(room, entry) {
    setStatus(room, entry, "pending");
    const frame = { action: "sendMessage", room: room.name, text: entry.text, clientMsgId: entry.clientMsgId, ...entry.fields };
    if (entry.mentions && entry.mentions.length) frame.mentions = entry.mentions.map((user) => user.id);
    const ok = send(frame);
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
    pump(room); // the next one goes
  }

  /** The server rate-limited this message (nothing was stored): it stays pending, first in line, and is sent
   * again under the same clientMsgId once the server said it may be (retryAfterMs, capped at a minute); the
   * messages written after it wait behind it. */
  function sendLater(clientMsgId, retryAfterMs) {
    for (const room of state.rooms.values()) {
      const entry = room.pending.get(clientMsgId);
      if (!entry) continue;
      clearTimeout(sendTimers.get(clientMsgId));
      sendTimers.delete(clientMsgId);
      entry.sentAt = 0;
      entry.waiting = true;
      clearTimeout(resumeTimers.get(room.name));
      const timer = setTimeout(() => {
        resumeTimers.delete(room.name);
        for (const waiting of room.pending.values()) waiting.waiting = false;
        pump(room);
      }, Math.min(retryAfterMs, MAX_WAIT_MS) + 50);
      resumeTimers.set(room.name, timer);
    }
  }

  function retry(clientMsgId) {
    const room = state.rooms.get(state.active);
    const entry = room && room.pending.get(clientMsgId);
    if (!entry) return;
    setStatus(room, entry, "pending"); // back in line, in its place: it goes when those on their way are answered
    pump(room);
  }

  /** Our message came back from the server: its pending copy goes (the server's copy takes its place); the
   * next one of its room leaves. */
  function confirm(clientMsgId) {
    clearTimeout(sendTimers.get(clientMsgId));
    sendTimers.delete(clientMsgId);
    timeline.removePending(clientMsgId);
    for (const room of state.rooms.values()) pump(room);
  }

  function setStatus(room, entry, status) {
    entry.status = status;
    if (room.name === state.active) timeline.updatePending(entry);
  }

  /** The room was joined (again): what is still pending there goes out, in order (the one that was on its way
   * first, again: the server stores a clientMsgId once). */
  function onJoined(room) {
    for (const entry of room.pending.values()) entry.sentAt = 0;
    pump(room);
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
    clearTimeout(resumeTimers.get(room.name));
    resumeTimers.delete(room.name);
    for (const cmid of room.pending.keys()) {
      clearTimeout(sendTimers.get(cmid));
      sendTimers.delete(cmid);
    }
  }

  return { write, retry, confirm, onJoined, onRefused, onClosed, stopTimers, forget };
}
