// Parley's web page: sign in, rooms, live messages, history, typing, presence and reconnection.
// User data only ever reaches the DOM through textContent / attributes, never as HTML.

import { ApiError, loadConfig, login, me, signup, tokenExpiry } from "./api.js";
import { ChatSocket } from "./socket.js";
import * as account from "./account.js";
import { LOBBY, Room, newClientMsgId, normalizeRoomName, typingSentence } from "./rooms.js";
import { createConversations } from "./conversations.js";
import { applyLimits, compileLimits, passwordRule, roomRule } from "./limits.js";

const SESSION_KEY = "parley.session";
const ROOMS_KEY = "parley.rooms";
const SEND_DEADLINE_MS = 10000; // a sent message not echoed by then is shown as failed (and can be retried)
const HISTORY_DEADLINE_MS = 15000;
const NEAR_BOTTOM_PX = 80;

const $ = (id) => document.getElementById(id);
const ui = {
  authView: $("auth-view"),
  authForm: $("auth-form"),
  username: $("auth-username"),
  password: $("auth-password"),
  usernameError: $("auth-username-error"),
  passwordError: $("auth-password-error"),
  authError: $("auth-error"),
  chatView: $("chat-view"),
  status: $("connection-status"),
  whoami: $("current-user"),
  logout: $("logout"),
  sidebarToggle: $("sidebar-toggle"),
  scrim: $("scrim"),
  roomList: $("room-list"),
  joinForm: $("join-form"),
  joinInput: $("join-room-input"),
  joinError: $("join-error"),
  onlineUsers: $("online-users"),
  onlineCount: $("online-count"),
  roomTitle: $("room-title"),
  leaveRoom: $("leave-room"),
  scroller: $("scroller"),
  loadOlder: $("load-older"),
  historyStart: $("history-start"),
  historyLoading: $("history-loading"),
  messages: $("message-list"),
  jumpLatest: $("jump-latest"),
  typing: $("typing-indicator"),
  notice: $("notice"),
  composer: $("composer"),
  input: $("composer-input"),
};

const state = {
  session: null, // {token, user: {id, username}}
  socket: null,
  rooms: new Map(), // name -> Room, in the order the user joined them
  active: LOBBY,
  sendTimers: new Map(), // clientMsgId -> timeout id
  typingOut: { active: false, room: null, lastSentAt: 0, idleTimer: 0 },
  typingSweep: 0,
  noticeTimer: 0,
  elById: new Map(), // message id -> element, for the active room
  elByCmid: new Map(), // clientMsgId -> element of a pending message, for the active room
  websocketUrl: "", // from /config.json
};
// What the server accepts (/config.json, limits.js): known once the page has booted.
let limits = null;
// Direct messages, private rooms, members and read positions (issue 10) live in conversations.js.
let convo = null;

// ------------------------------------------------------------------------------------------ session
function loadJson(key) {
  try {
    return JSON.parse(sessionStorage.getItem(key) || "null");
  } catch {
    return null;
  }
}

function saveRooms() {
  const kept = [...state.rooms.values()].filter((r) => r.kind === "public" || r.name === state.active);
  sessionStorage.setItem(ROOMS_KEY, JSON.stringify({ rooms: kept.map((r) => r.name), active: state.active }));
}

async function boot() {
  wire();
  const config = await configuration();
  state.websocketUrl = config.websocketUrl;
  limits = compileLimits(config.limits);
  applyLimits(limits);
  convo = createConversations({
    state, limits, send, switchRoom, showNotice, myUser, nearBottom, renderUsers, renderTyping, updateTitle, el,
  });
  const saved = loadJson(SESSION_KEY);
  if (!saved || typeof saved.token !== "string" || !saved.user) {
    showAuth();
    return;
  }
  const exp = tokenExpiry(saved.token);
  if (exp !== null && exp * 1000 <= Date.now()) {
    forgetSession();
    showAuth("Your session has expired. Log in again.");
    return;
  }
  try {
    await me(saved.token);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      forgetSession();
      showAuth("Your session has expired. Log in again.");
      return;
    }
    // the server is unreachable right now: carry on, the socket will keep trying
  }
  enterChat(saved);
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

function forgetSession() {
  sessionStorage.removeItem(SESSION_KEY);
  sessionStorage.removeItem(ROOMS_KEY);
}

function showAuth(message = "") {
  ui.chatView.hidden = true;
  ui.status.hidden = true;
  ui.whoami.hidden = true;
  ui.logout.hidden = true;
  ui.sidebarToggle.hidden = true;
  ui.authView.hidden = false;
  clearAuthErrors();
  if (message) showAuthError(message);
  document.title = "Parley";
  ui.username.focus();
}

function logOut(message = "") {
  account.end();
  if (state.socket) state.socket.stop();
  state.socket = null;
  for (const timer of state.sendTimers.values()) clearTimeout(timer);
  state.sendTimers.clear();
  clearTimeout(state.typingOut.idleTimer);
  clearTimeout(state.typingSweep);
  state.typingOut = { active: false, room: null, lastSentAt: 0, idleTimer: 0 };
  state.rooms.clear();
  state.session = null;
  state.active = LOBBY;
  convo.reset();
  forgetSession();
  ui.messages.replaceChildren();
  ui.roomList.replaceChildren();
  ui.onlineUsers.replaceChildren();
  ui.typing.textContent = "";
  ui.input.value = "";
  hideNotice();
  showAuth(message);
}

// ------------------------------------------------------------------------------------------ auth form
function clearAuthErrors() {
  ui.usernameError.textContent = "";
  ui.passwordError.textContent = "";
  ui.authError.textContent = "";
  ui.authError.hidden = true;
  ui.username.removeAttribute("aria-invalid");
  ui.password.removeAttribute("aria-invalid");
}

function showAuthError(message) {
  ui.authError.textContent = message;
  ui.authError.hidden = false;
}

function fieldError(field, message) {
  const input = field === "password" ? ui.password : ui.username;
  const slot = field === "password" ? ui.passwordError : ui.usernameError;
  slot.textContent = message;
  input.setAttribute("aria-invalid", "true");
  input.focus();
}

async function onAuthSubmit(event) {
  event.preventDefault();
  const mode = event.submitter && event.submitter.value === "signup" ? "signup" : "login";
  clearAuthErrors();
  const username = ui.username.value.trim();
  const password = ui.password.value;
  if (!limits.username.re.test(username)) {
    fieldError("username", `Use ${limits.username.min}–${limits.username.max} characters: letters, digits, _ . or -`);
    return;
  }
  if (password.length < limits.password.min || password.length > limits.password.max) {
    fieldError("password", passwordRule(limits));
    return;
  }
  const buttons = ui.authForm.querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  try {
    const session = await (mode === "signup" ? signup : login)(username, password);
    if (!session || typeof session.token !== "string" || !session.user) throw new ApiError(500, "Unexpected reply.");
    sessionStorage.setItem(SESSION_KEY, JSON.stringify({ token: session.token, user: session.user }));
    ui.password.value = "";
    enterChat({ token: session.token, user: session.user });
  } catch (err) {
    const status = err instanceof ApiError ? err.status : 0;
    if (status === 409) fieldError("username", "That username is taken. Pick another one, or log in.");
    else if (status === 401) showAuthError("Wrong username or password.");
    else if (status === 422 && (err.field === "username" || err.field === "password")) fieldError(err.field, err.message);
    else showAuthError(err instanceof ApiError ? err.message : "Something went wrong. Try again.");
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

// ------------------------------------------------------------------------------------------ chat
function enterChat(session) {
  state.session = session;
  account.begin(session, { onRenewed, onEnded: logOut, limits });
  ui.authView.hidden = true;
  ui.chatView.hidden = false;
  ui.status.hidden = false;
  ui.logout.hidden = false;
  ui.sidebarToggle.hidden = false;
  ui.whoami.hidden = false;
  ui.whoami.replaceChildren(el("span", { className: "whoami-label", text: "Signed in as " }), strong(session.user.username));

  const savedRooms = loadJson(ROOMS_KEY);
  const names = [LOBBY];
  if (savedRooms && Array.isArray(savedRooms.rooms)) {
    for (const name of savedRooms.rooms) if (limits.room.isName(name) && !names.includes(name)) names.push(name);
  }
  state.rooms = new Map(names.map((name) => [name, new Room(name)]));
  const active = savedRooms && state.rooms.has(savedRooms.active) ? savedRooms.active : LOBBY;
  switchRoom(active, { focus: true });
  setStatus({ state: "connecting" });
  const socket = new ChatSocket({
    url: state.websocketUrl,
    token: state.session.token,
    onFrame,
    onOpen,
    onStatus: setStatus,
    onClose: onSocketClosed,
  });
  state.socket = socket;
  socket.start();
}

/** A renewed token (account.js): keep it for reloads and reconnect the socket with it. */
function onRenewed(session) {
  state.session = session;
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ token: session.token, user: session.user }));
  if (state.socket) state.socket.renew(session.token);
}

function myUser() {
  return state.session ? state.session.user : { id: "", username: "" };
}

function activeRoom() {
  return state.rooms.get(state.active);
}

function send(frame) {
  return state.socket ? state.socket.send(frame) : false;
}

function onOpen() {
  for (const room of state.rooms.values()) {
    room.joined = false;
    if (convo.joinsOnOpen(room)) send({ action: "join", room: room.name });
  }
  convo.onOpen();
}

function onSocketClosed({ everOpened }) {
  for (const room of state.rooms.values()) {
    room.joined = false;
    if (room.historyLoaded && room.catchUpFrom === null) room.catchUpFrom = room.newestId;
    clearTimeout(room.historyInFlight && room.historyInFlight.timer);
    room.historyInFlight = null;
    room.historyQueue = [];
    room.typing.clear();
    for (const entry of room.pending.values()) entry.sentAt = 0; // resent after the room is joined again
  }
  for (const timer of state.sendTimers.values()) clearTimeout(timer);
  state.sendTimers.clear();
  state.typingOut.active = false;
  renderTyping();
  renderHistoryEdge();
  if (!everOpened && state.session) checkToken();
}

/** A handshake that fails may be an expired token (API Gateway answers 401/403, which the browser hides). */
async function checkToken() {
  const session = state.session;
  const exp = tokenExpiry(session.token);
  if (exp !== null && exp * 1000 <= Date.now()) {
    logOut("Your session has expired. Log in again.");
    return;
  }
  try {
    await me(session.token);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && state.session === session) {
      logOut("Your session has ended. Log in again."); // expired, or ended by a log-out elsewhere
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
  if (convo.onFrame(frame)) return undefined;
  switch (frame.type) {
    case "joined":
      return onJoined(frame);
    case "presence":
      return onPresence(frame);
    case "message":
      return onMessage(frame.message);
    case "typing":
      return onTyping(frame);
    case "history":
      return onHistory(frame);
    case "error":
      return onError(frame);
    default:
      return undefined; // "left", and anything newer than this page
  }
}

function onJoined(frame) {
  const room = state.rooms.get(frame.room);
  if (!room) return; // left meanwhile
  room.joined = true;
  room.setUsers(frame.users);
  // First time: the latest page. Again (after a reconnect): everything after the last message we had.
  const from = room.historyLoaded ? room.catchUpFrom || room.newestId : null;
  if (from) requestHistory(room, { kind: "after", cursor: from });
  else requestHistory(room, { kind: "latest" });
  for (const entry of room.pending.values()) if (entry.status === "pending") transmit(room, entry);
  if (room.name === state.active) renderUsers();
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

function onMessage(message) {
  if (!message || typeof message.id !== "string") return;
  convo.seeMessage(message);
  const room = state.rooms.get(message.room);
  if (!room) return;
  const active = room.name === state.active;
  const stick = active && nearBottom();
  const result = room.add(message, myUser().id);
  if (result.confirmed) confirmPending(result.confirmed);
  if (result.added && active) insertMessage(room, result.index);
  if (result.added && !active && message.user.id !== myUser().id) {
    room.unread += 1;
    renderRooms();
  }
  if (room.setTyping(message.user, false) && active) renderTyping();
  if (active && result.added) {
    if (stick || message.user.id === myUser().id) scrollToBottom();
    else ui.jumpLatest.hidden = false;
  }
  updateTitle();
}

function onTyping(frame) {
  const room = state.rooms.get(frame.room);
  if (!room || !frame.user || frame.user.id === myUser().id) return;
  room.setTyping(frame.user, frame.isTyping === true, limits.typingExpiresMs);
  scheduleTypingSweep();
  if (room.name === state.active) renderTyping();
}

function onError(frame) {
  if (frame.code === "session_ended") {
    account.sessionEnded(); // renewed if it only expired, else signed out
    return;
  }
  if (convo.onError(frame)) return;
  const text = typeof frame.message === "string" ? frame.message : "The server refused a request.";
  if (frame.action === "sendMessage") {
    if (frame.code === "rate_limited" && typeof frame.clientMsgId === "string" && frame.retryAfterMs > 0) {
      sendLater(frame.clientMsgId, frame.retryAfterMs); // refused, not stored: the same clientMsgId goes again
      showNotice(`Sending too fast: your message goes out in ${Math.ceil(frame.retryAfterMs / 1000)} s.`);
      return;
    }
    if (frame.code === "not_in_room") {
      rejoinAll(); // the server forgot our rooms (a stale connection): join again, pending messages follow
      return;
    }
    // The error names the refused message by its clientMsgId; without one (an older server), every message
    // still in flight is shown as not sent: one that did get through is confirmed by its echo anyway, and a
    // retry never duplicates (clientMsgId).
    for (const room of state.rooms.values()) {
      for (const entry of room.pending.values()) {
        const named = typeof frame.clientMsgId === "string";
        if (named ? entry.clientMsgId === frame.clientMsgId : entry.sentAt) failPending(room, entry.clientMsgId);
      }
    }
    showNotice(`Message not sent: ${text}`);
    return;
  }
  if (frame.action === "history") {
    for (const room of state.rooms.values()) {
      if (room.historyInFlight) finishHistoryRequest(room);
    }
  }
  if (frame.code === "not_in_room" && (frame.action === "typing" || frame.action === "history")) {
    rejoinAll();
    return;
  }
  if (frame.action !== "typing") showNotice(text);
}

function rejoinAll() {
  for (const room of state.rooms.values()) {
    room.joined = false;
    if (convo.joinsOnOpen(room)) send({ action: "join", room: room.name });
  }
}

// ------------------------------------------------------------------------------------------ history
function requestHistory(room, request) {
  if (room.historyInFlight) {
    if (!room.historyQueue.some((q) => q.kind === request.kind && q.cursor === request.cursor)) {
      room.historyQueue.push(request);
    }
    return;
  }
  const frame = { action: "history", room: room.name };
  if (request.kind === "before") Object.assign(frame, { before: request.cursor, limit: limits.pageSize });
  else if (request.kind === "after") Object.assign(frame, { after: request.cursor, limit: limits.maxPageSize });
  else frame.limit = limits.pageSize;
  if (!send(frame)) return; // the next join asks again
  // One request per room at a time: the reply carries no cursor, so this is how the page knows what it answers.
  room.historyInFlight = {
    ...request,
    timer: setTimeout(() => finishHistoryRequest(room), HISTORY_DEADLINE_MS),
  };
  if (room.name === state.active) renderHistoryEdge();
}

function finishHistoryRequest(room) {
  if (room.historyInFlight) clearTimeout(room.historyInFlight.timer);
  room.historyInFlight = null;
  const next = room.historyQueue.shift();
  if (next) requestHistory(room, next);
  if (room.name === state.active) renderHistoryEdge();
}

function onHistory(frame) {
  const room = state.rooms.get(frame.room);
  if (!room || !Array.isArray(frame.messages)) return;
  const request = room.historyInFlight;
  const active = room.name === state.active;
  const stick = active && nearBottom();
  const heightBefore = ui.scroller.scrollHeight;
  const topBefore = ui.scroller.scrollTop;
  let added = 0;
  for (const message of frame.messages) {
    const result = room.add(message, myUser().id);
    if (result.confirmed) confirmPending(result.confirmed);
    if (result.added) added += 1;
  }
  if (request) {
    if (request.kind === "latest") {
      room.historyLoaded = true;
      room.hasOlder = frame.hasMore === true;
      room.catchUpFrom = null;
    } else if (request.kind === "before") {
      room.hasOlder = frame.hasMore === true;
    } else if (request.kind === "after") {
      const last = frame.messages.length ? frame.messages[frame.messages.length - 1].id : null;
      if (frame.hasMore === true && last) {
        room.catchUpFrom = last;
        room.historyQueue.unshift({ kind: "after", cursor: last });
      } else {
        room.catchUpFrom = null;
      }
    }
  }
  if (active && added) {
    renderMessages();
    if (request && request.kind === "before") {
      ui.scroller.scrollTop = topBefore + (ui.scroller.scrollHeight - heightBefore); // keep the reader's place
    } else if (stick || (request && request.kind === "latest")) {
      scrollToBottom();
    } else {
      ui.jumpLatest.hidden = false;
    }
  }
  finishHistoryRequest(room);
}

function loadOlder() {
  const room = activeRoom();
  if (!room || !room.hasOlder || room.historyInFlight || !room.oldestId) return;
  requestHistory(room, { kind: "before", cursor: room.oldestId });
}

// ------------------------------------------------------------------------------------------ sending
function onComposerSubmit(event) {
  event.preventDefault();
  const room = activeRoom();
  const text = ui.input.value.trim();
  if (!room || !text) return;
  if (text.length > limits.textMax) {
    showNotice(`Messages are at most ${limits.textMax} characters (this one has ${text.length}).`);
    return;
  }
  stopTyping();
  const entry = room.addPending(newClientMsgId(), text);
  ui.input.value = "";
  autosize();
  const element = pendingElement(entry);
  state.elByCmid.set(entry.clientMsgId, element);
  ui.messages.append(element);
  scrollToBottom();
  transmit(room, entry);
}

/** Send (or send again) one of our messages, under the same clientMsgId so the server never stores it twice. */
function transmit(room, entry) {
  setPendingStatus(room, entry, "pending");
  if (!room.joined) return; // sent when the room is joined (again)
  const ok = send({ action: "sendMessage", room: room.name, text: entry.text, clientMsgId: entry.clientMsgId });
  if (!ok) return;
  entry.sentAt = Date.now();
  clearTimeout(state.sendTimers.get(entry.clientMsgId));
  state.sendTimers.set(
    entry.clientMsgId,
    setTimeout(() => failPending(room, entry.clientMsgId), SEND_DEADLINE_MS),
  );
}

function failPending(room, clientMsgId) {
  clearTimeout(state.sendTimers.get(clientMsgId));
  state.sendTimers.delete(clientMsgId);
  const entry = room.pending.get(clientMsgId);
  if (!entry) return;
  entry.sentAt = 0;
  setPendingStatus(room, entry, "failed");
}

const resumeTimers = new Map(); // room name -> {at, timer}: when its rate-limited messages go out again

/** The server rate-limited this message (nothing was stored): it stays pending and is sent again, under the
 * same clientMsgId, once the server said it may be (retryAfterMs, capped at a minute). The room's waiting
 * messages all go out together, in the order they were written, when the latest of their waits is over. */
function sendLater(clientMsgId, retryAfterMs) {
  for (const room of state.rooms.values()) {
    const entry = room.pending.get(clientMsgId);
    if (!entry) continue;
    clearTimeout(state.sendTimers.get(clientMsgId));
    state.sendTimers.delete(clientMsgId);
    entry.waiting = true;
    const at = Date.now() + Math.min(retryAfterMs, 60_000) + 50;
    const current = resumeTimers.get(room.name);
    if (current && current.at >= at) continue;
    if (current) clearTimeout(current.timer);
    const timer = setTimeout(() => {
      resumeTimers.delete(room.name);
      for (const waiting of room.pending.values()) {
        if (!waiting.waiting) continue;
        waiting.waiting = false;
        transmit(room, waiting);
      }
    }, at - Date.now());
    resumeTimers.set(room.name, { at, timer });
  }
}

function retry(clientMsgId) {
  const room = activeRoom();
  const entry = room && room.pending.get(clientMsgId);
  if (entry) transmit(room, entry);
}

/** Our message came back from the server: its pending copy goes (the server's copy takes its place). */
function confirmPending(clientMsgId) {
  clearTimeout(state.sendTimers.get(clientMsgId));
  state.sendTimers.delete(clientMsgId);
  const element = state.elByCmid.get(clientMsgId);
  if (element) element.remove();
  state.elByCmid.delete(clientMsgId);
}

function setPendingStatus(room, entry, status) {
  entry.status = status;
  if (room.name !== state.active) return;
  const old = state.elByCmid.get(entry.clientMsgId);
  if (!old) return;
  const element = pendingElement(entry);
  old.replaceWith(element);
  state.elByCmid.set(entry.clientMsgId, element);
  if (status === "failed" && document.activeElement === old.querySelector("button")) element.querySelector("button")?.focus();
}

// ------------------------------------------------------------------------------------------ typing
function onComposerInput() {
  autosize();
  const room = activeRoom();
  if (!room) return;
  if (!ui.input.value.trim()) {
    stopTyping();
    return;
  }
  const now = Date.now();
  const out = state.typingOut;
  if (out.active && out.room !== room.name) stopTyping();
  if (room.joined && (!out.active || now - out.lastSentAt >= limits.typingIntervalMs)) {
    if (send({ action: "typing", room: room.name, isTyping: true })) {
      out.active = true;
      out.room = room.name;
      out.lastSentAt = now;
    }
  }
  clearTimeout(out.idleTimer);
  out.idleTimer = setTimeout(stopTyping, limits.typingIntervalMs); // no keystroke for as long: stopped
}

function stopTyping() {
  const out = state.typingOut;
  clearTimeout(out.idleTimer);
  if (out.active && state.rooms.get(out.room)?.joined) send({ action: "typing", room: out.room, isTyping: false });
  out.active = false;
  out.room = null;
  out.lastSentAt = 0;
}

function scheduleTypingSweep() {
  clearTimeout(state.typingSweep);
  let next = Infinity;
  for (const room of state.rooms.values()) for (const entry of room.typing.values()) next = Math.min(next, entry.until);
  if (next === Infinity) return;
  state.typingSweep = setTimeout(() => {
    const room = activeRoom();
    let changed = false;
    for (const r of state.rooms.values()) changed = r.expireTyping() || changed;
    if (changed && room) renderTyping();
    scheduleTypingSweep();
  }, Math.max(50, next - Date.now() + 20));
}

// ------------------------------------------------------------------------------------------ rooms
function switchRoom(name, { focus = false } = {}) {
  const previous = activeRoom();
  if (previous && previous.name !== name) {
    previous.scrollTop = nearBottom() ? null : ui.scroller.scrollTop;
    stopTyping();
  }
  state.active = name;
  const room = activeRoom();
  room.unread = 0;
  saveRooms();
  ui.roomTitle.textContent = `#${name}`;
  ui.input.placeholder = `Message #${name}`;
  ui.leaveRoom.hidden = name === LOBBY;
  ui.jumpLatest.hidden = true;
  renderRooms();
  renderUsers();
  renderTyping();
  renderMessages();
  renderHistoryEdge();
  if (room.scrollTop === null) scrollToBottom();
  else ui.scroller.scrollTop = room.scrollTop;
  updateTitle();
  closeSidebar();
  convo.onSwitch(room);
  if (focus) ui.input.focus();
}

function onJoinSubmit(event) {
  event.preventDefault();
  const name = normalizeRoomName(ui.joinInput.value);
  ui.joinError.textContent = "";
  ui.joinInput.removeAttribute("aria-invalid");
  if (!limits.room.isName(name)) {
    ui.joinError.textContent = roomRule(limits);
    ui.joinInput.setAttribute("aria-invalid", "true");
    ui.joinInput.focus();
    return;
  }
  if (!state.rooms.has(name)) {
    if (state.rooms.size >= limits.roomsPerConnection) {
      ui.joinError.textContent = `You are in ${limits.roomsPerConnection} rooms already: leave one first.`;
      return;
    }
    state.rooms.set(name, new Room(name));
    send({ action: "join", room: name }); // when offline, the next connection joins every room
  }
  ui.joinInput.value = "";
  switchRoom(name, { focus: true });
}

function leaveActiveRoom() {
  const room = activeRoom();
  if (!room || room.name === LOBBY) return;
  if (state.typingOut.room === room.name) stopTyping();
  send({ action: "leave", room: room.name });
  for (const cmid of room.pending.keys()) {
    clearTimeout(state.sendTimers.get(cmid));
    state.sendTimers.delete(cmid);
  }
  clearTimeout(room.historyInFlight && room.historyInFlight.timer);
  state.rooms.delete(room.name);
  switchRoom(LOBBY, { focus: true });
}

// ------------------------------------------------------------------------------------------ rendering
function strong(text) {
  const el = document.createElement("strong");
  el.textContent = text;
  return el;
}

function el(tag, { className, text, testid, attrs } = {}) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  if (testid) element.dataset.testid = testid;
  if (attrs) for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, value);
  return element;
}

function renderRooms() {
  convo.renderSidebar(); // direct messages and rooms, with their unread badges
}

function renderUsers() {
  const room = activeRoom();
  const users = room ? room.sortedUsers() : [];
  ui.onlineCount.textContent = String(users.length);
  ui.onlineUsers.replaceChildren(
    ...users.map((user) => {
      const li = el("li", { testid: "online-user" });
      li.dataset.username = user.username;
      li.append(el("span", { text: user.username }));
      if (user.id === myUser().id) li.append(el("span", { className: "you", text: "(you)" }));
      return li;
    }),
  );
}

function renderTyping() {
  const room = activeRoom();
  ui.typing.textContent = room ? typingSentence(room.typingNames()) : "";
}

function renderHistoryEdge() {
  const room = activeRoom();
  if (!room) return;
  const kind = room.historyInFlight ? room.historyInFlight.kind : null;
  ui.historyLoading.hidden = kind !== "latest";
  // The button stays put while its page loads, so keyboard focus is not lost under the user.
  const hadFocus = document.activeElement === ui.loadOlder;
  ui.loadOlder.hidden = !room.hasOlder;
  ui.loadOlder.textContent = kind === "before" ? "Loading…" : "Load older messages";
  ui.loadOlder.setAttribute("aria-busy", String(kind === "before"));
  if (hadFocus && ui.loadOlder.hidden) ui.scroller.focus();
  ui.historyStart.hidden = kind === "latest" || !room.historyLoaded || room.hasOlder;
}

function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const today = date.toDateString() === new Date().toDateString();
  return today
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function messageShell({ author, iso, text, mine }) {
  const li = el("li", { className: mine ? "message mine" : "message", testid: "message" });
  const meta = el("div", { className: "meta" });
  meta.append(el("span", { className: "author", testid: "message-author", text: author }));
  const time = el("time", { testid: "message-time", text: formatTime(iso) });
  time.dateTime = iso;
  time.title = new Date(iso).toLocaleString();
  meta.append(time);
  li.append(meta, el("p", { className: "text", testid: "message-text", text }));
  return li;
}

function messageElement(message) {
  const li = messageShell({
    author: message.user.username,
    iso: message.createdAt,
    text: message.text,
    mine: message.user.id === myUser().id,
  });
  li.dataset.id = message.id;
  li.dataset.status = "sent";
  if (message.clientMsgId) li.dataset.clientMsgId = message.clientMsgId;
  return li;
}

function pendingElement(entry) {
  const li = messageShell({ author: myUser().username, iso: entry.localTime, text: entry.text, mine: true });
  li.dataset.status = entry.status;
  li.dataset.clientMsgId = entry.clientMsgId;
  const meta = li.querySelector(".meta");
  meta.append(el("span", { className: "state", testid: "message-state", text: entry.status === "failed" ? "Not sent" : "Sending…" }));
  if (entry.status === "failed") {
    const button = el("button", {
      className: "button secondary small retry",
      testid: "message-retry",
      text: "Retry",
      attrs: { type: "button" },
    });
    button.addEventListener("click", () => retry(entry.clientMsgId));
    li.append(button);
  }
  return li;
}

function renderMessages() {
  const room = activeRoom();
  state.elById.clear();
  state.elByCmid.clear();
  if (!room) {
    ui.messages.replaceChildren();
    return;
  }
  const fragment = document.createDocumentFragment();
  for (const id of room.order) {
    const element = messageElement(room.byId.get(id));
    state.elById.set(id, element);
    fragment.append(element);
  }
  for (const entry of room.pending.values()) {
    const element = pendingElement(entry);
    state.elByCmid.set(entry.clientMsgId, element);
    fragment.append(element);
  }
  ui.messages.replaceChildren(fragment);
}

/** Put the message at order[index] in its place: before the next newer message, else before our pending ones. */
function insertMessage(room, index) {
  const id = room.order[index];
  const element = messageElement(room.byId.get(id));
  state.elById.set(id, element);
  const nextId = room.nextId(index);
  const before = (nextId && state.elById.get(nextId)) || ui.messages.querySelector('[data-status="pending"], [data-status="failed"]');
  ui.messages.insertBefore(element, before || null);
}

function nearBottom() {
  const s = ui.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
}

function scrollToBottom() {
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
  ui.jumpLatest.hidden = true;
}

function updateTitle() {
  let unread = 0;
  for (const room of state.rooms.values()) unread += room.unread;
  const base = state.session && activeRoom() ? `${convo.label(activeRoom())} · Parley` : "Parley";
  document.title = unread ? `(${unread}) ${base}` : base;
}

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = false;
  clearTimeout(state.noticeTimer);
  state.noticeTimer = setTimeout(hideNotice, 8000);
}

function hideNotice() {
  clearTimeout(state.noticeTimer);
  ui.notice.hidden = true;
  ui.notice.textContent = "";
}

function autosize() {
  // CSSOM writes are allowed by the page's CSP (style-src 'self'); style="" attributes are not.
  ui.input.style.height = "auto";
  ui.input.style.height = `${Math.min(ui.input.scrollHeight + 2, window.innerHeight * 0.4)}px`;
}

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
  ui.authForm.addEventListener("submit", onAuthSubmit);
  ui.logout.addEventListener("click", () => {
    account.logout(); // ends the session on the server too
    logOut();
  });
  ui.composer.addEventListener("submit", onComposerSubmit);
  ui.input.addEventListener("input", onComposerInput);
  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.composer.requestSubmit();
    }
  });
  ui.joinForm.addEventListener("submit", onJoinSubmit);
  ui.leaveRoom.addEventListener("click", leaveActiveRoom);
  ui.loadOlder.addEventListener("click", loadOlder);
  ui.jumpLatest.addEventListener("click", () => {
    scrollToBottom();
    ui.input.focus();
  });
  ui.scroller.addEventListener("scroll", () => {
    if (nearBottom()) ui.jumpLatest.hidden = true;
    if (ui.scroller.scrollTop < 40) loadOlder();
  });
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
  window.addEventListener("pagehide", stopTyping);
}

boot();
