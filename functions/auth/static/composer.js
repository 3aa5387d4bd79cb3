// The message box: Enter sends (Shift+Enter starts a new line), it grows with its text, refuses a text longer
// than the server takes, and tells presence.js when the user is typing. A reply or an edit (drafting.js) sees
// its keys first and takes the text before it is sent.

import { byId } from "./dom.js";

/**
 * @param {object} deps {limits, activeRoom(), outbox, presence, notices, drafting}
 */
export function createComposer({ limits, activeRoom, outbox, presence, notices, drafting }) {
  const ui = { form: byId("composer"), input: byId("composer-input") };

  function onSubmit(event) {
    event.preventDefault();
    const room = activeRoom();
    const text = ui.input.value.trim();
    if (!room || !text) return;
    if (text.length > limits.textMax) {
      notices.show(`Messages are at most ${limits.textMax} characters (this one has ${text.length}).`);
      return;
    }
    presence.stop();
    ui.input.value = "";
    const fields = drafting.take(room, text); // null: it was an edit, saved
    autosize();
    if (fields) outbox.write(room, text, fields);
  }

  function onInput() {
    autosize();
    presence.onInput(Boolean(ui.input.value.trim()));
  }

  function autosize() {
    fitHeight(ui.input);
  }

  /** The room changed: the box says where a message goes (a reply or edit in the other room ends). */
  function setRoom(label) {
    ui.input.placeholder = `Message ${label}`;
    const room = activeRoom();
    if (room) drafting.onSwitch(room.name);
  }

  function focus() {
    ui.input.focus();
  }

  function clear() {
    ui.input.value = "";
  }

  ui.form.addEventListener("submit", onSubmit);
  ui.input.addEventListener("input", onInput);
  ui.input.addEventListener("keydown", (event) => {
    if (!event.isComposing && drafting.onKey(event)) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.form.requestSubmit();
    }
  });

  return { setRoom, focus, clear };
}

/** The box grows with its text, up to 40% of the window. */
export function fitHeight(input) {
  // CSSOM writes are allowed by the page's CSP (style-src 'self'); style="" attributes are not.
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight + 2, window.innerHeight * 0.4)}px`;
}
