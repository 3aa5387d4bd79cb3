// Which rooms this page joins on its connection, and when it asks for the rooms list again. Presence is per
// connection and room, so the page joins the lobby, the rooms it opened and the most recent direct rooms (the
// sidebar's dot for each of those people); the `rooms` list (unread counts, what changed while away) is asked at
// every (re)connect, soon after a message reveals a direct room whose other user the page does not know, and
// every minute while a listed public room is not joined here (it gets none of that room's messages).

import { LOBBY } from "./rooms.js";

const ROOMS_REFRESH_DELAY_MS = 300;
const LISTED_ROOMS_REFRESH_MS = 60 * 1000;
const PRESENCE_DIRECT_ROOMS = 10; // the most recent direct rooms joined on every connection, for their presence

/**
 * @param {object} deps {state, send}
 */
export function createRoomJoins({ state, send }) {
  const joinAsked = new Set(); // rooms this connection was asked to join (joinWanted)
  let roomsAskedAt = 0; // when the last rooms list was asked for: what the page learnt since may be missing from it
  let refreshTimer = 0;

  /**
   * Whether app.js joins this room when the socket (re)opens: the lobby, what the page opened, and the most recent
   * direct rooms (the other person's page joins its direct rooms too). Capped to stay well inside the
   * per-connection join limits.
   */
  function joinsOnOpen(room) {
    if (!room.access) return false;
    if (room.name === LOBBY || room.opened) return true;
    return room.kind === "direct" && recentDirect().has(room.name);
  }

  function recentDirect() {
    const direct = [...state.rooms.values()].filter((r) => r.kind === "direct" && r.access);
    direct.sort((a, b) => (b.lastActivity || "").localeCompare(a.lastActivity || "") || a.name.localeCompare(b.name));
    return new Set(direct.slice(0, PRESENCE_DIRECT_ROOMS).map((r) => r.name));
  }

  /** Join the direct rooms joinsOnOpen wants and this connection has not asked for (new ones, the rooms list). */
  function joinWanted() {
    for (const room of state.rooms.values()) {
      // only direct rooms: the others are joined when opened (app.js), which handles their refusals
      if (room.kind !== "direct" || room.joined || joinAsked.has(room.name) || !joinsOnOpen(room)) continue;
      if (send({ action: "join", room: room.name })) joinAsked.add(room.name);
    }
  }

  /** The socket (re)opened, and app.js has just joined what joinsOnOpen named. */
  function onOpen() {
    joinAsked.clear();
    for (const room of state.rooms.values()) if (joinsOnOpen(room)) joinAsked.add(room.name);
    askRooms(); // the list, unread counts and anything that changed while the page was away
  }

  /** The unread counts of listed public rooms this page has not opened (it gets none of their messages). */
  function refreshListed() {
    for (const room of state.rooms.values()) {
      if (room.kind === "public" && room.access && !joinsOnOpen(room)) {
        askRooms();
        return;
      }
    }
  }

  function askRooms() {
    if (send({ action: "rooms" })) roomsAskedAt = Date.now();
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(askRooms, ROOMS_REFRESH_DELAY_MS);
  }

  /** When the last rooms list was asked for (a room granted after it may be missing from its answer). */
  function askedAt() {
    return roomsAskedAt;
  }

  function reset() {
    clearTimeout(refreshTimer);
  }

  setInterval(refreshListed, LISTED_ROOMS_REFRESH_MS);
  return { joinsOnOpen, joinWanted, onOpen, scheduleRefresh, askedAt, reset };
}
