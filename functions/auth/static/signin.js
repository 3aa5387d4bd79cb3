// The sign-in view: log in or sign up, with each refusal next to the input it is about.

import { ApiError, login, signup } from "./api.js";
import { byId } from "./dom.js";
import { displayNameRule, passwordRule } from "./limits.js";
import { displayNameError, displayNameLength } from "./names.js";

/**
 * @param {object} deps {limits, onSignedIn(session)}: the served limits (limits.js); called with {token, user}
 *   once the server has signed the user in (the browser keeps the session cookie; the token stays in memory)
 */
export function createSignIn({ limits, onSignedIn }) {
  const ui = {
    view: byId("auth-view"),
    form: byId("auth-form"),
    username: byId("auth-username"),
    password: byId("auth-password"),
    usernameError: byId("auth-username-error"),
    passwordError: byId("auth-password-error"),
    displayName: byId("auth-display-name"),
    displayNameError: byId("auth-display-name-error"),
    error: byId("auth-error"),
  };

  /** Show the view, with a message above the buttons when there is one (why the user was signed out). */
  function show(message = "") {
    ui.view.hidden = false;
    clearErrors();
    if (message) showError(message);
    ui.username.focus();
  }

  function hide() {
    ui.view.hidden = true;
  }

  function clearErrors() {
    ui.usernameError.textContent = "";
    ui.passwordError.textContent = "";
    ui.displayNameError.textContent = "";
    ui.error.textContent = "";
    ui.error.hidden = true;
    ui.username.removeAttribute("aria-invalid");
    ui.password.removeAttribute("aria-invalid");
    ui.displayName.removeAttribute("aria-invalid");
  }

  function showError(message) {
    ui.error.textContent = message;
    ui.error.hidden = false;
  }

  function fieldError(field, message) {
    const [input, slot] = {
      password: [ui.password, ui.passwordError],
      displayName: [ui.displayName, ui.displayNameError],
    }[field] || [ui.username, ui.usernameError];
    slot.textContent = message;
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }

  async function onSubmit(event) {
    event.preventDefault();
    const mode = event.submitter && event.submitter.value === "signup" ? "signup" : "login";
    clearErrors();
    const username = ui.username.value.trim();
    const password = ui.password.value;
    const displayName = mode === "signup" ? ui.displayName.value.trim() : ""; // optional; log-in ignores it
    if (!limits.username.re.test(username)) {
      fieldError("username", `Use ${limits.username.min}–${limits.username.max} characters: letters a–z without accents, digits, _ . or -`);
      return;
    }
    if (password.length < limits.password.min || password.length > limits.password.max) {
      fieldError("password", passwordRule(limits));
      return;
    }
    if (displayName && displayNameLength(displayName) > limits.displayNameMax) {
      fieldError("displayName", displayNameRule(limits)); // the other rules are the server's (a 422 names them)
      return;
    }
    const buttons = ui.form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      const session = await (mode === "signup" ? signup(username, password, displayName || null) : login(username, password));
      if (!session || typeof session.token !== "string" || !session.user) throw new ApiError(500, "Unexpected reply.");
      ui.password.value = "";
      ui.displayName.value = "";
      onSignedIn({ token: session.token, user: session.user });
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      if (status === 409) fieldError("username", "That username is taken. Pick another one, or log in.");
      else if (status === 401) showError("Wrong username or password.");
      else if (status === 422 && err.field === "displayName") fieldError(err.field, displayNameError(err.message));
      else if (status === 422 && (err.field === "username" || err.field === "password")) fieldError(err.field, err.message);
      else showError(err instanceof ApiError ? err.message : "Something went wrong. Try again.");
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  ui.form.addEventListener("submit", onSubmit);
  return { show, hide };
}
