// The @ badge: a conversation whose unread messages mention the user shows "@" beside its unread count in the
// sidebar (the room item's `mentions`, counted by the server until markRead passes them, and by the page for
// messages that arrive live), and the phone's ☰ button says so too.

/** Whether `message` mentions the user `myId` (its `mentions`, [{id, username}]). */
export function mentionsMe(message, myId) {
  return Boolean(myId) && Array.isArray(message.mentions) && message.mentions.some((m) => m && m.id === myId);
}

/** The sidebar's @ badge for `room`, or null when no unread message mentions the user. */
export function mentionBadge(room, el) {
  if (!room.mentions) return null;
  const badge = el("span", { className: "badge mention-badge", testid: "room-mentions", text: "@" });
  badge.title = room.mentions === 1 ? "A message mentions you" : `${room.mentions} messages mention you`;
  return badge;
}

/** What the ☰ button's badge and name say: how many conversations have unread messages, and whether any of them
 * mentions the user ("@2"). */
export function toggleBadge(rooms) {
  let unread = 0;
  let mentioned = 0;
  for (const room of rooms) {
    if (room.unread) unread += 1;
    if (room.mentions) mentioned += 1;
  }
  const label = ["Rooms and people"];
  if (unread) label.push(`${unread} unread ${unread === 1 ? "conversation" : "conversations"}`);
  if (mentioned) label.push(`you are mentioned in ${mentioned}`);
  return { text: unread ? `${mentioned ? "@" : ""}${unread}` : "", label: label.join(", "), mentioned: mentioned > 0 };
}
