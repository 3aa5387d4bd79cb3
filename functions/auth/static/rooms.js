// What the page knows about each room, without any DOM: messages ordered and deduplicated by id,
// the user's own messages still on their way (by clientMsgId), who is online and who is typing.

// (What a valid name is, and how long a typing state lasts, the server says: limits.js.)
export const LOBBY = "general";
export const DM_PREFIX = "dm-"; // direct rooms' names begin with it; createRoom refuses such names

/**
 * Message ids are 24 hex digits whose string order is the server's total order (createdAt, then id),
 * so a sorted array of ids is the room's timeline and a Map by id removes every duplicate.
 */
export class Room {
  constructor(name) {
    this.name = name;
    this.byId = new Map();
    this.order = [];
    this.pending = new Map(); // clientMsgId -> {clientMsgId, text, status, localTime}
    this.users = new Map(); // user id -> {id, username}
    this.typing = new Map(); // user id -> {user, until}
    this.joined = false;
    this.historyLoaded = false; // the latest page has arrived at least once
    this.hasOlder = false;
    this.syncCursor = null; // where the next sync goes on from (history.js): the last sync reply's cursor
    this.historyInFlight = null; // {kind, cursor, timer}
    this.historyQueue = [];
    this.mentions = 0; // of the unread messages, those that mention the user (the @ badge; never more than unread)
    this.unread = 0;
    this.scrollTop = null;
    // Private conversations (conversations.js): what kind of room, who is in it, how far it has been read.
    this.kind = "public"; // "public" | "private" | "direct"
    this.owner = null; // {id, username} of a private room's owner
    this.members = null; // [{id, username}] when known, else null (memberCount may still be known)
    this.memberCount = null;
    this.membersNext = null; // the cursor of the members page not loaded yet (members.js), or null
    this.peer = null; // the other user of a direct room
    this.access = true; // false once the user was removed from a private room
    this.grantedAt = 0; // when the page last learnt the user is a member (Date.now())
    this.opened = false; // a private or direct room is joined only once the user has opened it
    this.unreadCapped = false; // the server stopped counting (the badge shows "N+")
    this.readId = null; // the newest id marked read on any of the user's devices
    this.peerReadId = null; // direct rooms: how far the other user has read
    this.lastActivity = ""; // createdAt of its newest message, for the order of the sidebar
  }

  /**
   * Apply what a frame says about the room (conversations.js: the rooms list, roomCreated, added, direct,
   * joined): kind, owner, members (a list or a count), the other user of a direct room (`myId`: not the user).
   */
  describe(info, myId) {
    if (info.kind === "public" || info.kind === "private" || info.kind === "direct") this.kind = info.kind;
    if (info.owner && typeof info.owner.id === "string") this.owner = info.owner;
    if (Array.isArray(info.members)) {
      this.members = info.members.filter((m) => m && typeof m.id === "string");
      this.membersNext = null; // a frame that lists the members lists them all
      this.memberCount = this.members.length;
      if (this.kind === "direct") this.peer = this.members.find((m) => m.id !== myId) || this.members[0] || null;
    } else if (typeof info.members === "number") {
      this.memberCount = info.members;
    } else if (info.members && typeof info.members.id === "string") {
      this.peer = info.members; // GET /rooms gives the other user of a direct room
    }
    if (this.kind === "direct" && !this.peer && info.user && typeof info.user.id === "string") this.peer = info.user;
    if (typeof info.lastActivityAt === "string") this.lastActivity = info.lastActivityAt;
    if (typeof info.readId === "string" && (!this.readId || info.readId > this.readId)) this.readId = info.readId;
  }

  /** Messages by others after the read position; reading them reads their mentions too. */
  get unread() {
    return this.unreadCount;
  }

  set unread(value) {
    this.unreadCount = value;
    this.mentions = Math.min(this.mentions, value);
  }

  get oldestId() {
    return this.order.length ? this.order[0] : null;
  }

  get newestId() {
    return this.order.length ? this.order[this.order.length - 1] : null;
  }

  has(id) {
    return this.byId.has(id);
  }

  /**
   * Add one message from the server (live, history or catch-up).
   * Returns {added, updated, index, confirmed}: whether it was new, whether it replaced an older version of one
   * held (the higher `version` is kept), where it went in `order`, and the clientMsgId of the pending message of
   * ours it confirms (or null).
   */
  add(message, myUserId) {
    let confirmed = null;
    const cmid = message.clientMsgId;
    if (cmid && message.user && message.user.id === myUserId && this.pending.has(cmid)) {
      this.pending.delete(cmid);
      confirmed = cmid;
    }
    if (this.byId.has(message.id)) return { added: false, updated: this.update(message), index: -1, confirmed };
    const index = insertionPoint(this.order, message.id);
    this.order.splice(index, 0, message.id);
    this.byId.set(message.id, message);
    return { added: true, updated: false, index, confirmed };
  }

  /** A changed message (messageUpdated, sync): it replaces the one held when its version is higher. */
  update(message) {
    const held = this.byId.get(message.id);
    if (!held || !isNewer(message, held)) return false;
    this.byId.set(message.id, message);
    return true;
  }

  /**
   * Whether a message the page does not hold belongs among those it does: all of the room is loaded, or it is
   * newer than the oldest one loaded (an older one would leave a gap that "Load older" could never fill).
   */
  covers(id) {
    return !this.hasOlder || (this.oldestId !== null && id > this.oldestId);
  }

  /** The id that follows `id` in the timeline (the element to insert before), or null at the end. */
  nextId(index) {
    return index + 1 < this.order.length ? this.order[index + 1] : null;
  }

  addPending(clientMsgId, text) {
    const entry = { clientMsgId, text, status: "pending", localTime: new Date().toISOString(), sentAt: 0 };
    this.pending.set(clientMsgId, entry);
    return entry;
  }

  setUsers(users) {
    this.users.clear();
    for (const user of users || []) {
      if (user && typeof user.id === "string") this.users.set(user.id, user);
    }
  }

  sortedUsers() {
    return [...this.users.values()].sort(
      (a, b) => a.username.toLowerCase().localeCompare(b.username.toLowerCase()) || a.id.localeCompare(b.id),
    );
  }

  /**
   * Record a typing frame (a state that is not repeated lasts expiresMs); returns true when what the indicator
   * shows may have changed.
   */
  setTyping(user, isTyping, expiresMs = 0, now = Date.now()) {
    if (isTyping) {
      this.typing.set(user.id, { user, until: now + expiresMs });
      return true;
    }
    return this.typing.delete(user.id);
  }

  /** Forget typing states that were not refreshed in time; returns true if any went. */
  expireTyping(now = Date.now()) {
    let changed = false;
    for (const [id, entry] of this.typing) {
      if (entry.until <= now) {
        this.typing.delete(id);
        changed = true;
      }
    }
    return changed;
  }

  typingNames() {
    return [...this.typing.values()].map((entry) => (entry.user.displayName || entry.user.username)).sort((a, b) => a.localeCompare(b));
  }
}

/** Whether `message` is a later state than `held` (each change adds 1 to `version`). */
export function isNewer(message, held) {
  return (Number(message.version) || 0) > (Number(held.version) || 0);
}

export function insertionPoint(sorted, id) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function typingSentence(names) {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} others are typing…`;
}

/** A clientMsgId: 32 hex digits from the browser's CSPRNG (randomUUID needs a secure context; this does not). */
export function newClientMsgId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function normalizeRoomName(raw) {
  return String(raw || "")
    .trim()
    .replace(/^#/, "")
    .toLowerCase();
}
