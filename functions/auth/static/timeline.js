// The open room's messages on screen: the timeline in the server's order, our messages still on their way
// (Sending…, Not sent + Retry), the edge where older history loads, and where the reader is scrolled to.
// It draws what the Room (rooms.js) holds and never changes it.

import { byId, el } from "./dom.js";
import { textElement } from "./format.js";
import { decorate, tombstone } from "./message_view.js";
import { fullName, nameNodes, shownName } from "./names.js";

const NEAR_BOTTOM_PX = 80;
const GROUP_WITHIN_MS = 5 * 60 * 1000; // one person's messages closer than this share one name and time
const HIGHLIGHT_MS = 2000; // how long the original of a reply stays highlighted once shown
const AVATAR_COLOURS = 12; // .avatar.c0 … .c11 in style.css (classes, not style attributes: the CSP)

/** Initials for a generated avatar: "mary-jane" -> "MJ", "alice" -> "A". */
export function initials(name) {
  const parts = String(name || "?").split(/[-_.\s]+/).filter(Boolean);
  const letters = parts.length > 1 ? [parts[0], parts[1]] : [parts[0] || "?"];
  return letters.map((p) => [...p][0].toUpperCase()).join("");
}

/** A colour index derived from the user id (the same person, the same colour, on every device). */
export function colourIndex(userId) {
  let hash = 0;
  for (const ch of String(userId)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return hash % AVATAR_COLOURS;
}

/** "Today", "Yesterday", or the date, for the separator above a day's first message. */
export function dayLabel(date, now = new Date()) {
  const day = new Date(date.getFullYear(), date.getMonth(), date.getDate());
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const days = Math.round((today - day) / 86400000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  const options = { weekday: "long", day: "numeric", month: "long" };
  if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return date.toLocaleDateString(undefined, options);
}

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

  /** A message's text (format.js: elements, never HTML; its mentions marked), or a deleted message's tombstone. */
  function messageText(message) {
    if (message.deleted) return tombstone();
    return textElement(message.text, { mentions: message.mentions, myId: myUser().id });
  }

  function messageShell({ author, userId, iso, source, mine }) {
    const li = el("li", { className: mine ? "message mine" : "message", testid: "message" });
    li.dataset.userId = userId;
    li.dataset.name = shownName(author); // grouped with the message above only under the same name (regroup)
    li.dataset.at = iso;
    const meta = el("div", { className: "meta" });
    // author: the user ({username, displayName?}): the display name with @username beside it (names.js)
    const avatar = el("span", { className: `avatar c${colourIndex(userId)}`, testid: "avatar", text: initials(shownName(author)) });
    avatar.setAttribute("aria-hidden", "true");
    const name = el("span", { className: "author", testid: "message-author", attrs: { title: fullName(author) } });
    name.append(...nameNodes(author));
    meta.append(avatar, name);
    const time = el("time", { testid: "message-time", text: formatTime(iso) });
    time.dateTime = iso;
    time.title = new Date(iso).toLocaleString();
    meta.append(time);
    li.append(meta, messageText(source));
    return li;
  }

  function messageElement(message) {
    const li = messageShell({
      author: message.user,
      userId: message.user.id,
      iso: message.createdAt,
      source: message,
      mine: message.user.id === myUser().id,
    });
    li.dataset.id = message.id;
    li.dataset.status = "sent";
    if (message.clientMsgId) li.dataset.clientMsgId = message.clientMsgId;
    const room = activeRoom();
    const original = message.replyTo ? room?.byId.get(message.replyTo.id) : null;
    // a private room's owner may delete anyone's message there (docs/protocol.md, deleteMessage)
    const roomOwner = Boolean(room && room.kind === "private" && room.owner && room.owner.id === myUser().id);
    decorate(li, message, { original, myId: myUser().id, roomOwner });
    return li;
  }

  function pendingElement(entry) {
    const li = messageShell({ author: myUser(), userId: myUser().id, iso: entry.localTime, source: entry, mine: true });
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
    regroup();
  }

  /**
   * Reading comfort, drawn over the messages in their order: a day separator ("Today", "Yesterday", a date) above
   * each day's first message, and a message from the same person as the one above, under the same shown name (a
   * message sent after a display-name change shows the new one), within a few minutes on the same day, marked
   * "continued" (its name, avatar and time hidden on screen; screen readers still get them).
   */
  function regroup() {
    for (const old of ui.messages.querySelectorAll(".day-separator")) old.remove();
    let previous = null;
    for (const li of [...ui.messages.children]) {
      const at = new Date(li.dataset.at);
      const valid = !Number.isNaN(at.getTime());
      const day = valid ? at.toDateString() : "";
      if (valid && (!previous || previous.day !== day)) {
        const separator = el("li", { className: "day-separator", testid: "day-separator" });
        separator.setAttribute("role", "separator");
        separator.append(el("span", { text: dayLabel(at) }));
        li.before(separator);
      }
      const continued = Boolean(
        previous && valid && previous.day === day && previous.userId === li.dataset.userId &&
          previous.name === li.dataset.name &&
          at - previous.at >= 0 && at - previous.at < GROUP_WITHIN_MS,
      );
      li.classList.toggle("continued", continued);
      previous = { day, userId: li.dataset.userId, name: li.dataset.name, at };
    }
  }

  /** Put the message at order[index] in its place: before the next newer message, else before our pending ones. */
  function insert(room, index) {
    const id = room.order[index];
    const element = messageElement(room.byId.get(id));
    elById.set(id, element);
    const nextId = room.nextId(index);
    const before = (nextId && elById.get(nextId)) || ui.messages.querySelector('[data-status="pending"], [data-status="failed"]');
    ui.messages.insertBefore(element, before || null);
    regroup();
  }

  /** A message of ours the user just wrote: at the end, marked Sending… */
  function appendPending(entry) {
    const element = pendingElement(entry);
    elByCmid.set(entry.clientMsgId, element);
    ui.messages.append(element);
    regroup();
  }

  /** Draw a pending message again after its status changed (Sending… / Not sent), keeping the focus on Retry. */
  function updatePending(entry) {
    const old = elByCmid.get(entry.clientMsgId);
    if (!old) return;
    const element = pendingElement(entry);
    old.replaceWith(element);
    elByCmid.set(entry.clientMsgId, element);
    regroup();
    if (entry.status === "failed" && document.activeElement === old.querySelector("button")) element.querySelector("button")?.focus();
  }

  /** Our message came back from the server: its pending copy goes (the server's copy takes its place). */
  function removePending(clientMsgId) {
    const element = elByCmid.get(clientMsgId);
    if (element) element.remove();
    elByCmid.delete(clientMsgId);
    regroup();
  }

  /**
   * A message changed (messageUpdated, a sync): its element is drawn again in place, with the replies that quote
   * it (a deleted original shows as such). Focus on one of its buttons stays on the same button.
   */
  function replace(room, id, withReplies = true) {
    const old = elById.get(id);
    if (!old) return;
    const focused = old.contains(document.activeElement) ? focusKey(document.activeElement) : null;
    const element = messageElement(room.byId.get(id));
    if (old.classList.contains("actions-open") && !element.dataset.deleted) element.classList.add("actions-open");
    old.replaceWith(element);
    elById.set(id, element);
    regroup();
    if (focused) (element.querySelector(focused) || element.querySelector(".action") || element).focus();
    if (!withReplies) return;
    for (const quote of ui.messages.querySelectorAll(`[data-reply-to="${CSS.escape(id)}"]`)) {
      const reply = quote.closest(".message");
      if (reply && reply.dataset.id) replace(room, reply.dataset.id, false);
    }
  }

  function focusKey(node) {
    const action = node.dataset && node.dataset.action;
    if (!action) return null;
    const emoji = node.dataset.emoji ? `[data-emoji="${CSS.escape(node.dataset.emoji)}"]` : "";
    return `[data-action="${action}"]${emoji}`;
  }

  /** The element of a message of the open room, or null when it is not loaded. */
  function elementOf(id) {
    return elById.get(id) || null;
  }

  /** Scroll a message into view and highlight it for a moment (the original of a reply). */
  function reveal(id) {
    const element = elById.get(id);
    if (!element) return false;
    element.scrollIntoView({ block: "center" });
    element.classList.remove("highlight");
    void element.offsetWidth; // restart the highlight when it is shown again
    element.classList.add("highlight");
    setTimeout(() => element.classList.remove("highlight"), HIGHLIGHT_MS);
    return true;
  }

  /** Draw the open room again where the reader is (the user became, or stopped being, its owner). */
  function redraw() {
    const top = ui.scroller.scrollTop;
    render();
    ui.scroller.scrollTop = top;
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
    render, redraw, insert, replace, elementOf, reveal, appendPending, updatePending, removePending, clear, renderHistoryEdge, nearBottom, scrollToBottom,
    place, keepPlace, offerLatest, hideLatest, scrollPosition, restoreScroll, wire,
  };
}
