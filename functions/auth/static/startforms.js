// The sidebar's two start forms (issue 10): "New direct message" and "New private room". Their toggles, the checks
// against the served limits (limits.js), their error slots and the name each waits for (`wanted`), so that only the
// `direct` or `roomCreated` frame this page asked for opens the conversation. conversations.js owns those frames: it
// asks `tookDirect` / `tookCreated` whether a frame is the answer (which closes the form) and hands this module the
// errors of openDirect and createRoom.

import { DM_PREFIX, normalizeRoomName } from "./rooms.js";
import { roomRule, usernameRule } from "./limits.js";

/** @param {object} host what conversations.js lends: {limits, send, myUser} */
export function createStartForms(host) {
  const { limits, send } = host;
  const $ = (id) => document.getElementById(id);
  const ui = {
    dmToggle: $("new-dm-toggle"),
    dmForm: $("dm-form"),
    dmInput: $("dm-username"),
    dmError: $("dm-error"),
    roomToggle: $("new-room-toggle"),
    roomForm: $("room-form"),
    roomInput: $("room-name"),
    roomError: $("room-form-error"),
  };
  const wanted = { direct: null, create: null }; // what this page asked for, so only it opens the result

  function me() {
    return host.myUser();
  }

  /** Whether `peer` (a user name, lower case) is whom the direct-message form asked for; if so the form closes. */
  function tookDirect(peer) {
    if (wanted.direct === null || peer !== wanted.direct) return false;
    wanted.direct = null;
    closeForm(ui.dmForm, ui.dmToggle, ui.dmInput, ui.dmError);
    return true;
  }

  /** Whether `name` is the room the private-room form asked to create; if so the form closes. */
  function tookCreated(name) {
    if (wanted.create !== name) return false;
    wanted.create = null;
    closeForm(ui.roomForm, ui.roomToggle, ui.roomInput, ui.roomError);
    return true;
  }

  /** The refusal of an openDirect or createRoom (`text` is the server's message): shown in the form's slot. */
  function onError(frame, text) {
    const code = frame.code;
    if (frame.action === "openDirect") {
      wanted.direct = null;
      showFormError(ui.dmError, ui.dmInput, code === "not_found" ? `There is no user called “${ui.dmInput.value.trim()}”.` : text);
      return true;
    }
    showFormError(
      ui.roomError,
      ui.roomInput,
      code === "room_taken" ? `A room called #${wanted.create || ui.roomInput.value.trim()} already exists: pick another name.` : text,
    );
    wanted.create = null;
    return true;
  }

  // ---------------------------------------------------------------- the two forms
  function toggleForm(form, toggle, input, error) {
    if (!form.hidden) {
      closeForm(form, toggle, input, error);
      return;
    }
    form.hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    input.focus();
  }

  function closeForm(form, toggle, input, error) {
    form.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
    input.value = "";
    clearFormError(error, input);
  }

  function showFormError(slot, input, message) {
    slot.textContent = message;
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }

  function clearFormError(slot, input) {
    slot.textContent = "";
    input.removeAttribute("aria-invalid");
  }

  function onDirectSubmit(event) {
    event.preventDefault();
    clearFormError(ui.dmError, ui.dmInput);
    const username = ui.dmInput.value.trim().replace(/^@/, "");
    if (!limits.username.re.test(username)) {
      showFormError(ui.dmError, ui.dmInput, `Usernames are ${usernameRule(limits)}`);
      return;
    }
    if (username.toLowerCase() === me().username.toLowerCase()) {
      showFormError(ui.dmError, ui.dmInput, "That is you: pick someone else.");
      return;
    }
    if (!send({ action: "openDirect", username })) {
      showFormError(ui.dmError, ui.dmInput, "Not connected: try again in a moment.");
      return;
    }
    wanted.direct = username.toLowerCase();
  }

  function onCreateSubmit(event) {
    event.preventDefault();
    clearFormError(ui.roomError, ui.roomInput);
    const name = normalizeRoomName(ui.roomInput.value);
    if (!limits.room.isName(name)) {
      showFormError(ui.roomError, ui.roomInput, roomRule(limits));
      return;
    }
    if (name.startsWith(DM_PREFIX)) {
      showFormError(ui.roomError, ui.roomInput, "Names that begin with “dm-” are kept for direct messages.");
      return;
    }
    if (!send({ action: "createRoom", room: name, kind: "private" })) {
      showFormError(ui.roomError, ui.roomInput, "Not connected: try again in a moment.");
      return;
    }
    wanted.create = name;
  }

  function wire() {
    ui.dmToggle.addEventListener("click", () => toggleForm(ui.dmForm, ui.dmToggle, ui.dmInput, ui.dmError));
    ui.roomToggle.addEventListener("click", () => toggleForm(ui.roomForm, ui.roomToggle, ui.roomInput, ui.roomError));
    ui.dmForm.addEventListener("submit", onDirectSubmit);
    ui.roomForm.addEventListener("submit", onCreateSubmit);
    for (const [form, toggle, input, error] of [
      [ui.dmForm, ui.dmToggle, ui.dmInput, ui.dmError],
      [ui.roomForm, ui.roomToggle, ui.roomInput, ui.roomError],
    ]) {
      form.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          event.stopPropagation();
          closeForm(form, toggle, input, error);
          toggle.focus();
        }
      });
    }
  }

  wire();
  return { tookDirect, tookCreated, onError, reset };

  /** Log out: forget what this page asked for. */
  function reset() {
    wanted.direct = null;
    wanted.create = null;
  }
}
