// Blocking (docs/protocol.md, "block, unblock"): whom the user blocked (GET /blocks, then the blocked and
// unblocked frames), and the Block / Unblock control in a direct room's header and beside each member of a
// private room. The server enforces it; the page only offers the control and says what it does.

import { request } from "./api.js";
import { fullName } from "./names.js";

/**
 * @param {object} deps {state, send, el, showNotice}
 */
export function createBlocks({ state, send, el, showNotice }) {
  const blocked = new Map(); // user id -> {id, username}
  const button = document.getElementById("block-user");
  const listeners = new Set();
  let peer = null; // the other user of the direct room on screen

  /** Whom the user blocked, from the server (after every (re)connect: another device may have changed it). */
  async function load() {
    const session = state.session;
    if (!session) return;
    try {
      const data = await request("/blocks", { token: session.token });
      if (state.session !== session || !data || !Array.isArray(data.blocks)) return;
      blocked.clear();
      for (const user of data.blocks) if (user && typeof user.id === "string") blocked.set(user.id, user);
      changed();
    } catch {
      // keep what the page had; the next connect asks again
    }
  }

  function isBlocked(userId) {
    return blocked.has(userId);
  }

  function toggle(user) {
    const action = blocked.has(user.id) ? "unblock" : "block";
    if (!send({ action, username: user.username })) showNotice("Not connected: try again in a moment.");
  }

  /** A small Block / Unblock button for `user` (the members panel). */
  function control(user) {
    const verb = blocked.has(user.id) ? "Unblock" : "Block";
    const b = el("button", {
      className: "button secondary small",
      testid: "member-block",
      text: verb,
      attrs: { type: "button", "aria-label": `${verb} ${fullName(user)}` },
    });
    b.addEventListener("click", () => toggle(user));
    return b;
  }

  /** The room on screen: a direct room offers to block (or unblock) the other person. */
  function showFor(room) {
    peer = room && room.kind === "direct" && room.peer ? room.peer : null;
    render();
  }

  function render() {
    button.hidden = !peer;
    if (!peer) return;
    const verb = blocked.has(peer.id) ? "Unblock" : "Block";
    button.textContent = verb;
    button.setAttribute("aria-label", `${verb} ${fullName(peer)}`);
    button.title = verb === "Block" ? `${fullName(peer)} will no longer be able to message you or add you to rooms.` : "";
  }

  /** The blocked / unblocked frames; true when handled. */
  function onFrame(frame) {
    if ((frame.type !== "blocked" && frame.type !== "unblocked") || !frame.user || typeof frame.user.id !== "string") {
      return false;
    }
    if (frame.type === "blocked") {
      blocked.set(frame.user.id, frame.user);
      showNotice(`You blocked ${fullName(frame.user)}: they can no longer message you or add you to rooms.`);
    } else {
      blocked.delete(frame.user.id);
      showNotice(`You unblocked ${fullName(frame.user)}.`);
    }
    changed();
    return true;
  }

  function onError(frame) {
    if (frame.action !== "block" && frame.action !== "unblock") return false;
    showNotice(typeof frame.message === "string" ? frame.message : "The server refused that.");
    return true;
  }

  function onChange(listener) {
    listeners.add(listener);
  }

  function changed() {
    render();
    for (const listener of listeners) listener();
  }

  button.addEventListener("click", () => {
    if (peer) toggle(peer);
  });
  return { load, isBlocked, control, showFor, onFrame, onError, onChange };
}
