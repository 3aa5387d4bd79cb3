// What the user does with a message of the open room (the buttons message_view.js draws, found by their
// data-action on the whole list): react from a small emoji picker or toggle a reaction chip, reply, edit or delete
// their own or, as a private room's owner, anyone's there (after a confirmation), and show the original of a reply (older history loaded to find it). The
// actions show on hover and keyboard focus (actions.css) and, on a touch screen, after a long press. It also
// files the messageUpdated frames that show every change: the higher version of a message is kept.

import { byId } from "./dom.js";
import { confirmAction } from "./confirm.js";
import { emojiPicker } from "./message_view.js";
import { fullName } from "./names.js";

const LONG_PRESS_MS = 500;
const LONG_PRESS_SLOP_PX = 10; // a finger that moves further is scrolling, not pressing
const ORIGINAL_PAGES = 10; // the most pages of older history loaded to find the original of a reply
const PAGE_WAIT_MS = 15000;

/**
 * @param {object} deps {state, send, timeline, history, drafting, notices, myUser(), onNew(message)}: onNew files
 *   a changed message the page never had, as a new one
 */
export function createMessageActions({ state, send, timeline, history, drafting, notices, myUser, onNew }) {
  const list = byId("message-list");
  let picker = null; // the open emoji picker's element
  let opened = null; // the message whose actions a long press opened
  let press = null; // {timer, x, y} while a finger is down on a message

  const activeRoom = () => state.rooms.get(state.active);

  // ---------------------------------------------------------------- changes
  /** A messageUpdated frame: the message is drawn again in place when this version is newer than the one held. */
  function onUpdated(message) {
    if (!message || typeof message.id !== "string") return;
    const room = state.rooms.get(message.room);
    if (!room) return;
    if (!room.has(message.id)) {
      // its `message` frame has not come (frames of two invocations may cross), or came while the page was away
      if (room.historyLoaded && room.covers(message.id) && !message.deleted) onNew(message);
      return;
    }
    if (!room.update(message)) return; // an older or the same version: the page shows a later state already
    if (room.name === state.active) timeline.replace(room, message.id);
    drafting.onChanged(room, message);
  }

  // ---------------------------------------------------------------- clicks
  function onClick(event) {
    const button = event.target.closest("[data-action]");
    const li = button && button.closest(".message");
    const room = activeRoom();
    const message = li && room && li.dataset.id ? room.byId.get(li.dataset.id) : null;
    if (!message) return;
    const action = button.dataset.action;
    if (action !== "pick" && action !== "choose") closePicker();
    switch (action) {
      case "pick":
        togglePicker(li);
        return;
      case "choose":
        closePicker(li.querySelector('[data-action="pick"]'));
        closeActions();
        toggleReaction(room, message, button.dataset.emoji);
        return;
      case "toggle":
        closeActions();
        toggleReaction(room, message, button.dataset.emoji);
        return;
      case "reply":
        closeActions();
        drafting.reply(room, message);
        return;
      case "edit":
        closeActions();
        drafting.edit(room, message);
        return;
      case "delete":
        remove(room, message);
        return;
      case "show-original":
        showOriginal(room, button.dataset.replyTo);
        return;
      default:
        return; // Retry and the like: timeline.js handles them
    }
  }

  /** React with `emoji`, or take the reaction back when the user holds it. */
  function toggleReaction(room, message, emoji) {
    if (message.deleted || typeof emoji !== "string") return;
    const held = (message.reactions || []).some((r) => r.emoji === emoji && (r.users || []).some((u) => u.id === myUser().id));
    const action = held ? "unreact" : "react";
    if (!send({ action, room: room.name, id: message.id, emoji })) notices.show("Not connected: the reaction was not sent.");
  }

  async function remove(room, message) {
    // a private room's owner may delete others' messages too (message_view.js offers it): say whose it is
    const whose = message.user && message.user.id !== myUser().id ? `${fullName(message.user)}'s message ` : "It ";
    const yes = await confirmAction({
      title: "Delete this message?",
      text: `${whose}is deleted for everyone in the conversation: “message deleted” stays in its place.`,
      yes: "Delete",
    });
    closeActions();
    if (!yes) return;
    if (!send({ action: "deleteMessage", room: room.name, id: message.id })) notices.show("Not connected: the message was not deleted.");
  }

  // ---------------------------------------------------------------- the emoji picker
  function togglePicker(li) {
    const open = picker && picker.isConnected && li.contains(picker);
    closePicker();
    if (open) return;
    picker = emojiPicker();
    li.append(picker);
    picker.querySelector("button").focus();
  }

  /** Close the picker; `focusTo` gets the focus when the picker had it. */
  function closePicker(focusTo = null) {
    if (!picker) return;
    const hadFocus = picker.contains(document.activeElement);
    picker.remove();
    picker = null;
    if (hadFocus && focusTo) focusTo.focus();
  }

  // ---------------------------------------------------------------- a long press (touch)
  function onPointerDown(event) {
    if (event.pointerType !== "touch") return;
    const li = event.target.closest(".message[data-id]");
    if (!li || event.target.closest("button") || li.dataset.deleted) return;
    cancelPress();
    press = { x: event.clientX, y: event.clientY, timer: setTimeout(() => openActions(li), LONG_PRESS_MS) };
  }

  function onPointerMove(event) {
    if (press && Math.hypot(event.clientX - press.x, event.clientY - press.y) > LONG_PRESS_SLOP_PX) cancelPress();
  }

  function cancelPress() {
    if (press) clearTimeout(press.timer);
    press = null;
  }

  function openActions(li) {
    press = null;
    closeActions();
    opened = li.dataset.id;
    li.classList.add("actions-open");
  }

  function closeActions() {
    if (!opened) return;
    const li = timeline.elementOf(opened);
    if (li) li.classList.remove("actions-open");
    opened = null;
  }

  /** A tap or click outside the message whose actions are open closes them (and the picker). */
  function onDocumentPointerDown(event) {
    const li = opened && timeline.elementOf(opened);
    if (li && !li.contains(event.target)) closeActions();
    if (picker && !picker.contains(event.target) && !event.target.closest('[data-action="pick"]')) closePicker();
  }

  function onKeyDown(event) {
    if (event.key !== "Escape" || (!picker && !opened)) return;
    const li = event.target.closest && event.target.closest(".message");
    closePicker(li && li.querySelector('[data-action="pick"]'));
    closeActions();
    event.stopPropagation();
  }

  // ---------------------------------------------------------------- the original of a reply
  /** Scroll to the original and highlight it, loading older pages until it is there (or saying it is not). */
  async function showOriginal(room, id) {
    if (!id || timeline.reveal(id)) return;
    for (let page = 0; page < ORIGINAL_PAGES && room.hasOlder && state.active === room.name; page += 1) {
      history.loadOlder();
      const loaded = await until(() => !room.historyInFlight);
      if (!loaded || state.active !== room.name) return;
      if (timeline.reveal(id)) return;
    }
    if (state.active !== room.name) return;
    notices.show(room.hasOlder
      ? "The original message is further back: load older messages to see it."
      : "The original message is not in this conversation's history.");
  }

  function wire() {
    list.addEventListener("click", onClick);
    list.addEventListener("pointerdown", onPointerDown);
    list.addEventListener("pointermove", onPointerMove);
    list.addEventListener("pointerup", cancelPress);
    list.addEventListener("pointercancel", cancelPress);
    list.addEventListener("contextmenu", (event) => {
      if (opened && event.target.closest(".message.actions-open")) event.preventDefault(); // the long press's menu
    });
    list.addEventListener("keydown", onKeyDown);
    document.addEventListener("pointerdown", onDocumentPointerDown);
  }

  wire();
  return { onUpdated, showOriginal };
}

/** Resolves true once `ready()` holds (checked every 50 ms), false after PAGE_WAIT_MS. */
function until(ready) {
  return new Promise((resolve) => {
    const started = Date.now();
    const check = () => {
      if (ready()) resolve(true);
      else if (Date.now() - started > PAGE_WAIT_MS) resolve(false);
      else setTimeout(check, 50);
    };
    check();
  });
}
