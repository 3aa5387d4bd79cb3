// What a message shows besides its author and text, drawn by timeline.js and acted on by message_actions.js
// (which listens on the whole list: the buttons here only say what they do, in data-action): a reply's quote of
// the original, "(edited)", a deleted message's tombstone, reaction chips, the actions offered on hover, keyboard
// focus or a long press, and the small emoji picker. DOM nodes only: user text never reaches innerHTML.

import { el } from "./dom.js";
import { fullName, shownName } from "./names.js";

/** The picker's emoji: common ones, each a single emoji as the server's `react` requires. */
export const QUICK_EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];

/** A deleted message's place in the timeline: no text, no reactions. */
export function tombstone() {
  return el("p", { className: "text tombstone", testid: "message-tombstone", text: "message deleted" });
}

/**
 * Everything after the text of a message the server holds: its version, the reply quote (above the text),
 * "(edited)", the reaction chips and the actions. `original` is the replied-to message when the page holds it;
 * `roomOwner`: the user owns the (private) room, and may delete anyone's message there (docs/protocol.md).
 */
export function decorate(li, message, { original, myId, roomOwner = false }) {
  li.dataset.version = String(Number(message.version) || 1);
  if (message.deleted) {
    li.dataset.deleted = "true";
    return; // a tombstone takes no reply, edit or reaction
  }
  const text = li.querySelector(".text");
  if (message.replyTo && typeof message.replyTo.id === "string") text.before(replyQuote(message.replyTo, original));
  if (message.editedAt) {
    li.dataset.edited = "true";
    text.after(editedMark(message.editedAt));
  }
  if (Array.isArray(message.reactions) && message.reactions.length) li.append(reactionChips(message.reactions, myId));
  const mine = Boolean(message.user && message.user.id === myId);
  li.append(actionBar({ edit: mine, remove: mine || roomOwner }));
}

/** The quoted original of a reply: its author (the display name; @username in the title) and excerpt, a button
 * that scrolls to it. */
export function replyQuote(replyTo, original) {
  const author = replyTo.user && replyTo.user.username ? fullName(replyTo.user) : "someone";
  const gone = Boolean((original && original.deleted) || !replyTo.excerpt);
  const excerpt = gone ? "message deleted" : replyTo.excerpt;
  const quote = el("button", {
    className: gone ? "reply-quote gone" : "reply-quote",
    testid: "reply-quote",
    attrs: { type: "button", "aria-label": `Reply to ${author}: ${excerpt}. Show the original message.` },
  });
  quote.dataset.action = "show-original";
  quote.dataset.replyTo = replyTo.id;
  const name = el("bdi", { className: "quote-author", testid: "quote-author", text: shownName(replyTo.user) || author, attrs: { title: author } });
  quote.append(name, el("span", { className: "quote-excerpt", text: excerpt }));
  return quote;
}

function editedMark(editedAt) {
  const mark = el("span", { className: "edited", testid: "message-edited", text: "(edited)" });
  const at = new Date(editedAt);
  if (!Number.isNaN(at.getTime())) mark.title = `Edited ${at.toLocaleString()}`;
  return mark;
}

/** One chip per emoji: the emoji and its count, pressed when it is the user's; its title names who reacted. */
export function reactionChips(reactions, myId) {
  const list = el("div", { className: "reactions", testid: "reactions", attrs: { role: "group", "aria-label": "Reactions" } });
  for (const reaction of reactions) {
    if (!reaction || typeof reaction.emoji !== "string") continue;
    const users = Array.isArray(reaction.users) ? reaction.users.filter((u) => u && typeof u.id === "string") : [];
    const mine = users.some((u) => u.id === myId);
    const who = whoReacted(users, Number(reaction.count) || users.length, myId);
    const chip = el("button", {
      className: mine ? "reaction mine" : "reaction",
      testid: "reaction",
      attrs: {
        type: "button",
        "aria-pressed": String(mine),
        title: `${who} reacted with ${reaction.emoji}`,
        "aria-label": `${reaction.emoji} ${reaction.count}, from ${who}. ${mine ? "Take back your reaction" : "React too"}`,
      },
    });
    chip.dataset.action = "toggle";
    chip.dataset.emoji = reaction.emoji;
    chip.append(el("span", { className: "emoji", text: reaction.emoji }), el("span", { className: "count", text: String(reaction.count) }));
    list.append(chip);
  }
  return list;
}

/** "Zoë (@zoe), bob and you", "you and 12 others": the first users the server names, and how many more. */
export function whoReacted(users, count, myId) {
  const names = users.map((u) => (u.id === myId ? "you" : fullName(u)));
  const others = count - names.length;
  if (others > 0) names.push(`${others} ${others === 1 ? "other" : "others"}`);
  if (names.length <= 1) return names[0] || "nobody";
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

/**
 * What can be done with a message: react and reply; edit when it is the user's own; delete when it is theirs or
 * they own the private room it is in.
 */
function actionBar({ edit, remove }) {
  const bar = el("div", { className: "actions", testid: "message-actions", attrs: { role: "group", "aria-label": "Message actions" } });
  const actions = [["pick", "Add a reaction"], ["reply", "Reply"]];
  if (edit) actions.push(["edit", "Edit"]);
  if (remove) actions.push(["delete", "Delete"]);
  for (const [action, label] of actions) {
    // The icons are CSS content (actions.css), so a message's text is only its text, for readers and tests.
    const button = el("button", { className: `action ${action}`, testid: `action-${action}`, attrs: { type: "button", "aria-label": label, title: label } });
    button.dataset.action = action;
    bar.append(button);
  }
  return bar;
}

/** The emoji to react with, shown under the message whose "Add a reaction" was chosen. */
export function emojiPicker() {
  const picker = el("div", { className: "emoji-picker", testid: "emoji-picker", attrs: { role: "group", "aria-label": "Choose a reaction" } });
  for (const emoji of QUICK_EMOJI) {
    const option = el("button", { className: "emoji-option", testid: "emoji-option", text: emoji, attrs: { type: "button", "aria-label": `React with ${emoji}` } });
    option.dataset.action = "choose";
    option.dataset.emoji = emoji;
    picker.append(option);
  }
  return picker;
}
