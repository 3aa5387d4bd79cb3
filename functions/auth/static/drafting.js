// What the message box is writing besides a new message: a reply (a "Replying to …" bar above the box, with a
// cancel; the message goes with `replyTo`) or an edit of one of the user's own messages (its text in the box,
// "Editing your message"; Enter saves it with editMessage, Escape cancels and gives back what was being typed).
// ArrowUp in an empty box edits the user's last message. composer.js asks `take` before it sends and lets `onKey`
// see its keys first; message_actions.js starts replies and edits.

import { byId } from "./dom.js";
import { fullName } from "./names.js";

const EXCERPT_CHARS = 120;

/**
 * @param {object} deps {activeRoom(), myUser(), send, notices, fitHeight(input)}
 */
export function createDrafting({ activeRoom, myUser, send, notices, fitHeight }) {
  const ui = {
    bar: byId("compose-context"),
    label: byId("compose-context-label"),
    excerpt: byId("compose-context-excerpt"),
    cancel: byId("compose-context-cancel"),
    input: byId("composer-input"),
  };
  let draft = null; // {kind: "reply" | "edit", room, id, saved: the box's text before an edit}

  /** Reply to `message`: the bar names it; the next message sent carries `replyTo`. */
  function reply(room, message) {
    cancel();
    draft = { kind: "reply", room: room.name, id: message.id };
    show({ label: `Replying to ${fullName(message.user)}`, excerpt: excerpt(message.text), cancelLabel: "Cancel reply" });
    ui.input.focus();
  }

  /** Edit one of the user's messages in the box (what was typed there comes back after). */
  function edit(room, message) {
    const saved = draft && draft.kind === "edit" ? draft.saved : ui.input.value;
    cancel({ restore: false });
    draft = { kind: "edit", room: room.name, id: message.id, saved };
    setText(message.text);
    show({ label: "Editing your message", excerpt: "Enter saves, Escape cancels.", cancelLabel: "Cancel editing" });
    ui.input.focus();
    ui.input.setSelectionRange(ui.input.value.length, ui.input.value.length);
  }

  /**
   * composer.js is about to send `text` in `room` (the box is already emptied): the fields a new message goes
   * with ({replyTo} or {}), or null when the text was an edit, saved here.
   */
  function take(room, text) {
    if (!draft) return {};
    const current = draft;
    end();
    if (current.room !== room.name) return {};
    if (current.kind === "reply") return { replyTo: current.id };
    const message = room.byId.get(current.id);
    if (message && !message.deleted && message.text !== text) {
      if (!send({ action: "editMessage", room: room.name, id: current.id, text })) notices.show("Not connected: the edit was not saved.");
    }
    setText(current.saved);
    return null;
  }

  /** Keys in the box, before composer.js sees them; true when handled here. */
  function onKey(event) {
    if (event.key === "Escape" && draft) {
      event.preventDefault();
      cancel();
      return true;
    }
    if (event.key !== "ArrowUp" || ui.input.value || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return false;
    const room = activeRoom();
    const message = room && lastOwn(room);
    if (!message) return false;
    event.preventDefault();
    edit(room, message);
    return true;
  }

  /** The user's newest message of the room that can still be edited. */
  function lastOwn(room) {
    for (let i = room.order.length - 1; i >= 0; i -= 1) {
      const message = room.byId.get(room.order[i]);
      if (message.user && message.user.id === myUser().id && !message.deleted) return message;
    }
    return null;
  }

  /** A message changed: the reply or edit of a message just deleted ends, and says so. */
  function onChanged(room, message) {
    if (!draft || draft.room !== room.name || draft.id !== message.id || !message.deleted) return;
    cancel();
    notices.show("That message was deleted.");
  }

  /** The open room changed (or the user logged out): a reply or edit of the other room ends. */
  function onSwitch(name) {
    if (draft && draft.room !== name) cancel();
  }

  /** End the reply or edit; an edit gives the box back what was typed before it. */
  function cancel({ restore = true } = {}) {
    if (!draft) return;
    const current = draft;
    end();
    if (current.kind === "edit" && restore) setText(current.saved);
  }

  function end() {
    draft = null;
    ui.bar.hidden = true;
    ui.bar.dataset.kind = "";
  }

  function show({ label, excerpt: text, cancelLabel }) {
    ui.bar.dataset.kind = draft.kind;
    ui.label.textContent = label;
    ui.label.title = label; // the whole of it where a narrow box cuts it
    ui.excerpt.textContent = text;
    ui.cancel.setAttribute("aria-label", cancelLabel);
    ui.cancel.title = cancelLabel;
    ui.bar.hidden = false;
  }

  function setText(text) {
    ui.input.value = text;
    fitHeight(ui.input);
  }

  ui.cancel.addEventListener("click", () => {
    cancel();
    ui.input.focus();
  });

  return { reply, edit, take, onKey, onChanged, onSwitch, cancel };
}

/** The start of a text, on one line, for the bar. */
export function excerpt(text) {
  const line = String(text || "").replace(/\s+/g, " ").trim();
  const chars = [...line];
  return chars.length > EXCERPT_CHARS ? `${chars.slice(0, EXCERPT_CHARS - 1).join("")}…` : line;
}
