// Private conversations on the web page (issue 10): the rooms the page learns of (the rooms list, created,
// added, direct), their kind, owner and members, and what a user removed from a private room sees; the open
// conversation's header and composer. app.js owns the socket (timeline.js, composer.js the rest); it calls the few
// hooks below and this module never touches its messages. The sidebar's lists are drawn by sidebar.js, read
// positions and receipts kept by reading.js, the rooms joined for presence chosen by roomjoins.js; members live in
// members.js; "New direct message" and "New private room" in startforms.js.

import { DM_PREFIX, LOBBY, Room } from "./rooms.js";
import { createBlocks } from "./blocks.js";
import { createMembersPanel } from "./members.js";
import { createStartForms } from "./startforms.js";
import { rateLimitedText } from "./limits.js";
import { fullName } from "./names.js";
import { createSidebar, roomLabel } from "./sidebar.js";
import { onCloseRemoved, showHeader } from "./roomheader.js";
import { createReading } from "./reading.js";
import { createRoomJoins } from "./roomjoins.js";

const SENDS = ["sendMessage", "editMessage", "deleteMessage", "react", "unreact"]; // refused in a blocked direct room

/**
 * @param {object} host what app.js lends: {state, limits, send, switchRoom, showNotice, hideNotice, myUser,
 *   nearBottom, renderUsers, renderTyping, updateTitle, redrawTimeline, el}
 */
export function createConversations(host) {
  const { state, limits, send, el } = host;
  const leaving = new Set(); // private rooms this page asked to leave: they go from the list once removed
  let addedNotice = null; // {room, text}: the notice that said the user was added to that room

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

  const joins = createRoomJoins({ state, send });
  // a direct room the page just learnt of (its first message, openDirect): joined for presence once listed
  const sidebar = createSidebar({ state, el, switchRoom: host.switchRoom, onRendered: joins.joinWanted });
  const renderSidebar = sidebar.render;
  const reading = createReading({
    state,
    send,
    myUser: host.myUser,
    nearBottom: host.nearBottom,
    renderSidebar,
    updateTitle: host.updateTitle,
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

  /** Apply what a frame says about a room (rooms.js); the open room is drawn again when its owner changes. */
  function describe(room, info) {
    const owned = ownedByMe(room);
    room.describe(info, me().id);
    if (owned !== ownedByMe(room) && room.name === state.active) host.redrawTimeline();
  }

  /** A private room's owner may delete anyone's message there: the timeline offers it (message_view.js). */
  function ownedByMe(room) {
    return Boolean(room.owner && room.owner.id === me().id);
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
        reading.onRead(frame);
        return true;
      case "receipt":
        reading.onReceipt(frame);
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
      if (listed.has(room.name) || !room.access || (room.grantedAt || 0) >= joins.askedAt()) continue;
      if (room.kind === "private" || room.kind === "direct" || room.name.startsWith(DM_PREFIX)) revokeAccess(room);
    }
    renderSidebar();
    host.updateTitle();
    if (state.rooms.has(state.active)) onSwitch(state.rooms.get(state.active));
    joins.joinWanted();
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
    const text = `${frame.owner && frame.owner.username ? fullName(frame.owner) : "Someone"} added you to ${roomLabel(room)}.`;
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
    describe(room, { owner: frame.owner });
    if (room.name === state.active) members.render(room);
  }

  /** app.js calls this for every message frame before it files it: it may reveal a new direct conversation. */
  function seeMessage(message) {
    let room = state.rooms.get(message.room);
    if (!room && typeof message.room === "string" && limits.room.directRe.test(message.room)) {
      room = ensureRoom(message.room); // the first message of someone who never wrote to this user before
      room.kind = "direct";
      room.grantedAt = Date.now();
      if (message.user && message.user.id !== me().id) room.peer = message.user;
      else joins.scheduleRefresh(); // our own message from another device: the list says who the other user is
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

  // ---------------------------------------------------------------- the open conversation
  /** app.js calls this at the end of switchRoom: the header, the composer and the panels follow the room. */
  function onSwitch(room) {
    if (!room) return;
    showHeader(room);
    if (room.access && !room.opened) {
      room.opened = true; // from now on app.js joins it again after every reconnect
      if (!room.joined) send({ action: "join", room: room.name }); // presence, typing and the latest page
    }
    members.show(room);
    blocks.showFor(room);
    reading.renderReceipt();
    renderSidebar();
    reading.maybeMarkRead();
  }

  function onOpen() {
    joins.onOpen(); // the rooms list, unread counts and anything that changed while the page was away
    blocks.load(); // whom the user blocked (another device may have changed it)
  }

  onCloseRemoved(() => {
    const room = state.rooms.get(state.active);
    if (room && !room.access) forget(room);
  });
  return { onFrame, onError, onOpen, onSwitch, seeMessage, joinsOnOpen: joins.joinsOnOpen, renderSidebar, label: roomLabel, reset };

  /** Log out: forget what this page asked for. */
  function reset() {
    forms.reset();
    leaving.clear();
    reading.reset();
    joins.reset();
    members.close();
    sidebar.reset();
  }
}

