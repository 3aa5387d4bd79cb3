// The room browser: the public rooms (GET /rooms/public, most recently active first, a page at a time) with
// their member counts and last activity, searchable by name, each joinable in one click.

import { request } from "./api.js";

const PAGE = 50;

/** "just now", "5 min ago", "3 h ago", "yesterday", "12 Mar": how long ago `iso` was, in a few characters. */
export function activityText(iso, now = Date.now()) {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return "";
  const minutes = Math.floor((now - at) / 60000);
  if (minutes < 1) return "active just now";
  if (minutes < 60) return `active ${minutes} min ago`;
  if (minutes < 24 * 60) return `active ${Math.floor(minutes / 60)} h ago`;
  if (minutes < 48 * 60) return "active yesterday";
  return `active ${new Date(at).toLocaleDateString(undefined, { day: "numeric", month: "short" })}`;
}

/**
 * @param {object} deps {state, el, joinRoom(name) -> null | reason}
 */
export function createRoomBrowser({ state, el, joinRoom }) {
  const $ = (id) => document.getElementById(id);
  const ui = {
    open: $("browse-rooms"),
    dialog: $("browse-dialog"),
    search: $("browse-search"),
    list: $("browse-list"),
    status: $("browse-status"),
    more: $("browse-more"),
    close: $("browse-close"),
  };
  let rooms = []; // the directory's entries loaded so far
  let next = null; // the cursor of the next page
  let loading = false;

  async function load(cursor) {
    const session = state.session;
    if (!session || loading) return;
    loading = true;
    ui.status.textContent = "Loading rooms…";
    try {
      const query = `limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const data = await request(`/rooms/public?${query}`, { token: session.token });
      if (state.session !== session || !data || !Array.isArray(data.rooms)) return;
      const got = data.rooms.filter((r) => r && typeof r.room === "string");
      const seen = new Set(rooms.map((r) => r.room));
      rooms = cursor ? [...rooms, ...got.filter((r) => !seen.has(r.room))] : got;
      next = typeof data.next === "string" ? data.next : null;
      ui.status.textContent = "";
    } catch (error) {
      ui.status.textContent = `Could not load the rooms: ${error.message}`;
    } finally {
      loading = false;
      render();
    }
  }

  function render() {
    const term = ui.search.value.trim().replace(/^#/, "").toLowerCase();
    const shown = rooms.filter((r) => !term || r.room.toLowerCase().includes(term));
    ui.list.replaceChildren(...shown.map(item));
    ui.more.hidden = !next;
    if (!loading && !ui.status.textContent.startsWith("Could not")) {
      if (!rooms.length) ui.status.textContent = "No public rooms yet: join one by name to start it.";
      else if (!shown.length) ui.status.textContent = next ? `No room matches “${term}” yet: load more to look further.` : `No room matches “${term}”.`;
      else ui.status.textContent = "";
    }
  }

  function item(entry) {
    const li = el("li", { className: "browse-room", testid: "browse-room" });
    li.dataset.room = entry.room;
    const text = el("div", { className: "browse-text" });
    const count = typeof entry.members === "number" ? entry.members : 0;
    text.append(
      el("span", { className: "name", text: `#${entry.room}` }),
      el("small", {
        className: "hint",
        testid: "browse-room-meta",
        text: `${count} ${count === 1 ? "member" : "members"} · ${activityText(entry.lastActivityAt)}`,
      }),
    );
    const mine = state.rooms.get(entry.room);
    const inList = Boolean(mine && mine.access);
    const button = el("button", {
      className: `button small${inList ? " secondary" : ""}`,
      testid: "browse-join",
      text: inList ? "Open" : "Join",
      attrs: { type: "button", "aria-label": `${inList ? "Open" : "Join"} #${entry.room}` },
    });
    button.addEventListener("click", () => {
      const refused = joinRoom(entry.room);
      if (refused) {
        ui.status.textContent = refused;
        return;
      }
      ui.dialog.close();
    });
    li.append(text, button);
    return li;
  }

  function open() {
    ui.search.value = "";
    rooms = [];
    next = null;
    render();
    ui.dialog.showModal();
    ui.search.focus();
    load(null);
  }

  ui.open.addEventListener("click", open);
  ui.close.addEventListener("click", () => ui.dialog.close());
  ui.search.addEventListener("input", render);
  ui.more.addEventListener("click", () => load(next));

  return { open };
}
