// What the page keeps across reloads of the tab (sessionStorage): the rooms it opened and the open one; and the
// server instance it signed in to (localStorage, below). Never the
// token: it lives in memory, and a reload or a new tab gets a new one from the session cookie (api.resumeSession).

const ROOMS_KEY = "parley.rooms";

function loadJson(key) {
  try {
    return JSON.parse(sessionStorage.getItem(key) || "null");
  } catch {
    return null;
  }
}

/** The saved {rooms: [name], active}, or null. */
export function loadRooms() {
  return loadJson(ROOMS_KEY);
}

/** The public rooms this tab opened (it joins them again after a reload) and the open one; the user's list of
 * rooms comes back from the server (the rooms frame). */
export function saveRooms(rooms, active) {
  const kept = [...rooms.values()].filter((r) => (r.kind === "public" && r.opened) || r.name === active);
  sessionStorage.setItem(ROOMS_KEY, JSON.stringify({ rooms: kept.map((r) => r.name), active }));
}

export function forgetRooms() {
  sessionStorage.removeItem(ROOMS_KEY);
}

// The server's instanceId (api.loadConfig) while signed in, in localStorage (every tab, across restarts of the
// browser): when the session is gone and the server's id is another, the server was reset, not the session ended.
const INSTANCE_KEY = "parley.instance";

export function rememberInstance(id) {
  try {
    if (id) localStorage.setItem(INSTANCE_KEY, id);
    else localStorage.removeItem(INSTANCE_KEY);
  } catch {
    // storage refused (private mode): the page says only that the session ended
  }
}

export function rememberedInstance() {
  try {
    return localStorage.getItem(INSTANCE_KEY);
  } catch {
    return null;
  }
}
