// Read positions (issue 10): the open room's newest message marked read (markRead) once it is on screen in a
// visible page, the `read` frames of the user's other devices, and in a direct room the other person's `receipt`
// ("Seen by Zoë"). conversations.js hands it those frames and asks it after a switch of rooms.

import { shownName } from "./names.js";

const MARK_READ_DELAY_MS = 250; // one markRead for a burst of messages, not one each

/**
 * @param {object} deps {state, send, myUser(), nearBottom(), renderSidebar(), updateTitle()}
 */
export function createReading({ state, send, myUser, nearBottom, renderSidebar, updateTitle }) {
  const ui = {
    receipt: document.getElementById("read-receipt"),
    messages: document.getElementById("message-list"),
    scroller: document.getElementById("scroller"),
  };
  let markTimer = 0;

  function onRead(frame) {
    const room = state.rooms.get(frame.room);
    if (!room || typeof frame.id !== "string") return;
    if (!room.readId || frame.id > room.readId) room.readId = frame.id;
    room.unread = Math.min(room.unread, unreadAfter(room, room.readId));
    if (!room.unread) room.unreadCapped = false;
    renderSidebar();
    updateTitle();
  }

  function onReceipt(frame) {
    const room = state.rooms.get(frame.room);
    if (!room || typeof frame.id !== "string" || (frame.user && frame.user.id === myUser().id)) return;
    if (!room.peerReadId || frame.id > room.peerReadId) room.peerReadId = frame.id;
    if (room.name === state.active) renderReceipt();
  }

  /** Tell the server (and so the user's other devices) that the newest message of the open room was seen. */
  function maybeMarkRead() {
    clearTimeout(markTimer);
    markTimer = setTimeout(() => {
      const room = state.rooms.get(state.active);
      if (!room || !room.access || document.visibilityState !== "visible" || !nearBottom()) return;
      const newest = room.newestId;
      if (!newest || (room.readId && room.readId >= newest)) return;
      if (room.unread) {
        room.unread = 0;
        room.unreadCapped = false;
        renderSidebar();
        updateTitle();
      }
      if (!unreadAfter(room, room.readId)) return; // only our own messages since: nothing to tell
      if (send({ action: "markRead", room: room.name, id: newest })) room.readId = newest;
    }, MARK_READ_DELAY_MS);
  }

  /** Messages by others after `readId` among those the page holds. */
  function unreadAfter(room, readId) {
    let count = 0;
    for (let i = room.order.length - 1; i >= 0; i -= 1) {
      const id = room.order[i];
      if (readId && id <= readId) break;
      const message = room.byId.get(id);
      if (message.user && message.user.id !== myUser().id) count += 1;
    }
    return count;
  }

  function renderReceipt() {
    const room = state.rooms.get(state.active);
    let text = "";
    if (room && room.kind === "direct" && room.peer && room.peerReadId) {
      let mine = null;
      for (let i = room.order.length - 1; i >= 0 && !mine; i -= 1) {
        const message = room.byId.get(room.order[i]);
        if (message.user && message.user.id === myUser().id) mine = message.id;
      }
      if (mine && room.peerReadId >= mine) text = `Seen by ${shownName(room.peer)}`;
    }
    ui.receipt.textContent = text;
    ui.receipt.hidden = !text;
  }

  function reset() {
    clearTimeout(markTimer);
  }

  // The newest message is seen when it is on screen in a visible page: new ones, history, scrolling, coming back.
  new MutationObserver(() => {
    maybeMarkRead();
    renderReceipt();
  }).observe(ui.messages, { childList: true });
  ui.scroller.addEventListener("scroll", () => {
    if (nearBottom()) maybeMarkRead();
  });
  document.addEventListener("visibilitychange", maybeMarkRead);
  window.addEventListener("focus", maybeMarkRead);

  return { onRead, onReceipt, maybeMarkRead, renderReceipt, reset };
}
