// The message box: Enter sends (Shift+Enter starts a new line), it grows with its text, shows and refuses a
// text longer than the server takes (textlimit.js: the text is kept), offers @mentions (mentions.js), and tells
// presence.js when the user is typing. A reply or an edit (drafting.js) sees its keys first (after an open
// @ list's) and takes the text before it is sent.

import { byId } from "./dom.js";
import { createMentions } from "./mentions.js";
import { createTextLimit } from "./textlimit.js";

/**
 * @param {object} deps {limits, activeRoom(), myUser(), outbox, presence, notices, drafting}
 */
export function createComposer({ limits, activeRoom, myUser, outbox, presence, notices, drafting }) {
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
    const fields = drafting.take(room, text); // null: it was an edit, saved
    autosize();
    if (fields) outbox.write(room, text, { ...fields, mentions: mentioned });
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
    mentions.reset();
    const room = activeRoom();
    if (room) drafting.onSwitch(room.name);
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
