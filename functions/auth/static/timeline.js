// The open room's messages on screen: the timeline in the server's order, our messages still on their way
// (Sending…, Not sent + Retry), the edge where older history loads, and where the reader is scrolled to.
// It draws what the Room (rooms.js) holds and never changes it.

import { byId, el } from "./dom.js";

const NEAR_BOTTOM_PX = 80;

/**
 * @param {object} deps {activeRoom(), myUser(), onRetry(clientMsgId)}
 */
export function createTimeline({ activeRoom, myUser, onRetry }) {
  const ui = {
    scroller: byId("scroller"),
    loadOlder: byId("load-older"),
    historyStart: byId("history-start"),
    historyLoading: byId("history-loading"),
    messages: byId("message-list"),
    jumpLatest: byId("jump-latest"),
  };
  const elById = new Map(); // message id -> element, for the active room
  const elByCmid = new Map(); // clientMsgId -> element of a pending message, for the active room

  function formatTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    const today = date.toDateString() === new Date().toDateString();
    return today
      ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function messageShell({ author, iso, text, mine }) {
    const li = el("li", { className: mine ? "message mine" : "message", testid: "message" });
    const meta = el("div", { className: "meta" });
    meta.append(el("span", { className: "author", testid: "message-author", text: author }));
    const time = el("time", { testid: "message-time", text: formatTime(iso) });
    time.dateTime = iso;
    time.title = new Date(iso).toLocaleString();
    meta.append(time);
    li.append(meta, el("p", { className: "text", testid: "message-text", text }));
    return li;
  }

  function messageElement(message) {
    const li = messageShell({
      author: message.user.username,
      iso: message.createdAt,
      text: message.text,
      mine: message.user.id === myUser().id,
    });
    li.dataset.id = message.id;
    li.dataset.status = "sent";
    if (message.clientMsgId) li.dataset.clientMsgId = message.clientMsgId;
    return li;
  }

  function pendingElement(entry) {
    const li = messageShell({ author: myUser().username, iso: entry.localTime, text: entry.text, mine: true });
    li.dataset.status = entry.status;
    li.dataset.clientMsgId = entry.clientMsgId;
    const meta = li.querySelector(".meta");
    meta.append(el("span", { className: "state", testid: "message-state", text: entry.status === "failed" ? "Not sent" : "Sending…" }));
    if (entry.status === "failed") {
      const button = el("button", {
        className: "button secondary small retry",
        testid: "message-retry",
        text: "Retry",
        attrs: { type: "button" },
      });
      button.addEventListener("click", () => onRetry(entry.clientMsgId));
      li.append(button);
    }
    return li;
  }

  /** Draw the active room's timeline anew (switching rooms, a page of history). */
  function render() {
    const room = activeRoom();
    elById.clear();
    elByCmid.clear();
    if (!room) {
      ui.messages.replaceChildren();
      return;
    }
    const fragment = document.createDocumentFragment();
    for (const id of room.order) {
      const element = messageElement(room.byId.get(id));
      elById.set(id, element);
      fragment.append(element);
    }
    for (const entry of room.pending.values()) {
      const element = pendingElement(entry);
      elByCmid.set(entry.clientMsgId, element);
      fragment.append(element);
    }
    ui.messages.replaceChildren(fragment);
  }

  /** Put the message at order[index] in its place: before the next newer message, else before our pending ones. */
  function insert(room, index) {
    const id = room.order[index];
    const element = messageElement(room.byId.get(id));
    elById.set(id, element);
    const nextId = room.nextId(index);
    const before = (nextId && elById.get(nextId)) || ui.messages.querySelector('[data-status="pending"], [data-status="failed"]');
    ui.messages.insertBefore(element, before || null);
  }

  /** A message of ours the user just wrote: at the end, marked Sending… */
  function appendPending(entry) {
    const element = pendingElement(entry);
    elByCmid.set(entry.clientMsgId, element);
    ui.messages.append(element);
  }

  /** Draw a pending message again after its status changed (Sending… / Not sent), keeping the focus on Retry. */
  function updatePending(entry) {
    const old = elByCmid.get(entry.clientMsgId);
    if (!old) return;
    const element = pendingElement(entry);
    old.replaceWith(element);
    elByCmid.set(entry.clientMsgId, element);
    if (entry.status === "failed" && document.activeElement === old.querySelector("button")) element.querySelector("button")?.focus();
  }

  /** Our message came back from the server: its pending copy goes (the server's copy takes its place). */
  function removePending(clientMsgId) {
    const element = elByCmid.get(clientMsgId);
    if (element) element.remove();
    elByCmid.delete(clientMsgId);
  }

  function clear() {
    elById.clear();
    elByCmid.clear();
    ui.messages.replaceChildren();
  }

  /** Loading the latest page, loading older ones, or the beginning of the room. */
  function renderHistoryEdge() {
    const room = activeRoom();
    if (!room) return;
    const kind = room.historyInFlight ? room.historyInFlight.kind : null;
    ui.historyLoading.hidden = kind !== "latest";
    // The button stays put while its page loads, so keyboard focus is not lost under the user.
    const hadFocus = document.activeElement === ui.loadOlder;
    ui.loadOlder.hidden = !room.hasOlder;
    ui.loadOlder.textContent = kind === "before" ? "Loading…" : "Load older messages";
    ui.loadOlder.setAttribute("aria-busy", String(kind === "before"));
    if (hadFocus && ui.loadOlder.hidden) ui.scroller.focus();
    ui.historyStart.hidden = kind === "latest" || !room.historyLoaded || room.hasOlder;
  }

  function nearBottom() {
    const s = ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    ui.scroller.scrollTop = ui.scroller.scrollHeight;
    ui.jumpLatest.hidden = true;
  }

  /** Where the reader is, before older messages go in above (see keepPlace). */
  function place() {
    return { height: ui.scroller.scrollHeight, top: ui.scroller.scrollTop };
  }

  /** Older messages went in above: the reader stays on the same message. */
  function keepPlace({ height, top }) {
    ui.scroller.scrollTop = top + (ui.scroller.scrollHeight - height);
  }

  /** A new message arrived below while the reader is further up: offer to jump to it. */
  function offerLatest() {
    ui.jumpLatest.hidden = false;
  }

  function hideLatest() {
    ui.jumpLatest.hidden = true;
  }

  /** Leaving a room: where it was scrolled to (null at the bottom), to come back to the same place. */
  function scrollPosition() {
    return nearBottom() ? null : ui.scroller.scrollTop;
  }

  function restoreScroll(position) {
    if (position === null) scrollToBottom();
    else ui.scroller.scrollTop = position;
  }

  function wire({ onLoadOlder, onJumpLatest }) {
    ui.loadOlder.addEventListener("click", onLoadOlder);
    ui.jumpLatest.addEventListener("click", () => {
      scrollToBottom();
      onJumpLatest();
    });
    ui.scroller.addEventListener("scroll", () => {
      if (nearBottom()) ui.jumpLatest.hidden = true;
      if (ui.scroller.scrollTop < 40) onLoadOlder();
    });
  }

  return {
    render, insert, appendPending, updatePending, removePending, clear, renderHistoryEdge, nearBottom, scrollToBottom,
    place, keepPlace, offerLatest, hideLatest, scrollPosition, restoreScroll, wire,
  };
}
