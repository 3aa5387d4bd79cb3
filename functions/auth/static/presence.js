// Who is here and who is typing: the open room's "Online here" list and typing line from presence and typing
// frames (a typing state that is not repeated expires), and this user's own typing, sent at most once per the
// served interval while keys are pressed and stopped when they stop, the text is sent or the room changes.

import { byId, el } from "./dom.js";
import { fullName, nameNodes } from "./names.js";
import { typingSentence } from "./rooms.js";

/**
 * @param {object} deps {state, limits, send, myUser()}
 */
export function createPresence({ state, limits, send, myUser }) {
  const ui = {
    onlineUsers: byId("online-users"),
    onlineCount: byId("online-count"),
    typing: byId("typing-indicator"),
  };
  let out = { active: false, room: null, lastSentAt: 0, idleTimer: 0 }; // what this user last said
  let sweepTimer = 0;

  function activeRoom() {
    return state.rooms.get(state.active);
  }

  function renderUsers() {
    const room = activeRoom();
    const users = room ? room.sortedUsers() : [];
    ui.onlineCount.textContent = String(users.length);
    ui.onlineUsers.replaceChildren(
      ...users.map((user) => {
        const li = el("li", { testid: "online-user" });
        li.dataset.username = user.username;
        const name = el("span", { className: "name", attrs: { title: fullName(user) } });
        name.append(...nameNodes(user));
        li.append(name);
        if (user.id === myUser().id) li.append(el("span", { className: "you", text: "(you)" }));
        return li;
      }),
    );
  }

  function renderTyping() {
    const room = activeRoom();
    ui.typing.textContent = room ? typingSentence(room.typingNames()) : "";
  }

  function onPresence(frame) {
    const room = state.rooms.get(frame.room);
    if (!room || !frame.user) return;
    if (frame.status === "online") room.users.set(frame.user.id, frame.user);
    else {
      room.users.delete(frame.user.id);
      room.setTyping(frame.user, false);
    }
    if (room.name === state.active) {
      renderUsers();
      renderTyping();
    }
  }

  function onTyping(frame) {
    const room = state.rooms.get(frame.room);
    if (!room || !frame.user || frame.user.id === myUser().id) return;
    room.setTyping(frame.user, frame.isTyping === true, limits.typingExpiresMs);
    scheduleSweep();
    if (room.name === state.active) renderTyping();
  }

  /** A message from `user` in `room`: they stopped typing. */
  function onMessage(room, user) {
    if (room.setTyping(user, false) && room.name === state.active) renderTyping();
  }

  function scheduleSweep() {
    clearTimeout(sweepTimer);
    let next = Infinity;
    for (const room of state.rooms.values()) for (const entry of room.typing.values()) next = Math.min(next, entry.until);
    if (next === Infinity) return;
    sweepTimer = setTimeout(() => {
      const room = activeRoom();
      let changed = false;
      for (const r of state.rooms.values()) changed = r.expireTyping() || changed;
      if (changed && room) renderTyping();
      scheduleSweep();
    }, Math.max(50, next - Date.now() + 20));
  }

  /** The user changed the composer's text in the open room. */
  function onInput(hasText) {
    const room = activeRoom();
    if (!room) return;
    if (!hasText) {
      stop();
      return;
    }
    const now = Date.now();
    if (out.active && out.room !== room.name) stop();
    if (room.joined && (!out.active || now - out.lastSentAt >= limits.typingIntervalMs)) {
      if (send({ action: "typing", room: room.name, isTyping: true })) {
        out.active = true;
        out.room = room.name;
        out.lastSentAt = now;
      }
    }
    clearTimeout(out.idleTimer);
    out.idleTimer = setTimeout(stop, limits.typingIntervalMs); // no keystroke for as long: stopped
  }

  /** This user stopped typing (sent, idle, switched rooms, left the page). */
  function stop() {
    clearTimeout(out.idleTimer);
    if (out.active && state.rooms.get(out.room)?.joined) send({ action: "typing", room: out.room, isTyping: false });
    out.active = false;
    out.room = null;
    out.lastSentAt = 0;
  }

  /** Whether this user's typing is shown in `room` (leaving it stops that). */
  function typingIn(room) {
    return out.room === room.name;
  }

  /** The socket went: nobody's typing survives it, ours included. */
  function onClosed() {
    for (const room of state.rooms.values()) room.typing.clear();
    out.active = false;
    renderTyping();
  }

  /** Log out. */
  function reset() {
    clearTimeout(out.idleTimer);
    clearTimeout(sweepTimer);
    out = { active: false, room: null, lastSentAt: 0, idleTimer: 0 };
    ui.onlineUsers.replaceChildren();
    ui.typing.textContent = "";
  }

  return { renderUsers, renderTyping, onPresence, onTyping, onMessage, onInput, stop, typingIn, onClosed, reset };
}
