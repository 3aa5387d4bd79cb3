// The signed-in session on the page: renew the token before it expires (the socket reconnects with the new
// one without the user noticing), sign out visibly when the server refuses, log out (here or everywhere),
// change the password and the display name. app.js calls begin() when the chat opens and end() when it closes. The token stays in
// memory: when it cannot be renewed (it expired while the computer slept), the session cookie is asked for a new
// one, which works as long as the session is live.

import { ApiError, request, resumeSession, setDisplayName, tokenExpiry } from "./api.js";
import { displayNameRule, passwordRule } from "./limits.js";
import { displayNameError, displayNameLength } from "./names.js";

const MAX_LEAD_S = 600; // renew at most 10 minutes before the token expires…
const RETRY_MS = 15000; // …and, when the server cannot be reached, try again this often until it expires
const ENDED = "Your session has ended. Log in again.";

const $ = (id) => document.getElementById(id);
const ui = {
  open: $("account-open"),
  dialog: $("account-dialog"),
  close: $("account-close"),
  passwordForm: $("password-form"),
  current: $("current-password"),
  currentError: $("current-password-error"),
  passwordError: $("password-error"),
  next: $("new-password"),
  nextError: $("new-password-error"),
  passwordStatus: $("password-status"),
  logoutAll: $("logout-all"),
  accountError: $("account-error"),
  profileForm: $("profile-form"),
  displayName: $("display-name"),
  displayNameError: $("display-name-error"),
  profileStatus: $("profile-status"),
};

let current = null; // {session, onRenewed, onEnded, onProfile, limits, timer}

/** When (ms since the epoch) to renew a token: half its lifetime before it expires, at most MAX_LEAD_S. */
export function renewAt(token, now = Date.now()) {
  const exp = tokenExpiry(token);
  if (exp === null) return null;
  const iat = issuedAt(token) ?? Math.floor(now / 1000);
  const lead = Math.min(MAX_LEAD_S, Math.max(1, (exp - iat) / 2));
  return (exp - lead) * 1000;
}

function issuedAt(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, "=")));
    return typeof claims.iat === "number" ? claims.iat : null;
  } catch {
    return null;
  }
}

/**
 * Start looking after a session. onRenewed(session) gets each renewed {token, user}; onEnded(message) is
 * called once when the session is over (refused renewal, expiry, log-out everywhere elsewhere); limits are
 * the served ones (limits.js), which a new password is checked against; onProfile(session) gets the session
 * with the user as stored after a display-name change.
 */
export function begin(session, { onRenewed, onEnded, onProfile = () => {}, limits }) {
  end();
  current = { session, onRenewed, onEnded, onProfile, limits, timer: 0 };
  ui.open.hidden = false;
  schedule();
}

/** Stop (the page signed out): no more renewals. */
export function end() {
  if (current) clearTimeout(current.timer);
  current = null;
  ui.open.hidden = true;
  if (ui.dialog.open) ui.dialog.close();
}

/** The server said the socket's session ended (session_ended): renew if it only expired, else sign out. */
export function sessionEnded() {
  if (current) renew();
}

/** Log this page out on the server too (best effort: the page forgets the token either way). */
export async function logout() {
  const session = current && current.session;
  end();
  if (!session) return;
  try {
    // with credentials, so that the browser obeys the reply's order to drop the session cookie
    await request("/auth/logout", { method: "POST", token: session.token, credentials: "same-origin" });
  } catch {
    /* already ended, or unreachable: the token is forgotten anyway */
  }
}

function schedule() {
  const at = renewAt(current.session.token);
  if (at === null) return;
  clearTimeout(current.timer);
  current.timer = setTimeout(renew, Math.max(0, at - Date.now()));
}

async function renew() {
  const mine = current;
  if (!mine) return;
  clearTimeout(mine.timer);
  try {
    let renewed;
    try {
      renewed = await request("/auth/refresh", { method: "POST", token: mine.session.token });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) throw err;
      renewed = await resumeSession(); // the token expired (a sleeping laptop): the cookie's session may live on
    }
    if (current !== mine) return;
    if (!renewed || typeof renewed.token !== "string") throw new ApiError(500, "Unexpected reply.");
    // the cookie may meanwhile sign in someone else (another tab logged in as them): never switch users silently
    if (renewed.user && renewed.user.id !== mine.session.user.id) throw new ApiError(401, ENDED);
    mine.session = { token: renewed.token, user: renewed.user || mine.session.user };
    mine.onRenewed(mine.session);
    schedule();
  } catch (err) {
    if (current !== mine) return;
    if (err instanceof ApiError && [401, 403, 415].includes(err.status)) {
      finish(ENDED);
      return;
    }
    mine.timer = setTimeout(renew, RETRY_MS); // offline or a server error: try again (the cookie outlives the token)
  }
}

function finish(message) {
  const mine = current;
  end();
  if (mine) mine.onEnded(message);
}

// ------------------------------------------------------------------------------------------ the dialog
function openDialog() {
  if (!current) return;
  resetDialog();
  ui.dialog.showModal();
  ui.current.focus();
}

function resetDialog() {
  ui.passwordForm.reset();
  resetErrors();
  ui.accountError.textContent = "";
  ui.displayName.value = (current && current.session.user.displayName) || "";
  ui.profileStatus.textContent = "";
  clearDisplayNameError();
}

async function onProfileSubmit(event) {
  event.preventDefault();
  const mine = current;
  if (!mine) return;
  clearDisplayNameError();
  ui.profileStatus.textContent = "";
  const typed = ui.displayName.value.trim();
  if (displayNameLength(typed) > mine.limits.displayNameMax) {
    showDisplayNameError(displayNameRule(mine.limits)); // the other rules are the server's (a 422 names them)
    return;
  }
  const button = ui.profileForm.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const user = await setDisplayName(mine.session.token, typed || null);
    if (current !== mine || !user || user.id !== mine.session.user.id) return;
    mine.session = { ...mine.session, user };
    ui.displayName.value = user.displayName || "";
    ui.profileStatus.textContent = user.displayName
      ? `Saved: others now see you as ${user.displayName} (@${user.username}).`
      : `Saved: others now see you as ${user.username}.`;
    mine.onProfile(mine.session);
  } catch (err) {
    const status = err instanceof ApiError ? err.status : 0;
    if (status === 422) showDisplayNameError(displayNameError(err.message));
    else if (status === 401) finish(ENDED);
    else showDisplayNameError(err instanceof ApiError ? err.message : "Something went wrong. Try again.");
  } finally {
    button.disabled = false;
  }
}

function showDisplayNameError(message) {
  ui.displayNameError.textContent = message;
  ui.displayName.setAttribute("aria-invalid", "true");
  ui.displayName.focus();
}

function clearDisplayNameError() {
  ui.displayNameError.textContent = "";
  ui.displayName.removeAttribute("aria-invalid");
}

async function onPasswordSubmit(event) {
  event.preventDefault();
  if (!current) return;
  resetErrors();
  const next = ui.next.value;
  const { password } = current.limits;
  if (next.length < password.min || next.length > password.max) {
    showNextError(passwordRule(current.limits));
    return;
  }
  const button = ui.passwordForm.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await request("/auth/password", {
      method: "POST",
      token: current.session.token,
      body: { currentPassword: ui.current.value, newPassword: next },
    });
    ui.passwordForm.reset();
    ui.passwordStatus.textContent = "Password changed. Your other sessions were logged out.";
  } catch (err) {
    const status = err instanceof ApiError ? err.status : 0;
    // each error beside what it is about: the current password's field, the new one's, or the form
    if (status === 403) showCurrentError("Your current password is not right.");
    else if (status === 422) showNextError(capitalized(err.message.replace(/^newPassword:\s*/i, "")));
    else if (status === 401) finish(ENDED);
    else showPasswordError(err instanceof ApiError ? err.message : "Something went wrong. Try again.");
  } finally {
    button.disabled = false;
  }
}

async function onLogoutAll() {
  if (!current) return;
  resetErrors();
  ui.logoutAll.disabled = true;
  try {
    await request("/auth/logout-all", { method: "POST", token: current.session.token, credentials: "same-origin" });
    finish("You logged out everywhere.");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) finish(ENDED);
    else showAccountError(err instanceof ApiError ? err.message : "Something went wrong. Try again.");
  } finally {
    ui.logoutAll.disabled = false;
  }
}

function resetErrors() {
  ui.nextError.textContent = "";
  ui.next.removeAttribute("aria-invalid");
  ui.currentError.textContent = "";
  ui.current.removeAttribute("aria-invalid");
  ui.passwordError.textContent = "";
  ui.passwordError.hidden = true;
  ui.passwordStatus.textContent = "";
  ui.accountError.hidden = true;
}

function showNextError(message) {
  ui.nextError.textContent = message;
  ui.next.setAttribute("aria-invalid", "true");
  ui.next.focus();
}

function showCurrentError(message) {
  ui.currentError.textContent = message;
  ui.current.setAttribute("aria-invalid", "true");
  ui.current.focus();
}

function showPasswordError(message) {
  ui.passwordError.textContent = message;
  ui.passwordError.hidden = false;
}

function capitalized(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function showAccountError(message) {
  ui.accountError.textContent = message;
  ui.accountError.hidden = false;
}

ui.open.addEventListener("click", openDialog);
ui.close.addEventListener("click", () => ui.dialog.close());
ui.passwordForm.addEventListener("submit", onPasswordSubmit);
ui.profileForm.addEventListener("submit", onProfileSubmit);
ui.logoutAll.addEventListener("click", onLogoutAll);
// a background tab's timers are throttled: look again when it comes back
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && current) {
    const at = renewAt(current.session.token);
    if (at !== null && at <= Date.now()) renew();
  }
});
