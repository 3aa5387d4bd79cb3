// A message's text on screen, formatted: links (http and https only), `code`, ``` code blocks ```, **bold**,
// _italic_ (and *italic*), and @mentions of the users the message names. Pure functions that build DOM nodes:
// the text only ever reaches the page as text nodes and attribute values, never as HTML, so whatever a message
// holds (<img onerror=…>, javascript: links) shows as the characters it is. Nothing inside code is formatted.

const FENCE = /```([\s\S]*?)```/g;
const INLINE_CODE = /`([^`\n]+)`/g;
const URL_START = /\bhttps?:\/\//gi;
const URL_BODY = /^https?:\/\/[^\s<>"`]+/i;
const MENTION = /@([A-Za-z0-9_.-]+)/g;
const WORD = /[\p{L}\p{N}]/u;

/**
 * The element that holds a message's text: `<div class="text">` with the formatted nodes.
 * @param {string} text
 * @param {{mentions?: Array<{id: string, username: string}>, myId?: string}} [who] the message's mentions
 *   (as the server carries them) and the reader's id, whose mentions stand out more.
 */
export function textElement(text, who = {}) {
  const div = document.createElement("div");
  div.className = "text";
  div.dataset.testid = "message-text";
  div.append(...formatText(text, who));
  return div;
}

/** The nodes for `text`: code blocks first (nothing inside them is formatted), then each line's inline marks. */
export function formatText(text, { mentions = [], myId = "" } = {}) {
  const named = new Map();
  for (const user of Array.isArray(mentions) ? mentions : []) {
    if (user && typeof user.id === "string" && typeof user.username === "string") {
      named.set(user.username.toLowerCase(), user);
    }
  }
  const ctx = { named, myId };
  const nodes = [];
  let at = 0;
  const source = String(text ?? "");
  for (const match of source.matchAll(FENCE)) {
    if (!match[1].trim()) continue; // ``` ``` with nothing inside stays as typed
    // a block is a line of its own: the line breaks around it are its edges, not blank lines
    nodes.push(...inline(source.slice(at, match.index).replace(/\n$/, ""), ctx));
    nodes.push(codeBlock(match[1]));
    at = match.index + match[0].length;
    if (source[at] === "\n") at += 1;
  }
  nodes.push(...inline(source.slice(at), ctx));
  return nodes;
}

function codeBlock(body) {
  const pre = document.createElement("pre");
  pre.className = "code-block";
  const code = document.createElement("code");
  // ```code``` on one line loses its spaces; a block loses the line breaks after ``` and before the closing ```
  code.textContent = body.includes("\n") ? body.replace(/^[ \t]*\n/, "").replace(/\n[ \t]*$/, "") : body.trim();
  pre.append(code);
  return pre;
}

/** `code` spans are taken first; the rest is links, emphasis and mentions. */
function inline(text, ctx) {
  const nodes = [];
  let at = 0;
  for (const match of text.matchAll(INLINE_CODE)) {
    nodes.push(...emphasis(text.slice(at, match.index), ctx));
    const code = document.createElement("code");
    code.className = "code";
    code.textContent = match[1];
    nodes.push(code);
    at = match.index + match[0].length;
  }
  nodes.push(...emphasis(text.slice(at), ctx));
  return nodes;
}

/**
 * Where the links of `text` are: [{start, end, url}]. A link starts with http:// or https:// and runs to
 * whitespace; trailing punctuation that ends the sentence (and a ")" that closes none of the link's own "("s)
 * is left out, as are emphasis marks around it.
 */
export function findLinks(text) {
  const links = [];
  for (const start of text.matchAll(URL_START)) {
    if (links.length && start.index < links[links.length - 1].end) continue;
    const body = URL_BODY.exec(text.slice(start.index));
    if (!body) continue;
    let url = body[0];
    for (;;) {
      const last = url.at(-1);
      if (".,;:!?'*_~".includes(last)) url = url.slice(0, -1);
      else if (last === ")" && count(url, "(") < count(url, ")")) url = url.slice(0, -1);
      else break;
    }
    if (!safeUrl(url)) continue;
    links.push({ start: start.index, end: start.index + url.length, url });
  }
  return links;
}

function count(text, ch) {
  return text.split(ch).length - 1;
}

/** Only http and https, and only what the browser parses as such (never javascript:, data:, …). */
export function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return (parsed.protocol === "http:" || parsed.protocol === "https:") && Boolean(parsed.hostname);
  } catch {
    return false;
  }
}

const MARKS = [
  { mark: "**", tag: "strong" },
  { mark: "*", tag: "em" },
  { mark: "_", tag: "em" },
];

/**
 * **bold**, *italic* and _italic_ (nested too), around text, links and mentions. A mark opens where it follows no
 * letter or digit and is followed by no space, and closes where it follows no space and is followed by no letter
 * or digit, on the same line: snake_case_names, 2*3*4 and a lone * stay as typed. Marks inside links are the
 * link's.
 */
function emphasis(text, ctx) {
  const links = findLinks(text);
  const inLink = (i) => links.some((l) => i >= l.start && i < l.end);
  const nodes = [];
  let plainFrom = 0;
  let i = 0;
  while (i < text.length) {
    const link = links.find((l) => l.start === i);
    if (link) {
      i = link.end;
      continue;
    }
    const found = MARKS.find(({ mark }) => text.startsWith(mark, i) && opens(text, i, mark));
    const close = found ? closing(text, i + found.mark.length, found.mark, inLink) : -1;
    if (close < 0) {
      i += 1;
      continue;
    }
    nodes.push(...linked(text.slice(plainFrom, i), ctx));
    const element = document.createElement(found.tag);
    element.append(...emphasis(text.slice(i + found.mark.length, close), ctx));
    nodes.push(element);
    i = close + found.mark.length;
    plainFrom = i;
  }
  nodes.push(...linked(text.slice(plainFrom), ctx));
  return nodes;
}

function opens(text, i, mark) {
  const before = text[i - 1];
  const after = text[i + mark.length];
  if (mark === "*" && after === "*") return false; // the start of ** (bold), not an empty italic
  return !(before && (WORD.test(before) || before === mark[0])) && Boolean(after) && !/\s/.test(after) && after !== mark[0];
}

function closing(text, from, mark, inLink) {
  for (let j = from + 1; j <= text.length - mark.length; j += 1) {
    if (text[j] === "\n") return -1;
    if (!text.startsWith(mark, j) || inLink(j)) continue;
    if (mark === "*" && (text[j + 1] === "*" || text[j - 1] === "*")) continue; // part of a **
    const before = text[j - 1];
    const after = text[j + mark.length];
    if (/\s/.test(before) || (after && (WORD.test(after) || after === mark[0]))) continue;
    return j;
  }
  return -1;
}

/** Plain text with its links made clickable: they open in a new tab that cannot reach back into this one. */
function linked(text, ctx) {
  const nodes = [];
  let at = 0;
  for (const { start, end, url } of findLinks(text)) {
    nodes.push(...mentioned(text.slice(at, start), ctx));
    const a = document.createElement("a");
    a.href = url;
    a.textContent = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.className = "link";
    nodes.push(a);
    at = end;
  }
  nodes.push(...mentioned(text.slice(at), ctx));
  return nodes;
}

/** @username of a user the message mentions (the server's list, not any @word): highlighted, more for the reader. */
function mentioned(text, { named, myId }) {
  if (!named.size || !text.includes("@")) return text ? [document.createTextNode(text)] : [];
  const nodes = [];
  let at = 0;
  for (const match of text.matchAll(MENTION)) {
    const before = text[match.index - 1];
    if (before && (WORD.test(before) || before === "@")) continue; // an e-mail address, @@
    let name = match[1];
    while (name && !named.has(name.toLowerCase()) && /[.\-_]$/.test(name)) name = name.slice(0, -1); // "@bob."
    const user = named.get(name.toLowerCase());
    if (!user) continue;
    const after = text[match.index + 1 + name.length];
    if (after && /[A-Za-z0-9_]/.test(after)) continue;
    if (match.index > at) nodes.push(document.createTextNode(text.slice(at, match.index)));
    const span = document.createElement("span");
    span.className = user.id === myId ? "mention mention-me" : "mention";
    span.dataset.userId = user.id;
    span.textContent = `@${name}`;
    nodes.push(span);
    at = match.index + 1 + name.length;
  }
  if (at < text.length) nodes.push(document.createTextNode(text.slice(at)));
  return nodes;
}
