// How the page names a person (issue 23): their display name, in any script, with @username beside it, or just
// the username when they have no display name. The display name sits in a <bdi>, so a right-to-left name cannot
// reorder the @username or anything else around it. Text only: names reach the DOM through textContent (dom.js).

import { el } from "./dom.js";

/** The name to show for `user` ({username, displayName?}): the display name when there is one. */
export function shownName(user) {
  if (!user) return "";
  const display = typeof user.displayName === "string" ? user.displayName.trim() : "";
  return display || user.username || "";
}

/** "zoë (@zoe)", or "zoe": the whole name in one string, for titles and labels. */
export function fullName(user) {
  const shown = shownName(user);
  return user && shown !== user.username ? `${shown} (@${user.username})` : shown;
}

/** The name as nodes: [<bdi>display name</bdi>, " ", <span>@username</span>], or [<span>username</span>]. */
export function nameNodes(user) {
  const shown = shownName(user);
  if (!user || shown === user.username) return [el("span", { className: "username", text: shown })];
  return [
    el("bdi", { className: "display-name", testid: "display-name", text: shown }),
    document.createTextNode(" "),
    el("span", { className: "handle", testid: "handle", text: `@${user.username}` }),
  ];
}

/** The length the server counts (code points after NFC normalization and trimming). */
export function displayNameLength(text) {
  return [...String(text).normalize("NFC").trim()].length;
}

/** The server's refusal of a display name ("displayName: must not hold …") as a sentence about the field. */
export function displayNameError(message) {
  const rule = String(message).replace(/^displayName:\s*/i, "");
  return `Display name: ${rule}`;
}
