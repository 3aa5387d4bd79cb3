// What the page keeps across reloads of the tab (sessionStorage): the signed-in session and the open rooms.

const SESSION_KEY = "parley.session";
const ROOMS_KEY = "parley.rooms";

function loadJson(key) {
  try {
    return JSON.parse(sessionStorage.getItem(key) || "null");
  } catch {
    return null;
  }
}

/** The saved {token, user}, or null. */
export function loadSession() {
  const saved = loadJson(SESSION_KEY);
  return saved && typeof saved.token === "string" && saved.user ? saved : null;
}

export function saveSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ token: session.token, user: session.user }));
}

/** The saved {rooms: [name], active}, or null. */
export function loadRooms() {
  return loadJson(ROOMS_KEY);
}

/** Public rooms (the others come back from the server's room list) and the open one. */
export function saveRooms(rooms, active) {
  const kept = [...rooms.values()].filter((r) => r.kind === "public" || r.name === active);
  sessionStorage.setItem(ROOMS_KEY, JSON.stringify({ rooms: kept.map((r) => r.name), active }));
}

export function forgetSession() {
  sessionStorage.removeItem(SESSION_KEY);
  sessionStorage.removeItem(ROOMS_KEY);
}
