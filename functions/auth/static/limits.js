// What the server accepts, as /config.json serves it ("limits", built from parley/model.py): the page checks
// these before it sends and states them in its hints, and never writes one of them down itself.

/**
 * Compile the served limits into what the page uses; throws when the server sent none (it always does:
 * the page and /config.json ship together).
 */
export function compileLimits(served) {
  const s = served || {};
  const int = (value, what) => {
    if (!Number.isInteger(value) || value < 0) throw new Error(`/config.json has no ${what}`);
    return value;
  };
  const pattern = (value, what) => {
    if (typeof value !== "string" || !value) throw new Error(`/config.json has no ${what}`);
    return new RegExp(value);
  };
  const username = s.username || {};
  const password = s.password || {};
  const room = s.room || {};
  const typing = s.typing || {};
  const history = s.history || {};
  const roomRe = pattern(room.pattern, "room pattern");
  const directRe = pattern(room.directPattern, "direct room pattern");
  return {
    username: {
      min: int(username.minLength, "username minLength"),
      max: int(username.maxLength, "username maxLength"),
      re: pattern(username.pattern, "username pattern"),
    },
    password: { min: int(password.minLength, "password minLength"), max: int(password.maxLength, "password maxLength") },
    // code points after NFC and trimming (names.js displayNameLength), so no maxlength attribute: it counts UTF-16
    displayNameMax: int((s.displayName || {}).maxLength, "displayName maxLength"),
    room: {
      max: int(room.maxLength, "room maxLength"),
      re: roomRe, // a room's name (join, create)
      directRe, // a direct room's, dm-<id>-<id>
      /** Any room's name: a room or a direct room. */
      isName: (name) => typeof name === "string" && (roomRe.test(name) || directRe.test(name)),
    },
    textMax: int((s.text || {}).maxLength, "text maxLength"),
    clientMsgIdMax: int((s.clientMsgId || {}).maxLength, "clientMsgId maxLength"),
    pageSize: int(history.pageSize, "history pageSize"),
    maxPageSize: int(history.maxPageSize, "history maxPageSize"),
    roomsPerConnection: int(s.roomsPerConnection, "roomsPerConnection"),
    typingIntervalMs: int(typing.intervalMs, "typing intervalMs"),
    typingExpiresMs: int(typing.expiresMs, "typing expiresMs"),
  };
}

/** "Display names are 1–64 characters, in any script." */
export function displayNameRule(limits) {
  return `Display names are 1–${limits.displayNameMax} characters, in any script.`;
}

/** "3–32 letters a–z without accents, digits, _ . or -" */
export function usernameRule(limits) {
  return `${limits.username.min}–${limits.username.max} letters a–z without accents, digits, _ . or -`;
}

export function passwordRule(limits) {
  return `Passwords are ${limits.password.min}–${limits.password.max} characters long.`;
}

export function roomRule(limits) {
  return `Room names are 1–${limits.room.max} characters of a–z, 0–9, _ or -, starting with a letter or digit.`;
}

/** Put the limits on the page's inputs (minlength/maxlength) and in the hints that state them. */
export function applyLimits(limits) {
  const set = (id, { min, max }) => {
    const input = document.getElementById(id);
    if (!input) return;
    if (min !== undefined) input.minLength = min;
    if (max !== undefined) input.maxLength = max;
  };
  set("auth-username", limits.username);
  set("auth-password", limits.password);
  set("current-password", { max: limits.password.max });
  set("new-password", limits.password);
  set("dm-username", { max: limits.username.max });
  set("add-member-input", { max: limits.username.max });
  set("join-room-input", { max: limits.room.max });
  set("room-name", { max: limits.room.max });
  // not the message box: a text over the limit is kept and shown as too long (textlimit.js), never cut
  const usernameHint = document.getElementById("auth-username-hint");
  if (usernameHint) {
    const code = (text) => Object.assign(document.createElement("code"), { textContent: text });
    // Why so narrow: zoë and José are letters too, but names in every script let look-alikes (a Cyrillic а for
    // a Latin a) pass for someone else, and people type @names to mention and message each other.
    usernameHint.replaceChildren(
      `${limits.username.min}–${limits.username.max} letters a–z without accents, digits, `, code("_"), " ", code("."),
      " or ", code("-"),
      ": names in any script could be faked with look-alike letters, and people type them to find you.",
      " Your display name below can be in any script.",
    );
  }
  for (const id of ["auth-display-name-hint", "display-name-hint"]) {
    const hint = document.getElementById(id);
    if (hint) {
      hint.textContent = `In any script (zoë, José, 日本), up to ${limits.displayNameMax} characters; shown with your @username beside it.`;
    }
  }
  const passwordHint = document.getElementById("auth-password-hint");
  if (passwordHint) passwordHint.textContent = `At least ${limits.password.min} characters`;
}

const RATE_LIMITED_WHAT = {
  createRoom: "creating rooms",
  openDirect: "opening conversations",
  addMember: "adding people",
  history: "loading history",
  typing: "typing signals",
  join: "joining rooms",
};

/**
 * What the page says for a rate_limited error of an action other than sendMessage (outbox.js has its own):
 * "Slow down: too many requests creating rooms. Try again in 12 s." The limits are per user, on every tab.
 */
export function rateLimitedText(frame) {
  const seconds = Math.max(1, Math.ceil((Number(frame.retryAfterMs) || 1000) / 1000));
  const what = RATE_LIMITED_WHAT[frame.action];
  return `Slow down: too many requests${what ? ` ${what}` : ""} (from all your tabs). Try again in ${seconds} s.`;
}
