// @mentions in the message box: typing @ offers the open room's people (its members when the page knows them,
// who is online, who wrote there), narrowed as the name is typed; ArrowUp/ArrowDown move, Enter or Tab take one,
// Escape closes; a click takes one too. The chosen user goes in as @username, and the message is sent with the
// ids of the known users its text still names (`mentions`). The list is a listbox the box points into with
// aria-activedescendant; focus stays in the box.

import { byId, el } from "./dom.js";

const MAX_OPTIONS = 8;
const MAX_MENTIONS = 20; // the server keeps at most this many
const AUTHORS_SCANNED = 200; // the newest messages whose authors are offered too
const QUERY = /(?:^|[^\w@.-])@([A-Za-z0-9_.-]*)$/; // "@" at a word's start, up to the caret
const NAMED = /(?:^|[^\w@.-])@([A-Za-z0-9_.-]+)/g;

/** The people of `room` one might mention, without `myId`: its members (when known), other user or owner, who is
 * online, who wrote its newest messages. */
export function candidates(room, myId) {
  const byId = new Map();
  const add = (user) => {
    if (user && typeof user.id === "string" && typeof user.username === "string" && user.id !== myId) {
      if (!byId.has(user.id)) byId.set(user.id, user);
    }
  };
  if (!room) return [];
  for (const user of room.members || []) add(user);
  add(room.peer);
  add(room.owner);
  for (const user of room.users.values()) add(user);
  for (let i = room.order.length - 1; i >= 0 && i >= room.order.length - AUTHORS_SCANNED; i -= 1) {
    add(room.byId.get(room.order[i])?.user);
  }
  return [...byId.values()];
}

/** Those whose username (or display name) starts with `query`, then those that contain it; by name. */
export function matching(users, query) {
  const q = query.toLowerCase();
  const name = (u) => u.username.toLowerCase();
  const shown = (u) => String(u.displayName ?? "").toLowerCase();
  const rank = (u) => (name(u).startsWith(q) || shown(u).startsWith(q) ? 0 : name(u).includes(q) || shown(u).includes(q) ? 1 : 2);
  return users
    .filter((u) => rank(u) < 2)
    .sort((a, b) => rank(a) - rank(b) || name(a).localeCompare(name(b)))
    .slice(0, MAX_OPTIONS);
}

/** The `users` that `text` names as @username (each once, at most 20). */
export function mentionedUsers(text, users) {
  const byName = new Map(users.map((u) => [u.username.toLowerCase(), u]));
  const found = new Map();
  for (const match of String(text).matchAll(NAMED)) {
    let name = match[1].toLowerCase();
    while (name && !byName.has(name) && /[.\-_]$/.test(name)) name = name.slice(0, -1); // "@bob." ends a sentence
    const user = byName.get(name);
    if (user && !found.has(user.id)) found.set(user.id, user);
  }
  return [...found.values()].slice(0, MAX_MENTIONS);
}

/**
 * @param {object} deps {input (the textarea), form, activeRoom(), myUser()}
 */
export function createMentions({ input, form, activeRoom, myUser }) {
  const list = byId("mention-list");
  const chosen = new Map(); // user id -> user picked from the list (still known if they went offline since)
  let open = null; // {start, options, active}: the "@…" being typed and what is offered for it

  function known() {
    const users = candidates(activeRoom(), myUser().id);
    const ids = new Set(users.map((u) => u.id));
    for (const user of chosen.values()) if (!ids.has(user.id)) users.push(user);
    return users;
  }

  /** What the box says up to the caret decides whether the list shows, and what it offers. */
  function update() {
    const caret = input.selectionStart;
    if (caret !== input.selectionEnd) return close();
    const match = QUERY.exec(input.value.slice(0, caret));
    if (!match) return close();
    const options = matching(known(), match[1]);
    if (!options.length) return close();
    const keep = open && open.options[open.active] ? open.options[open.active].id : null;
    const active = Math.max(0, options.findIndex((u) => u.id === keep));
    open = { start: caret - match[1].length - 1, options, active };
    render();
  }

  function render() {
    list.replaceChildren(
      ...open.options.map((user, index) => {
        const li = el("li", { className: "mention-option", testid: "mention-option", attrs: { role: "option" } });
        li.id = `mention-option-${index}`;
        li.dataset.username = user.username;
        li.setAttribute("aria-selected", String(index === open.active));
        li.append(el("span", { className: "mention-name", text: `@${user.username}` }));
        const display = user.displayName ?? "";
        if (display) li.append(el("span", { className: "mention-display", text: display }));
        li.addEventListener("mousedown", (event) => event.preventDefault()); // the box keeps the focus
        li.addEventListener("click", () => choose(index));
        return li;
      }),
    );
    list.hidden = false;
    input.setAttribute("aria-controls", "mention-list");
    input.setAttribute("aria-activedescendant", `mention-option-${open.active}`);
    list.children[open.active]?.scrollIntoView({ block: "nearest" });
  }

  function close() {
    open = null;
    list.hidden = true;
    list.replaceChildren();
    input.removeAttribute("aria-activedescendant");
  }

  /** Put @username (and a space) in place of the "@…" being typed. */
  function choose(index) {
    if (!open) return;
    const user = open.options[index];
    const caret = input.selectionStart;
    const insert = `@${user.username} `;
    const rest = input.value.slice(caret).replace(/^[A-Za-z0-9_.-]*/, ""); // the rest of a name typed into
    input.value = input.value.slice(0, open.start) + insert + rest.replace(/^ /, "");
    const at = open.start + insert.length;
    input.setSelectionRange(at, at);
    chosen.set(user.id, user);
    close();
    input.dispatchEvent(new Event("input", { bubbles: true })); // the box grows, typing is signalled
    input.focus();
  }

  function onKeydown(event) {
    if (!open || event.target !== input || event.isComposing) return;
    const last = open.options.length - 1;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      open.active = open.active + step > last ? 0 : open.active + step < 0 ? last : open.active + step;
      render();
    } else if ((event.key === "Enter" && !event.shiftKey) || (event.key === "Tab" && !event.shiftKey)) {
      choose(open.active);
    } else if (event.key === "Escape") {
      close();
    } else {
      return;
    }
    // Before the box's own keys (Enter sends) and the page's (Escape closes the sidebar).
    event.preventDefault();
    event.stopPropagation();
  }

  /** Whom a message with this text mentions: the known people it names (picked from the list or typed). */
  function usersIn(text) {
    return mentionedUsers(text, known());
  }

  /** The message went, or the room changed: forget what was picked. */
  function reset() {
    chosen.clear();
    close();
  }

  form.addEventListener("keydown", onKeydown, true); // capture: before the textarea's own listener
  input.addEventListener("input", update);
  input.addEventListener("click", update);
  input.addEventListener("keyup", (event) => {
    if (event.key === "ArrowLeft" || event.key === "ArrowRight" || event.key === "Home" || event.key === "End") update();
  });
  input.addEventListener("blur", () => setTimeout(() => document.activeElement !== input && close(), 150));
  input.setAttribute("aria-autocomplete", "list");

  return { usersIn, reset, close };
}
