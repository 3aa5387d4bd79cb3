// Private conversations on the web page (issue 10): the sidebar's direct messages and rooms with their unread
// badges, read positions (markRead, read and receipt frames), and what a user removed from a private room sees.
// app.js owns the socket (timeline.js, composer.js the rest); it calls the few hooks below and this module never
// touches its messages. Members live in members.js; "New direct message" and "New private room" in startforms.js.

import { DM_PREFIX, LOBBY, Room } from "./rooms.js";
import { createBlocks } from "./blocks.js";
import { createMembersPanel } from "./members.js";
import { createStartForms } from "./startforms.js";
import { rateLimitedText } from "./limits.js";
import { mentionBadge } from "./mentionbadge.js";

const MARK_READ_DELAY_MS = 250; // one markRead for a burst of messages, not one each
const ROOMS_REFRESH_DELAY_MS = 300;
// Public rooms the user joined but this page has not opened get no live messages (a public room's messages go to
// the connections that joined it: presence stays per connection), so their unread counts come from the room list,
// asked again this often while there are such rooms.
const LISTED_ROOMS_REFRESH_MS = 60 * 1000;
const SENDS = ["sendMessage", "editMessage", "deleteMessage", "react", "unreact"]; // refused in a blocked direct room
const PRESENCE_DIRECT_ROOMS = 10; // the most recent direct rooms joined on every connection, for their presence

/** What the badge says: the count, "99+" when the server stopped counting, "" when nothing is unread. */
export function badgeText(room) {
  if (!room.unread) return "";
  return room.unreadCapped || room.unread > 99 ? "99+" : String(room.unread);
}

/** How a room is named to the user: "#general", "#plans" or, for a direct room, the other user's name. */
export function roomLabel(room) {
  if (room.kind === "direct" || room.name.startsWith(DM_PREFIX)) {
    return room.peer ? room.peer.username : "Direct message";
  }
  return `#${room.name}`;
}

/**
 * @param {object} host what app.js lends: {state, limits, send, switchRoom, showNotice, myUser, nearBottom,
 *   renderUsers, renderTyping, updateTitle, el}
 */
export function createConversations(host) {
  const { state, limits, send, el } = host;
  const $ = (id) => document.getElementById(id);
  const ui = {
    dmList: $("dm-list"),
    roomList: $("room-list"),
    roomKind: $("room-kind"),
    leaveRoom: $("leave-room"),
    title: $("room-title"),
    input: $("composer-input"),
    send: document.querySelector('[data-testid="composer-send"]'),
    accessNote: $("access-note"),
    accessText: $("access-text"),
    accessClose: $("access-close"),
    receipt: $("read-receipt"),
    historyStart: $("history-start"),
    messages: $("message-list"),
    scroller: $("scroller"),
  };
  const leaving = new Set(); // private rooms this page asked to leave: they go from the list once removed
  let roomsAskedAt = 0; // when the last rooms list was asked for: what the page learnt since may be missing from it
  let markTimer = 0;
  let addedNotice = null; // {room, text}: the notice that said the user was added to that room
  const joinAsked = new Set(); // rooms this connection was asked to join (joinWanted)
  let refreshTimer = 0;

  const forms = createStartForms({ limits, send, myUser: host.myUser });
  const blocks = createBlocks({ state, send, el, showNotice: host.showNotice });
  const members = createMembersPanel({
    state,
    limits,
    send,
    el,
    blocks,
    myUser: host.myUser,
    onLeave: (room) => {
      leaving.add(room.name);
      send({ action: "removeMember", room: room.name, username: host.myUser().username });
    },
  });

  function me() {
    return host.myUser();
  }

  // ---------------------------------------------------------------- rooms the page learns about
  /** The Room for `name`, created (not joined) when the page did not know it. */
  function ensureRoom(name) {
    let room = state.rooms.get(name);
    if (!room) {
      room = new Room(name);
      state.rooms.set(name, room);
    }
    return room;
  }

  /** Apply what a frame says about a room: kind, owner, members (a list or a count), the other user. */
  function describe(room, info) {
    if (info.kind === "public" || info.kind === "private" || info.kind === "direct") room.kind = info.kind;
    if (info.owner && typeof info.owner.id === "string") room.owner = info.owner;
    if (Array.isArray(info.members)) {
      room.members = info.members.filter((m) => m && typeof m.id === "string");
      room.membersNext = null; // a frame that lists the members lists them all
      room.memberCount = room.members.length;
      if (room.kind === "direct") room.peer = room.members.find((m) => m.id !== me().id) || room.members[0] || null;
    } else if (typeof info.members === "number") {
      room.memberCount = info.members;
    } else if (info.members && typeof info.members.id === "string") {
      room.peer = info.members; // GET /rooms gives the other user of a direct room
    }
    if (room.kind === "direct" && !room.peer && info.user && typeof info.user.id === "string") room.peer = info.user;
    if (typeof info.lastActivityAt === "string") room.lastActivity = info.lastActivityAt;
    if (typeof info.readId === "string" && (!room.readId || info.readId > room.readId)) room.readId = info.readId;
  }

  function grantAccess(room) {
    const had = room.access;
    room.access = true;
    room.grantedAt = Date.now();
    leaving.delete(room.name);
    if (!had && room.name === state.active) onSwitch(room);
  }

  function revokeAccess(room) {
    // "alice added you to #design." must not stay beside the banner that says you were removed from it
    if (addedNotice && addedNotice.room === room.name) {
      host.hideNotice(addedNotice.text);
      addedNotice = null;
    }
    room.access = false;
    room.joined = false;
    room.opened = false;
    room.users.clear();
    room.typing.clear(); // a message still on its way is refused (forbidden) and outbox.js shows it as not sent
    if (leaving.has(room.name)) {
      leaving.delete(room.name);
      forget(room);
      return;
    }
    if (room.name === state.active) {
      onSwitch(room);
      host.renderUsers();
      host.renderTyping();
    }
    renderSidebar();
  }

  /** Drop a conversation from the page (the user left it, or closed one they were removed from). */
  function forget(room) {
    state.rooms.delete(room.name);
    if (room.name === state.active) host.switchRoom(LOBBY, { focus: true });
    else renderSidebar();
  }

  // ---------------------------------------------------------------- frames
  /** app.js calls this first for every frame; true when the frame was handled here. */
  function onFrame(frame) {
    if (blocks.onFrame(frame)) return true;
    switch (frame.type) {
      case "rooms":
        onRooms(frame);
        return true;
      case "roomCreated":
        onRoomCreated(frame);
        return true;
      case "direct":
        onDirect(frame);
        return true;
      case "added":
        onAdded(frame);
        return true;
      case "removed":
        onRemoved(frame);
        return true;
      case "memberAdded":
      case "memberRemoved":
        onMembership(frame);
        return true;
      case "ownerChanged":
        onOwnerChanged(frame);
        return true;
      case "read":
        onRead(frame);
        return true;
      case "receipt":
        onReceipt(frame);
        return true;
      case "joined":
        if (typeof frame.room === "string" && state.rooms.has(frame.room)) describe(state.rooms.get(frame.room), frame);
        return false; // app.js goes on with presence and history
      default:
        return false;
    }
  }

  function onRooms(frame) {
    if (!Array.isArray(frame.rooms)) return;
    const listed = new Set();
    for (const item of frame.rooms) {
      if (!item || typeof item.room !== "string" || !limits.room.isName(item.room)) continue;
      listed.add(item.room);
      // Every room the user is in, on every device: public rooms they joined (until they leave them), private
      // and direct ones. A public room is joined on this connection (presence, typing, live messages) once opened.
      const room = ensureRoom(item.room);
      describe(room, item);
      if (room.name !== state.active && typeof item.unread === "number") {
        room.unread = item.unread;
        room.unreadCapped = item.unreadCapped === true;
        room.mentions = Math.min(room.unread, Number.isInteger(item.mentions) ? item.mentions : 0);
      }
      grantAccess(room);
    }
    // A private or direct room the page knew that the list leaves out: the user was removed while away.
    for (const room of [...state.rooms.values()]) {
      if (listed.has(room.name) || !room.access || (room.grantedAt || 0) >= roomsAskedAt) continue;
      if (room.kind === "private" || room.kind === "direct" || room.name.startsWith(DM_PREFIX)) revokeAccess(room);
    }
    renderSidebar();
    host.updateTitle();
    if (state.rooms.has(state.active)) onSwitch(state.rooms.get(state.active));
    joinWanted();
  }

  function onRoomCreated(frame) {
    if (typeof frame.room !== "string") return;
    const room = ensureRoom(frame.room);
    describe(room, { kind: "private", ...frame });
    room.lastActivity = room.lastActivity || new Date().toISOString();
    grantAccess(room);
    if (forms.tookCreated(frame.room)) {
      host.switchRoom(room.name, { focus: true });
      members.open(room); // the next thing an owner does is add people
    } else {
      renderSidebar();
    }
  }

  function onDirect(frame) {
    if (typeof frame.room !== "string") return;
    const room = ensureRoom(frame.room);
    describe(room, { kind: "direct", ...frame });
    grantAccess(room);
    const peer = room.peer ? room.peer.username.toLowerCase() : null;
    if (forms.tookDirect(peer)) {
      host.switchRoom(room.name, { focus: true });
    } else {
      renderSidebar();
    }
  }

  function onAdded(frame) {
    if (typeof frame.room !== "string") return;
    const room = ensureRoom(frame.room);
    describe(room, { kind: "private", ...frame });
    room.lastActivity = new Date().toISOString(); // new to this user: at the top of the list
    grantAccess(room);
    if (room.name === state.active) members.render(room);
    renderSidebar();
    const text = `${frame.owner && frame.owner.username ? frame.owner.username : "Someone"} added you to ${roomLabel(room)}.`;
    host.showNotice(text);
    addedNotice = { room: room.name, text };
  }

  function onMembership(frame) {
    const room = state.rooms.get(frame.room);
    const user = frame.user;
    if (!room || !user || typeof user.id !== "string") return;
    if (frame.type === "memberAdded") {
      members.onMemberAdded(user);
      const had = room.members && room.members.some((m) => m.id === user.id);
      if (room.members && !had) room.members.push(user);
      if (room.members && !room.membersNext) room.memberCount = room.members.length;
      else if (room.memberCount !== null && !had) room.memberCount += 1;
    } else {
      const had = !room.members || room.members.some((m) => m.id === user.id);
      if (room.members) room.members = room.members.filter((m) => m.id !== user.id);
      if (room.members && !room.membersNext) room.memberCount = room.members.length;
      else if (room.memberCount && had) room.memberCount -= 1;
      room.users.delete(user.id);
      room.typing.delete(user.id);
      if (room.name === state.active) host.renderUsers();
    }
    if (room.name === state.active) members.render(room);
  }

  function onRemoved(frame) {
    const room = state.rooms.get(frame.room);
    if (!room) return;
    if (room.kind !== "public") revokeAccess(room);
    else if (room.name !== LOBBY) forget(room); // the user dropped a public room from their list elsewhere
  }

  function onOwnerChanged(frame) {
    const room = state.rooms.get(frame.room);
    if (!room || !frame.owner || typeof frame.owner.id !== "string") return;
    room.owner = frame.owner;
    if (room.name === state.active) members.render(room);
  }

  function onRead(frame) {
    const room = state.rooms.get(frame.room);
    if (!room || typeof frame.id !== "string") return;
    if (!room.readId || frame.id > room.readId) room.readId = frame.id;
    room.unread = Math.min(room.unread, unreadAfter(room, room.readId));
    if (!room.unread) room.unreadCapped = false;
    renderSidebar();
    host.updateTitle();
  }

  function onReceipt(frame) {
    const room = state.rooms.get(frame.room);
    if (!room || typeof frame.id !== "string" || (frame.user && frame.user.id === me().id)) return;
    if (!room.peerReadId || frame.id > room.peerReadId) room.peerReadId = frame.id;
    if (room.name === state.active) renderReceipt();
  }

  /** app.js calls this for every message frame before it files it: it may reveal a new direct conversation. */
  function seeMessage(message) {
    let room = state.rooms.get(message.room);
    if (!room && typeof message.room === "string" && limits.room.directRe.test(message.room)) {
      room = ensureRoom(message.room); // the first message of someone who never wrote to this user before
      room.kind = "direct";
      room.grantedAt = Date.now();
      if (message.user && message.user.id !== me().id) room.peer = message.user;
      else scheduleRefresh(); // our own message from another device: the list says who the other user is
    }
    if (!room) return;
    if (typeof message.createdAt === "string" && message.createdAt > room.lastActivity) room.lastActivity = message.createdAt;
    if (room.name !== state.active) queueMicrotask(renderSidebar); // after app.js counted it as unread
  }

  /**
   * Errors of the actions this module sends; true when handled. A refusal of app.js's own actions that says the
   * user is not a member (forbidden) marks the conversation the error names (`room`), and is left to app.js.
   */
  function onError(frame) {
    const code = frame.code;
    const text = code === "rate_limited" ? rateLimitedText(frame)
      : typeof frame.message === "string" ? frame.message : "The server refused a request.";
    if (blocks.onError(frame)) return true;
    switch (frame.action) {
      case "openDirect":
      case "createRoom":
        return forms.onError(frame, text);
      case "addMember":
      case "removeMember":
        members.onError(frame, text);
        return true;
      case "markRead":
      case "rooms":
        return true; // nothing the user asked for; the next read or reconnect tries again
      default:
        break;
    }
    if (code === "forbidden") {
      const room = refusedRoom(frame);
      // A refused send in a direct room is no lost membership (a direct room cannot be left): the other person
      // may have blocked this user, which the page must not guess at. Only that message fails (outbox.js).
      if (room && room.kind === "direct" && SENDS.includes(frame.action)) return false;
      if (room && room.kind !== "public") revokeAccess(room);
      else if (room && frame.action === "join" && !room.historyLoaded && !room.joined) {
        forget(room); // typed into "join a room…", but it is someone's private room
        host.showNotice(`#${room.name} is a private room: only its members can open it.`);
        return true;
      }
    }
    return false; // app.js passes it on: outbox.js fails the refused message, history.js ends its request
  }

  /** The room an error is about: the server names it (`room`) for every refused frame that had a room. */
  function refusedRoom(frame) {
    return typeof frame.room === "string" && state.rooms.has(frame.room) ? state.rooms.get(frame.room) : null;
  }

  // ---------------------------------------------------------------- reading
  /** Tell the server (and so the user's other devices) that the newest message of the open room was seen. */
  function maybeMarkRead() {
    clearTimeout(markTimer);
    markTimer = setTimeout(() => {
      const room = state.rooms.get(state.active);
      if (!room || !room.access || document.visibilityState !== "visible" || !host.nearBottom()) return;
      const newest = room.newestId;
      if (!newest || (room.readId && room.readId >= newest)) return;
      if (room.unread) {
        room.unread = 0;
        room.unreadCapped = false;
        renderSidebar();
        host.updateTitle();
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
      if (message.user && message.user.id !== me().id) count += 1;
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
        if (message.user && message.user.id === me().id) mine = message.id;
      }
      if (mine && room.peerReadId >= mine) text = `Seen by ${room.peer.username}`;
    }
    ui.receipt.textContent = text;
    ui.receipt.hidden = !text;
  }

  // ---------------------------------------------------------------- the open conversation
  /** app.js calls this at the end of switchRoom: the header, the composer and the panels follow the room. */
  function onSwitch(room) {
    if (!room) return;
    const label = roomLabel(room);
    ui.title.textContent = label;
    ui.input.placeholder = `Message ${label}`;
    ui.roomKind.hidden = room.kind === "public";
    ui.roomKind.textContent = room.kind === "direct" ? "Direct message" : "Private";
    if (room.kind !== "public") ui.leaveRoom.hidden = true; // private rooms are left from the members panel
    ui.input.disabled = !room.access;
    ui.send.disabled = !room.access;
    ui.accessNote.hidden = room.access;
    ui.historyStart.textContent =
      room.kind === "direct" ? `This is the beginning of your conversation with ${label}.` : "This is the beginning of the room.";
    if (!room.access) {
      ui.accessText.textContent = `You are no longer a member of ${label}: you cannot read or send anything new here.`;
      ui.input.placeholder = "You are no longer a member of this room";
    }
    if (room.access && !room.opened) {
      room.opened = true; // from now on app.js joins it again after every reconnect
      if (!room.joined) send({ action: "join", room: room.name }); // presence, typing and the latest page
    }
    members.show(room);
    blocks.showFor(room);
    renderReceipt();
    renderSidebar();
    maybeMarkRead();
  }

  /** Whether app.js joins this room when the socket (re)opens: the lobby, and any other room once opened here. */
  /**
   * Rooms this page joins on every connection: the lobby, what it opened, and the most recent direct rooms, so
   * that the sidebar shows whether each of those people is online (presence is per connection and room: the
   * other person's page joins its direct rooms too). Capped to stay well inside the per-connection join limits.
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

  function onOpen() {
    joinAsked.clear(); // app.js has just joined what joinsOnOpen named
    for (const room of state.rooms.values()) if (joinsOnOpen(room)) joinAsked.add(room.name);
    askRooms(); // the list, unread counts and anything that changed while the page was away
    blocks.load(); // whom the user blocked (another device may have changed it)
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

  // ---------------------------------------------------------------- the sidebar
  function renderSidebar() {
    // The lists are drawn anew: a keyboard user's focus stays on the same conversation.
    const focused = document.activeElement && document.activeElement.matches(".room") ? document.activeElement.dataset.room : null;
    const direct = [];
    const rooms = [];
    for (const room of state.rooms.values()) {
      if (room.kind === "direct" || room.name.startsWith(DM_PREFIX)) direct.push(room);
      else rooms.push(room);
    }
    direct.sort((a, b) => (b.lastActivity || "").localeCompare(a.lastActivity || "") || a.name.localeCompare(b.name));
    ui.dmList.replaceChildren(...direct.map(item));
    ui.roomList.replaceChildren(...rooms.map(item));
    if (!direct.length) ui.dmList.append(el("li", { className: "hint empty", text: "No direct messages yet." }));
    if (focused) {
      for (const button of document.querySelectorAll(".sidebar .room")) if (button.dataset.room === focused) button.focus();
    }
    joinWanted(); // a direct room the page just learnt of (its first message, openDirect): join it for presence
  }

  function item(room) {
    const button = el("button", { className: "room", testid: "room-item", attrs: { type: "button" } });
    button.dataset.room = room.name;
    button.dataset.kind = room.kind;
    if (room.name === state.active) button.setAttribute("aria-current", "true");
    if (!room.access) button.classList.add("gone");
    const online = room.kind === "direct" && room.peer ? room.users.has(room.peer.id) : null;
    if (online !== null) button.dataset.presence = online ? "online" : "offline";
    button.append(el("span", { className: "name", text: roomLabel(room) }));
    if (room.kind === "private") button.append(lockIcon());
    if (!room.access) button.append(el("span", { className: "gone-tag", text: "removed" }));
    const count = badgeText(room);
    button.append(el("span", { className: "badge", testid: "room-unread", text: count }));
    if (room.mentions) button.append(mentionBadge(room, el));
    // One name for screen readers and tests, beginning with what is on screen: "#plans, private, 2 unread".
    const name = [roomLabel(room)];
    if (room.kind === "private") name.push("private");
    if (!room.access) name.push("removed");
    if (online !== null) name.push(online ? "online" : "offline");
    if (count) name.push(`${count} unread`);
    if (room.mentions) name.push("mentions you");
    button.setAttribute("aria-label", name.join(", "));
    button.addEventListener("click", () => host.switchRoom(room.name, { focus: true }));
    const li = el("li");
    li.append(button);
    return li;
  }

  function wire() {
    ui.accessClose.addEventListener("click", () => {
      const room = state.rooms.get(state.active);
      if (room && !room.access) forget(room);
    });
    // The newest message is seen when it is on screen in a visible page: new ones, history, scrolling, coming back.
    new MutationObserver(() => {
      maybeMarkRead();
      renderReceipt();
    }).observe(ui.messages, { childList: true });
    ui.scroller.addEventListener("scroll", () => {
      if (host.nearBottom()) maybeMarkRead();
    });
    document.addEventListener("visibilitychange", maybeMarkRead);
    window.addEventListener("focus", maybeMarkRead);
    setInterval(refreshListed, LISTED_ROOMS_REFRESH_MS);
  }

  wire();
  return { onFrame, onError, onOpen, onSwitch, seeMessage, joinsOnOpen, renderSidebar, label: roomLabel, reset };

  /** Log out: forget what this page asked for. */
  function reset() {
    forms.reset();
    leaving.clear();
    clearTimeout(markTimer);
    clearTimeout(refreshTimer);
    members.close();
    ui.dmList.replaceChildren();
  }
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
