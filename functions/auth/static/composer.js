// The message box: Enter sends (Shift+Enter starts a new line), it grows with its text, shows and refuses a
// text longer than the server takes (textlimit.js: the text is kept), offers @mentions (mentions.js), and tells
// presence.js when the user is typing.

import { byId } from "./dom.js";
import { createMentions } from "./mentions.js";
import { createTextLimit } from "./textlimit.js";

/**
 * @param {object} deps {limits, activeRoom(), myUser(), outbox, presence, notices}
 */
export function createComposer({ limits, activeRoom, myUser, outbox, presence, notices }) {
  const ui = { form: byId("composer"), input: byId("composer-input"), count: byId("composer-count") };
  const textLimit = createTextLimit({ input: ui.input, counter: ui.count, max: limits.textMax });
  const mentions = createMentions({ input: ui.input, form: ui.form, activeRoom, myUser });

  function onSubmit(event) {
    event.preventDefault();
    const room = activeRoom();
    const text = ui.input.value.trim();
    if (!room || !text) return;
    const refused = textLimit.refusal(text);
    if (refused) {
      notices.show(refused); // the text stays, to be shortened
      return;
    }
    const mentioned = mentions.usersIn(text);
    presence.stop();
    clear();
    autosize();
    outbox.write(room, text, { mentions: mentioned });
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
    mentions.reset();
  }

  function focus() {
    ui.input.focus();
  }

  function clear() {
    ui.input.value = "";
    mentions.reset();
    textLimit.update();
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
