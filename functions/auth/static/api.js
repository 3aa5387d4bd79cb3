// The HTTP side of Parley: sign-up, log-in, who-am-I, and the stack's configuration (where the WebSocket
// lives, what the server accepts).

const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  /** status is the HTTP status (0 when the server could not be reached); field names the input at fault, if any. */
  constructor(status, message, field = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.field = field;
  }
}

export async function request(path, { method = "GET", body, token, credentials = "omit" } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: abort.signal,
      credentials,
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.");
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const { message, field } = describeProblem(response.status, data);
    throw new ApiError(response.status, message, field);
  }
  return data;
}

/**
 * FastAPI answers {"detail": "..."} for the errors the app raises and {"detail": [{loc, msg}, ...]} for
 * requests its models reject; turn either into one sentence and, when it is about one input, its name.
 */
export function describeProblem(status, data) {
  const detail = data && data.detail;
  if (typeof detail === "string" && detail) {
    return { message: sentence(detail), field: null };
  }
  if (Array.isArray(detail) && detail.length) {
    const first = detail[0] || {};
    const loc = Array.isArray(first.loc) ? first.loc : [];
    const field = typeof loc[loc.length - 1] === "string" ? loc[loc.length - 1] : null;
    const msg = typeof first.msg === "string" ? first.msg : "is not valid";
    return { message: sentence(field ? `${field}: ${msg}` : msg), field };
  }
  if (status >= 500) return { message: "The server had a problem. Try again in a moment.", field: null };
  return { message: `The request failed (HTTP ${status}).`, field: null };
}

function sentence(text) {
  const trimmed = String(text).trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

// Sign-up and log-in keep the session cookie they set (HttpOnly, for /auth/session only): a new tab or a
// restarted browser trades it for a token (resumeSession). The log-in also keeps and sends this browser's device
// cookie (for /auth/login only): with it, an attack on the name from elsewhere does not lock this browser out.
// Every other request but log-outs omits cookies: the API is authorized by tokens, which live in memory only.
export function signup(username, password, displayName = null) {
  const body = displayName ? { username, password, displayName } : { username, password };
  return request("/auth/signup", { method: "POST", body, credentials: "same-origin" });
}

export function login(username, password) {
  return request("/auth/login", { method: "POST", body: { username, password }, credentials: "same-origin" });
}

/** A new token for this browser's sign-in (the session cookie): {token, user, expiresAt}; 401 when signed out. */
export function resumeSession() {
  return request("/auth/session", { method: "POST", body: {}, credentials: "same-origin" });
}

export function me(token) {
  return request("/auth/me", { token });
}

/** Set the display name (null clears it): the user as stored, {id, username, displayName?}. */
export function setDisplayName(token, displayName) {
  return request("/auth/me", { method: "PATCH", token, body: { displayName } });
}

/** The stack's /config.json: {websocketUrl, limits, instanceId} (limits as served; limits.js compiles them). */
export async function loadConfig() {
  const config = await request("/config.json");
  const given = config && typeof config.websocketUrl === "string" ? config.websocketUrl.trim() : "";
  // A stack that does not know its WebSocket URL: try the page's own origin (the local gateway serves both).
  const url = given || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
  // instanceId: only with the server's embedded in-memory database, new after each restart (which empties it)
  const instanceId = config && typeof config.instanceId === "string" ? config.instanceId : null;
  return { websocketUrl: url, limits: config ? config.limits : null, instanceId };
}

/** Seconds since the epoch at which the JWT expires, or null when it cannot be read (the server decides anyway). */
export function tokenExpiry(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, "=")));
    return typeof claims.exp === "number" ? claims.exp : null;
  } catch {
    return null;
  }
}
