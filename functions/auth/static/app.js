// Parley's web page: it boots from /config.json, signs in, and keeps one socket whose frames it hands to the
// module that owns each concern. The modules are made here and given what they use; the only shared state
// is `state` below (who is signed in, the socket, the rooms and which one is open).
//   signin.js the sign-in view          timeline.js the open room's messages    history.js pages of history
//   outbox.js our messages on their way  composer.js the message box             presence.js online and typing
//   notices.js the notice line           conversations.js (+ members.js, startforms.js, sidebar.js, reading.js,
//   roomjoins.js, roomheader.js) private and direct rooms, the sidebar, read positions
//   account.js the session (renewal, log-out, password)   storage.js what survives a reload of the tab
//   notify.js system notifications      tabs.js the other tabs of this browser (one sign-in: a log-out or
//   log-in in one reaches the others)
//   message_actions.js react, reply, edit, delete, and every change (messageUpdated); drafting.js replies and edits

import { ApiError, loadConfig, me, resumeSession, tokenExpiry } from "./api.js";
import { ChatSocket } from "./socket.js";
import * as account from "./account.js";
import { LOBBY, Room, normalizeRoomName } from "./rooms.js";
import { createConversations } from "./conversations.js";
import { applyLimits, compileLimits, rateLimitedText, roomRule } from "./limits.js";
import { byId, el, strong } from "./dom.js";
import { fullName, shownName } from "./names.js";
import { createNotices } from "./notices.js";
import { createSignIn } from "./signin.js";
import { createTimeline } from "./timeline.js";
import { createHistory } from "./history.js";
import { createOutbox } from "./outbox.js";
import { createPresence } from "./presence.js";
import { createComposer, fitHeight } from "./composer.js";
import { createDrafting } from "./drafting.js";
import { createMessageActions } from "./message_actions.js";
import { forgetRooms, loadRooms, rememberInstance, rememberedInstance, saveRooms } from "./storage.js";
import * as tabs from "./tabs.js";
import { createNotify } from "./notify.js";
import { createRoomBrowser } from "./browse.js";
import { mentionsMe, toggleBadge } from "./mentionbadge.js";

const ui = {
  chatView: byId("chat-view"),
  status: byId("connection-status"),
  whoami: byId("current-user"),
  logout: byId("logout"),
  sidebarToggle: byId("sidebar-toggle"),
  scrim: byId("scrim"),
  roomList: byId("room-list"),
  joinForm: byId("join-form"),
  joinInput: byId("join-room-input"),
  joinError: byId("join-error"),
  roomTitle: byId("room-title"),
  leaveRoom: byId("leave-room"),
};

const state = {
  session: null, // {token, user: {id, username}}: the token in memory only (a reload gets a new one: resume)
  socket: null,
  rooms: new Map(), // name -> Room, in the order the user joined them
  active: LOBBY,
};
let page = null; // the modules, made once /config.json has said what the server accepts (boot)

// ------------------------------------------------------------------------------------------ boot
async function boot() {
  wire();
  const config = await configuration();
  const limits = compileLimits(config.limits);
  applyLimits(limits);
  page = assemble(config.websocketUrl, limits);
  page.instanceId = config.instanceId;
  tabs.listen(onOtherTab);
  await resume();
}

/**
 * Sign in from this browser's session cookie (a reload, a new tab, a restarted browser): the log-in form when
 * there is none or its session has ended, with a clear reason when the server cannot be reached.
 */
async function resume() {
  let session = null;
  try {
    session = await resumeSession();
  } catch (err) {
    const status = err instanceof ApiError ? err.status : 0;
    if (status === 0 || status >= 500) showAuth(`Could not check whether you are signed in: ${err.message}`);
    else if (status === 401 && wasReset(page.instanceId)) showAuth(SERVER_RESET);
    else showAuth(); // 401: not signed in (or signed out elsewhere); 403/415: not this page's own site
    rememberInstance(null);
    return;
  }
  if (!session || typeof session.token !== "string" || !session.user || state.session) return;
  enterChat({ token: session.token, user: session.user });
}

/** Another tab of this browser signed out (so did this one: one cookie) or in (this one may follow). */
function onOtherTab({ type, userId, message }) {
  if (type === "signedOut" && state.session && state.session.user.id === userId) {
    logOut(message || "You logged out in another tab.", { tell: false });
  } else if (type === "signedIn" && !state.session && page) {
    resume();
  }
}

/** /config.json, asked again (backing off) until the server answers: nothing can be checked without it. */
async function configuration() {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await loadConfig();
    } catch {
      ui.status.hidden = false;
      setStatus({ state: "reconnecting" });
      await sleep(Math.min(30000, 1000 * 2 ** attempt));
    }
  }
}

/** Make the page's modules, each given what it uses. */
function assemble(websocketUrl, limits) {
  const activeRoom = () => state.rooms.get(state.active);
  const notices = createNotices();
  const signin = createSignIn({
    limits,
    onSignedIn: (session) => {
      tabs.announce("signedIn", session.user.id);
      enterChat(session);
    },
  });
  let outbox = null;
  const timeline = createTimeline({ activeRoom, myUser, onRetry: (cmid) => outbox.retry(cmid) });
  outbox = createOutbox({ state, send, timeline, notices });
  const history = createHistory({ state, limits, send, timeline, myUser, onConfirmed: outbox.confirm });
  const presence = createPresence({ state, limits, send, myUser });
  const drafting = createDrafting({ activeRoom, myUser, send, notices, fitHeight });
  const composer = createComposer({ limits, activeRoom, myUser, outbox, presence, notices, drafting });
  const actions = createMessageActions({ state, send, timeline, history, drafting, notices, myUser, onNew: onMessage });
  // Direct messages, private rooms, members and read positions (issue 10) live in conversations.js.
  const convo = createConversations({
    state,
    limits,
    send,
    switchRoom,
    showNotice: notices.show,
    hideNotice: notices.hideIf,
    myUser,
    nearBottom: timeline.nearBottom,
    renderUsers: presence.renderUsers,
    renderTyping: presence.renderTyping,
    updateTitle,
    redrawTimeline: timeline.redraw,
    el,
  });
  createRoomBrowser({ state, el, joinRoom });
  const notify = createNotify({
    state,
    myUser,
    openRoom: (name) => {
      if (state.rooms.has(name)) switchRoom(name, { focus: true });
    },
    label: convo.label,
  });
  timeline.wire({ onLoadOlder: history.loadOlder, onJumpLatest: composer.focus });
  window.addEventListener("pagehide", presence.stop);
  return {
    websocketUrl, limits, activeRoom, notices, signin, timeline, outbox, history, presence, composer, drafting, actions, convo, notify,
  };
}

// ------------------------------------------------------------------------------------------ signed in or out
function showAuth(message = "") {
  ui.chatView.hidden = true;
  ui.status.hidden = true;
  ui.whoami.hidden = true;
  ui.logout.hidden = true;
  ui.sidebarToggle.hidden = true;
  document.title = "Parley";
  page.signin.show(message);
}

const SERVER_RESET =
  "The server was restarted, and its database was kept in memory: every account, room and message went with it. " +
  "Sign up again to carry on.";

/** Whether the server this browser signed in to is not the one that answers now (`current`: its instanceId). */
function wasReset(current) {
  const known = rememberedInstance();
  return Boolean(known && known !== current);
}

/** The session ended without this user logging out: after a reset of an in-memory server, say so. */
async function sessionGone(message) {
  let reset = false;
  try {
    reset = wasReset((await loadConfig()).instanceId);
  } catch {
    // the server cannot be reached: say what account.js said
  }
  logOut(reset ? SERVER_RESET : message);
}

function enterChat(session) {
  state.session = session;
  rememberInstance(page.instanceId);
  account.begin(session, { onRenewed, onEnded: sessionGone, onProfile, limits: page.limits });
  page.signin.hide();
  ui.chatView.hidden = false;
  ui.status.hidden = false;
  ui.logout.hidden = false;
  ui.sidebarToggle.hidden = false;
  ui.whoami.hidden = false;
  showWhoami(session.user);

  const savedRooms = loadRooms();
  const names = [LOBBY];
  if (savedRooms && Array.isArray(savedRooms.rooms)) {
    for (const name of savedRooms.rooms) if (page.limits.room.isName(name) && !names.includes(name)) names.push(name);
  }
  state.rooms = new Map(names.map((name) => [name, opened(new Room(name))])); // the rooms frame adds the others
  const active = savedRooms && state.rooms.has(savedRooms.active) ? savedRooms.active : LOBBY;
  switchRoom(active, { focus: true });
  setStatus({ state: "connecting" });
  const socket = new ChatSocket({
    url: page.websocketUrl,
    token: state.session.token,
    onFrame,
    onOpen,
    onStatus: setStatus,
    onClose: onSocketClosed,
  });
  state.socket = socket;
  socket.start();
}

/** Sign this page out; `tell` the other tabs too (they share the sign-in) unless they told this one. */
function logOut(message = "", { tell = true } = {}) {
  const user = state.session ? state.session.user : null;
  if (tell && user) tabs.announce("signedOut", user.id, message || "You logged out in another tab.");
  account.end();
  if (state.socket) state.socket.stop();
  state.socket = null;
  page.outbox.stopTimers();
  page.presence.reset();
  state.rooms.clear();
  state.session = null;
  state.active = LOBBY;
  page.convo.reset();
  forgetRooms();
  page.timeline.clear();
  ui.roomList.replaceChildren();
  page.drafting.cancel();
  page.composer.clear();
  page.notices.hide();
  rememberInstance(null);
  showAuth(message);
}

/** "Signed in as zoë" (the display name, names.js), the whole name with @username in the title. */
function showWhoami(user) {
  ui.whoami.replaceChildren(el("span", { className: "whoami-label", text: "Signed in as " }), strong(shownName(user)));
  ui.whoami.title = `Signed in as ${fullName(user)}`; // the whole name where a phone's header cuts it
}

/** A new display name (account.js): a new socket carries it (docs/protocol.md), opened before the old one closes. */
function onProfile(session) {
  state.session = session;
  showWhoami(session.user);
  if (state.socket) state.socket.renew(session.token);
}

/** A renewed token (account.js): reconnect the socket with it (it stays in memory). */
function onRenewed(session) {
  state.session = session;
  if (state.socket) state.socket.renew(session.token);
}

function myUser() {
  return state.session ? state.session.user : { id: "", username: "" };
}

function send(frame) {
  return state.socket ? state.socket.send(frame) : false;
}

// ------------------------------------------------------------------------------------------ the socket
function onOpen() {
  for (const room of state.rooms.values()) {
    room.joined = false;
    if (page.convo.joinsOnOpen(room)) send({ action: "join", room: room.name });
  }
  page.convo.onOpen();
}

function onSocketClosed({ everOpened }) {
  for (const room of state.rooms.values()) {
    room.joined = false;
    page.history.onClosed(room);
    page.outbox.onClosed(room); // resent after the room is joined again
  }
  page.outbox.stopTimers();
  page.presence.onClosed();
  page.timeline.renderHistoryEdge();
  if (!everOpened && state.session) checkToken();
}

/** A handshake that fails may be an expired token (API Gateway answers 401/403, which the browser hides). */
async function checkToken() {
  const session = state.session;
  const exp = tokenExpiry(session.token);
  if (exp !== null && exp * 1000 <= Date.now()) {
    account.sessionEnded(); // a sleeping laptop: renewed from the session cookie if the session is still live
    return;
  }
  try {
    await me(session.token);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && state.session === session) {
      account.sessionEnded(); // expired (renewed from the cookie), or ended by a log-out elsewhere (signed out)
    }
  }
}

function setStatus({ state: s, retryInMs }) {
  const labels = { online: "Connected", connecting: "Connecting…", reconnecting: "Reconnecting…", offline: "Offline" };
  ui.status.dataset.state = s;
  ui.status.textContent = labels[s] || s;
  ui.status.title = retryInMs ? `Next attempt in ${Math.ceil(retryInMs / 1000)} s` : "";
}

// ------------------------------------------------------------------------------------------ frames
function onFrame(frame) {
  if (page.convo.onFrame(frame)) return undefined;
  switch (frame.type) {
    case "joined":
      return onJoined(frame);
    case "presence":
      page.presence.onPresence(frame);
      if (isDirect(frame.room)) page.convo.renderSidebar(); // the sidebar's dot for that person
      return undefined;
    case "message":
      return onMessage(frame.message);
    case "messageUpdated":
      return page.actions.onUpdated(frame.message);
    case "typing":
      return page.presence.onTyping(frame);
    case "history":
      return page.history.onHistory(frame);
    case "sync":
      return page.history.onSync(frame);
    case "error":
      return onError(frame);
    default:
      return undefined; // "left", and anything newer than this page
  }
}

function isDirect(name) {
  const room = state.rooms.get(name);
  return Boolean(room && room.kind === "direct");
}

function onJoined(frame) {
  const room = state.rooms.get(frame.room);
  if (!room) return; // left meanwhile
  room.joined = true;
  room.setUsers(frame.users);
  if (room.kind === "direct") page.convo.renderSidebar();
  page.history.onJoined(room);
  page.outbox.onJoined(room);
  if (room.name === state.active) page.presence.renderUsers();
}

function onMessage(message) {
  if (!message || typeof message.id !== "string") return;
  page.convo.seeMessage(message);
  const room = state.rooms.get(message.room);
  if (!room) return;
  const { timeline } = page;
  const active = room.name === state.active;
  const stick = active && timeline.nearBottom();
  const result = room.add(message, myUser().id);
  if (result.confirmed) page.outbox.confirm(result.confirmed);
  if (result.added && active) timeline.insert(room, result.index);
  // unread too in the open room while the tab is hidden: the title counts it until the user comes back
  if (result.added && (!active || document.visibilityState === "hidden") && message.user.id !== myUser().id) {
    room.unread += 1;
    if (mentionsMe(message, myUser().id)) room.mentions += 1;
    renderRooms();
  }
  page.presence.onMessage(room, message.user);
  if (result.added) page.notify.onMessage(room, message);
  if (active && result.added) {
    if (stick || message.user.id === myUser().id) timeline.scrollToBottom();
    else timeline.offerLatest();
  }
  updateTitle();
}

function onError(frame) {
  if (frame.code === "session_ended") {
    account.sessionEnded(); // renewed if it only expired, else signed out
    return;
  }
  if (page.convo.onError(frame)) return;
  const text = frame.code === "rate_limited" && frame.action !== "sendMessage" ? rateLimitedText(frame)
    : typeof frame.message === "string" ? frame.message : "The server refused a request.";
  if (frame.code === "not_in_room" && ["sendMessage", "typing", "history"].includes(frame.action)) {
    if (frame.action === "history") page.history.onRefused(frame);
    rejoinAll(); // the server forgot our rooms (a stale connection): join again, pending messages follow
    return;
  }
  if (frame.action === "sendMessage") {
    page.outbox.onRefused(frame, text);
    return;
  }
  if (frame.action === "history" || frame.action === "sync") page.history.onRefused(frame);
  if (frame.action !== "typing") page.notices.show(text);
}

function rejoinAll() {
  for (const room of state.rooms.values()) {
    room.joined = false;
    if (page.convo.joinsOnOpen(room)) send({ action: "join", room: room.name });
  }
}

// ------------------------------------------------------------------------------------------ rooms
function switchRoom(name, { focus = false } = {}) {
  const previous = page.activeRoom();
  if (previous && previous.name !== name) {
    previous.scrollTop = page.timeline.scrollPosition();
    page.presence.stop();
  }
  state.active = name;
  const room = page.activeRoom();
  room.unread = 0;
  saveRooms(state.rooms, state.active);
  ui.roomTitle.textContent = `#${name}`;
  page.composer.setRoom(`#${name}`);
  ui.leaveRoom.hidden = name === LOBBY;
  page.timeline.hideLatest();
  renderRooms();
  page.presence.renderUsers();
  page.presence.renderTyping();
  page.timeline.render();
  page.timeline.renderHistoryEdge();
  page.timeline.restoreScroll(room.scrollTop);
  updateTitle();
  closeSidebar();
  page.convo.onSwitch(room);
  if (focus) page.composer.focus();
}

function onJoinSubmit(event) {
  event.preventDefault();
  const name = normalizeRoomName(ui.joinInput.value);
  ui.joinError.textContent = "";
  ui.joinInput.removeAttribute("aria-invalid");
  const refused = joinRoom(name);
  if (refused) {
    ui.joinError.textContent = refused;
    if (!page.limits.room.isName(name)) {
      ui.joinInput.setAttribute("aria-invalid", "true");
      ui.joinInput.focus();
    }
    return;
  }
  ui.joinInput.value = "";
}

/** Join and open a public room by name (the join box, the room browser): null, or why it cannot. */
function joinRoom(name) {
  const { limits } = page;
  if (!limits.room.isName(name)) return roomRule(limits);
  const known = state.rooms.get(name);
  if (!known || !known.opened) {
    const joined = [...state.rooms.values()].filter((r) => page.convo.joinsOnOpen(r)).length;
    if (joined >= limits.roomsPerConnection) {
      return `This page has ${limits.roomsPerConnection} rooms open already: leave one first.`;
    }
  }
  if (!known) {
    state.rooms.set(name, opened(new Room(name)));
    send({ action: "join", room: name }); // when offline, the next connection joins every room
  }
  switchRoom(name, { focus: true });
  return null;
}

/** A room this page joins (after every reconnect too): the lobby, rooms opened here. */
function opened(room) {
  room.opened = true;
  return room;
}

function leaveActiveRoom() {
  const room = page.activeRoom();
  if (!room || room.name === LOBBY) return;
  if (page.presence.typingIn(room)) page.presence.stop();
  send({ action: "leave", room: room.name }); // presence on this connection…
  // …and the user's list on every device (the others get "removed" and drop it too)
  if (room.kind === "public") send({ action: "removeMember", room: room.name, username: myUser().username });
  page.outbox.forget(room);
  page.history.forget(room);
  state.rooms.delete(room.name);
  switchRoom(LOBBY, { focus: true });
}

function renderRooms() {
  page.convo.renderSidebar(); // direct messages and rooms, with their unread badges
}

/** "(2) #general · Parley": how many conversations have unread messages (not how many messages). */
function updateTitle() {
  let unread = 0;
  for (const room of state.rooms.values()) if (room.unread) unread += 1;
  const room = page.activeRoom();
  const base = state.session && room ? `${page.convo.label(room)} · Parley` : "Parley";
  document.title = unread ? `(${unread}) ${base}` : base;
  // On a phone the sidebar is behind ☰: its badge says that a conversation has something new (@: for you).
  const toggle = toggleBadge(state.rooms.values());
  byId("sidebar-badge").textContent = toggle.text;
  byId("sidebar-badge").classList.toggle("mentioned", toggle.mentioned);
  byId("sidebar-toggle-label").textContent = toggle.label;
}

// ------------------------------------------------------------------------------------------ the sidebar (phones)
function openSidebar() {
  ui.chatView.classList.add("sidebar-open");
  ui.sidebarToggle.setAttribute("aria-expanded", "true");
  ui.scrim.hidden = false;
  const current = ui.roomList.querySelector('[aria-current="true"]');
  if (current) current.focus();
}

function closeSidebar() {
  if (!ui.chatView.classList.contains("sidebar-open")) return;
  ui.chatView.classList.remove("sidebar-open");
  ui.sidebarToggle.setAttribute("aria-expanded", "false");
  ui.scrim.hidden = true;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ------------------------------------------------------------------------------------------ wiring
function wire() {
  ui.logout.addEventListener("click", () => {
    account.logout(); // ends the session on the server too
    logOut();
  });
  ui.joinForm.addEventListener("submit", onJoinSubmit);
  ui.leaveRoom.addEventListener("click", leaveActiveRoom);
  ui.sidebarToggle.addEventListener("click", () => {
    if (ui.chatView.classList.contains("sidebar-open")) closeSidebar();
    else openSidebar();
  });
  ui.scrim.addEventListener("click", closeSidebar);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && ui.chatView.classList.contains("sidebar-open")) {
      closeSidebar();
      ui.sidebarToggle.focus();
    }
  });
}

boot();
