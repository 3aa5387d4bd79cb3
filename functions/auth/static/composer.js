// The message box: Enter sends (Shift+Enter starts a new line), it grows with its text, refuses a text longer
// than the server takes, and tells presence.js when the user is typing.

import { byId } from "./dom.js";

/**
 * @param {object} deps {limits, activeRoom(), outbox, presence, notices}
 */
export function createComposer({ limits, activeRoom, outbox, presence, notices }) {
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
    autosize();
    outbox.write(room, text);
  }

  function onInput() {
    autosize();
    presence.onInput(Boolean(ui.input.value.trim()));
  }

  function autosize() {
    // CSSOM writes are allowed by the page's CSP (style-src 'self'); style="" attributes are not.
    ui.input.style.height = "auto";
    ui.input.style.height = `${Math.min(ui.input.scrollHeight + 2, window.innerHeight * 0.4)}px`;
  }

  /** The room changed: the box says where a message goes. */
  function setRoom(label) {
    ui.input.placeholder = `Message ${label}`;
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
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.form.requestSubmit();
    }
  });

  return { setRoom, focus, clear };
}
