// A room's history over the socket: the latest page when it is first joined, everything after the last
// message known when it is joined again (catch-up), and older pages as the reader scrolls up. One request per
// room at a time: the reply carries no cursor, so that is how the page knows what it answers.

const HISTORY_DEADLINE_MS = 15000;

/**
 * @param {object} deps {state, limits, send, timeline, myUser(), onConfirmed(clientMsgId)}: onConfirmed is
 *   called for each message of ours a page holds (the pending copy goes)
 */
export function createHistory({ state, limits, send, timeline, myUser, onConfirmed }) {
  function isActive(room) {
    return room.name === state.active;
  }

  /** Ask for a page now, or after the one in flight (the same request is never queued twice). */
  function request(room, wanted) {
    if (room.historyInFlight) {
      if (!room.historyQueue.some((q) => q.kind === wanted.kind && q.cursor === wanted.cursor)) {
        room.historyQueue.push(wanted);
      }
      return;
    }
    const frame = { action: "history", room: room.name };
    if (wanted.kind === "before") Object.assign(frame, { before: wanted.cursor, limit: limits.pageSize });
    else if (wanted.kind === "after") Object.assign(frame, { after: wanted.cursor, limit: limits.maxPageSize });
    else frame.limit = limits.pageSize;
    if (!send(frame)) return; // the next join asks again
    room.historyInFlight = {
      ...wanted,
      timer: setTimeout(() => finish(room), HISTORY_DEADLINE_MS),
    };
    if (isActive(room)) timeline.renderHistoryEdge();
  }

  function finish(room) {
    if (room.historyInFlight) clearTimeout(room.historyInFlight.timer);
    room.historyInFlight = null;
    const next = room.historyQueue.shift();
    if (next) request(room, next);
    if (isActive(room)) timeline.renderHistoryEdge();
  }

  /** The room was joined: the latest page the first time; after a reconnect, everything after what we had. */
  function onJoined(room) {
    const from = room.historyLoaded ? room.catchUpFrom || room.newestId : null;
    if (from) request(room, { kind: "after", cursor: from });
    else request(room, { kind: "latest" });
  }

  function onHistory(frame) {
    const room = state.rooms.get(frame.room);
    if (!room || !Array.isArray(frame.messages)) return;
    const asked = room.historyInFlight;
    const active = isActive(room);
    const stick = active && timeline.nearBottom();
    const before = timeline.place();
    let added = 0;
    for (const message of frame.messages) {
      const result = room.add(message, myUser().id);
      if (result.confirmed) onConfirmed(result.confirmed);
      if (result.added) added += 1;
    }
    if (asked) {
      if (asked.kind === "latest") {
        room.historyLoaded = true;
        room.hasOlder = frame.hasMore === true;
        room.catchUpFrom = null;
      } else if (asked.kind === "before") {
        room.hasOlder = frame.hasMore === true;
      } else if (asked.kind === "after") {
        const last = frame.messages.length ? frame.messages[frame.messages.length - 1].id : null;
        if (frame.hasMore === true && last) {
          room.catchUpFrom = last;
          room.historyQueue.unshift({ kind: "after", cursor: last });
        } else {
          room.catchUpFrom = null;
        }
      }
    }
    if (active && added) {
      timeline.render();
      if (asked && asked.kind === "before") timeline.keepPlace(before); // keep the reader's place
      else if (stick || (asked && asked.kind === "latest")) timeline.scrollToBottom();
      else timeline.offerLatest();
    }
    finish(room);
  }

  /** A refused history request: the room the error names (every room's, from a server that names none). */
  function onRefused(frame) {
    const named = typeof frame.room === "string" ? state.rooms.get(frame.room) : null;
    for (const room of named ? [named] : state.rooms.values()) {
      if (room.historyInFlight) finish(room);
    }
  }

  function loadOlder() {
    const room = state.rooms.get(state.active);
    if (!room || !room.hasOlder || room.historyInFlight || !room.oldestId) return;
    request(room, { kind: "before", cursor: room.oldestId });
  }

  /** The socket went: what was asked is lost; catch up from the newest message known once joined again. */
  function onClosed(room) {
    if (room.historyLoaded && room.catchUpFrom === null) room.catchUpFrom = room.newestId;
    clearTimeout(room.historyInFlight && room.historyInFlight.timer);
    room.historyInFlight = null;
    room.historyQueue = [];
  }

  /** The room is left: its request in flight answers nothing any more. */
  function forget(room) {
    clearTimeout(room.historyInFlight && room.historyInFlight.timer);
  }

  return { onJoined, onHistory, onRefused, loadOlder, onClosed, forget };
}
