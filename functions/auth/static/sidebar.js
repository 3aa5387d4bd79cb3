// The sidebar's two lists, drawn from app.js's `state`: direct messages (the other person by their display name,
// with their presence) and rooms, each with its unread badge and @ badge; and how a conversation is named. What
// the lists hold, and when they are drawn again, is conversations.js's; clicking one is app.js's switchRoom.

import { DM_PREFIX } from "./rooms.js";
import { mentionBadge } from "./mentionbadge.js";
import { fullName, shownName } from "./names.js";

/** What the badge says: the count, "99+" when the server stopped counting, "" when nothing is unread. */
export function badgeText(room) {
  if (!room.unread) return "";
  return room.unreadCapped || room.unread > 99 ? "99+" : String(room.unread);
}

function isDirect(room) {
  return room.kind === "direct" || room.name.startsWith(DM_PREFIX);
}

/**
 * How a room is named where space is tight (the sidebar, the tab's title): "#general", "#plans" or, for a direct
 * room, the other user's display name (names.js; their username when they have none).
 */
export function roomLabel(room) {
  if (isDirect(room)) return room.peer ? shownName(room.peer) : "Direct message";
  return `#${room.name}`;
}

/** How a room is named where there is room (the header, tooltips): a direct room's "Zoë (@zoe)". */
export function roomTitle(room) {
  if (isDirect(room)) return room.peer ? fullName(room.peer) : "Direct message";
  return `#${room.name}`;
}

/**
 * @param {object} deps {state, el, switchRoom(name, {focus}), onRendered()}: onRendered runs after every drawing
 */
export function createSidebar({ state, el, switchRoom, onRendered }) {
  const dmList = document.getElementById("dm-list");
  const roomList = document.getElementById("room-list");

  function render() {
    // The lists are drawn anew: a keyboard user's focus stays on the same conversation.
    const focused = document.activeElement && document.activeElement.matches(".room") ? document.activeElement.dataset.room : null;
    const direct = [];
    const rooms = [];
    for (const room of state.rooms.values()) {
      if (isDirect(room)) direct.push(room);
      else rooms.push(room);
    }
    direct.sort((a, b) => (b.lastActivity || "").localeCompare(a.lastActivity || "") || a.name.localeCompare(b.name));
    dmList.replaceChildren(...direct.map(item));
    roomList.replaceChildren(...rooms.map(item));
    if (!direct.length) dmList.append(el("li", { className: "hint empty", text: "No direct messages yet." }));
    if (focused) {
      for (const button of document.querySelectorAll(".sidebar .room")) if (button.dataset.room === focused) button.focus();
    }
    onRendered();
  }

  function item(room) {
    const button = el("button", { className: "room", testid: "room-item", attrs: { type: "button" } });
    button.dataset.room = room.name;
    button.dataset.kind = room.kind;
    if (room.name === state.active) button.setAttribute("aria-current", "true");
    if (!room.access) button.classList.add("gone");
    const online = room.kind === "direct" && room.peer ? room.users.has(room.peer.id) : null;
    if (online !== null) button.dataset.presence = online ? "online" : "offline";
    const label = roomLabel(room);
    button.append(el("bdi", { className: "name", testid: "room-name", text: label }));
    if (isDirect(room) && room.peer) button.title = roomTitle(room); // "Zoë (@zoe)": the @username within reach
    if (room.kind === "private") button.append(lockIcon());
    if (!room.access) button.append(el("span", { className: "gone-tag", text: "removed" }));
    const count = badgeText(room);
    button.append(el("span", { className: "badge", testid: "room-unread", text: count }));
    if (room.mentions) button.append(mentionBadge(room, el));
    // One name for screen readers and tests, beginning with what is on screen: "#plans, private, 2 unread".
    const name = [label];
    if (isDirect(room) && room.peer && label !== room.peer.username) name.push(`@${room.peer.username}`);
    if (room.kind === "private") name.push("private");
    if (!room.access) name.push("removed");
    if (online !== null) name.push(online ? "online" : "offline");
    if (count) name.push(`${count} unread`);
    if (room.mentions) name.push("mentions you");
    button.setAttribute("aria-label", name.join(", "));
    button.addEventListener("click", () => switchRoom(room.name, { focus: true }));
    const li = el("li");
    li.append(button);
    return li;
  }

  /** Log out: nothing of the user's stays listed. */
  function reset() {
    dmList.replaceChildren();
  }

  return { render, reset };
}

/** A small padlock drawn in SVG (no emoji font needed), hidden from screen readers, which hear "private". */
function lockIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 12 12");
  svg.setAttribute("width", "12");
  svg.setAttribute("height", "12");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "lock");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M3.5 5V3.5a2.5 2.5 0 0 1 5 0V5M2.5 5h7v5.5h-7z");
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "1.3");
  svg.append(path);
  return svg;
}
