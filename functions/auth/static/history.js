// A room's messages over the socket: the latest page (`history`) when it is first joined, then `sync` rounds
// (cursor-based, repeated while `hasMore`) after that page and after every reconnect, so that messages stored late
// and edits, deletions and reactions made while the page was away are shown; older pages (`history before`) as
// the reader scrolls up. One request per room at a time: a history reply carries no cursor, so that is how the
// page knows what it answers.

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
    const frame = { action: wanted.kind === "sync" ? "sync" : "history", room: room.name };
    if (wanted.kind === "before") Object.assign(frame, { before: wanted.cursor, limit: limits.pageSize });
    else if (wanted.kind === "sync") Object.assign(frame, wanted.cursor ? { since: wanted.cursor } : {}, { limit: limits.maxPageSize });
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

  /**
   * The room was joined: the latest page the first time, then a sync from it; after a reconnect, a sync from
   * where the last one ended (every message created or changed since, in its current state).
   */
  function onJoined(room) {
    if (room.historyLoaded) request(room, { kind: "sync", cursor: syncFrom(room) });
    else request(room, { kind: "latest" });
  }

  /** The last sync's cursor; before any, the newest message's (a sync from it misses no later change). */
  function syncFrom(room) {
    if (room.syncCursor) return room.syncCursor;
    const newest = room.newestId && room.byId.get(room.newestId);
    return newest && typeof newest.cursor === "string" ? newest.cursor : null;
  }

  /** A sync reply: new messages where they belong, changed ones replaced (the higher version kept). */
  function onSync(frame) {
    const room = state.rooms.get(frame.room);
    if (!room || !Array.isArray(frame.messages)) return;
    const fresh = frame.messages.filter((m) => m && typeof m.id === "string" && (room.has(m.id) || room.covers(m.id)));
    const { added, stick } = file(room, fresh, null);
    if (isActive(room) && added && !stick) timeline.offerLatest();
    const asked = room.historyInFlight;
    if (!asked || asked.kind !== "sync") return; // a reply to a request of an earlier connection
    if (typeof frame.cursor === "string") room.syncCursor = frame.cursor;
    if (frame.hasMore === true && room.syncCursor) room.historyQueue.unshift({ kind: "sync", cursor: room.syncCursor });
    finish(room);
  }

  /**
   * File a page's messages in the room and redraw the open room if anything changed; returns {added, stick}.
   * `asked` is the history request the page answers (its kind keeps the reader's place or goes to the bottom).
   */
  function file(room, messages, asked) {
    const active = isActive(room);
    const stick = active && timeline.nearBottom();
    const before = timeline.place();
    let added = 0;
    let updated = 0;
    for (const message of messages) {
      const result = room.add(message, myUser().id);
      if (result.confirmed) onConfirmed(result.confirmed);
      if (result.added) added += 1;
      if (result.updated) updated += 1;
    }
    if (active && (added || updated)) {
      timeline.render();
      if (asked && asked.kind === "before") timeline.keepPlace(before); // keep the reader's place
      else if (stick || (asked && asked.kind === "latest")) timeline.scrollToBottom();
      else timeline.restoreScroll(before.top); // changes and late messages: the reader stays where they were
    }
    return { added, stick };
  }

  function onHistory(frame) {
    const room = state.rooms.get(frame.room);
    if (!room || !Array.isArray(frame.messages)) return;
    const asked = room.historyInFlight;
    if (asked && (asked.kind === "latest" || asked.kind === "before")) room.hasOlder = frame.hasMore === true;
    file(room, frame.messages, asked);
    if (asked && asked.kind === "latest") {
      room.historyLoaded = true;
      room.syncCursor = null;
      room.historyQueue.unshift({ kind: "sync", cursor: syncFrom(room) }); // what changed since the page was read
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

  /** The page before the oldest message held: now, or after the sync in flight (never twice). */
  function loadOlder() {
    const room = state.rooms.get(state.active);
    if (!room || !room.hasOlder || !room.oldestId) return;
    if ((room.historyInFlight && room.historyInFlight.kind === "before") || room.historyQueue.some((q) => q.kind === "before")) return;
    request(room, { kind: "before", cursor: room.oldestId });
  }

  /** The socket went: what was asked is lost; a sync catches up once the room is joined again. */
  function onClosed(room) {
    clearTimeout(room.historyInFlight && room.historyInFlight.timer);
    room.historyInFlight = null;
    room.historyQueue = [];
  }

  /** The room is left: its request in flight answers nothing any more. */
  function forget(room) {
    clearTimeout(room.historyInFlight && room.historyInFlight.timer);
  }

  return { onJoined, onHistory, onSync, onRefused, loadOlder, onClosed, forget };
}
