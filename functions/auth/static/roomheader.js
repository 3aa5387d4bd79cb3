// What follows the open conversation above and below the timeline (conversations.js calls it when the room is
// switched to or changes): the header's title and kind, the message box's placeholder, whether it can send, the
// note a user removed from a private room sees, and the words at the beginning of the history.

import { roomLabel, roomTitle } from "./sidebar.js";

const $ = (id) => document.getElementById(id);

/** The header, the composer and the notes for `room`. */
export function showHeader(room) {
  const label = roomLabel(room);
  const input = $("composer-input");
  const send = document.querySelector('[data-testid="composer-send"]');
  const kind = $("room-kind");
  $("room-title").textContent = roomTitle(room); // a direct room's "Zoë (@zoe)": there is room for the @username
  input.placeholder = `Message ${label}`;
  kind.hidden = room.kind === "public";
  kind.textContent = room.kind === "direct" ? "Direct message" : "Private";
  if (room.kind !== "public") $("leave-room").hidden = true; // private rooms are left from the members panel
  input.disabled = !room.access;
  send.disabled = !room.access;
  $("access-note").hidden = room.access;
  $("history-start").textContent =
    room.kind === "direct" ? `This is the beginning of your conversation with ${label}.` : "This is the beginning of the room.";
  if (!room.access) {
    $("access-text").textContent = `You are no longer a member of ${label}: you cannot read or send anything new here.`;
    input.placeholder = "You are no longer a member of this room";
  }
}

/** The removed user's note has a Close button: `close` forgets the conversation. */
export function onCloseRemoved(close) {
  $("access-close").addEventListener("click", close);
}
