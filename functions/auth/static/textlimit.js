// The message box's length limit, shown and never applied silently: the box takes any length (no maxlength, so
// nothing typed or pasted is cut), a counter appears near the limit ("3700 / 4000"), past it says so
// ("4123 / 4000 — too long") and marks the box invalid, and a send is refused with the same numbers. The counter
// describes the box (aria-describedby) but is no live region: a screen reader would read it at every key.

const SHOW_FROM = 0.9; // the counter shows from this share of the limit

/** Characters as the server counts them: code points of the trimmed text (an emoji is one, not two). */
export function textLength(text) {
  return [...String(text).trim()].length;
}

/** "1234 / 1000 — too long", "950 / 1000", or "" well under the limit. */
export function counterText(length, max) {
  if (length > max) return `${length} / ${max} — too long`;
  return length >= Math.floor(max * SHOW_FROM) && length > 0 ? `${length} / ${max}` : "";
}

/**
 * @param {object} deps {input (the textarea), counter (the element that shows the count), max}
 */
export function createTextLimit({ input, counter, max }) {
  input.removeAttribute("maxlength");

  /** The text changed: show (or hide) the count, and whether the box holds too much. */
  function update() {
    const length = textLength(input.value);
    const text = counterText(length, max);
    counter.textContent = text;
    counter.hidden = !text;
    counter.classList.toggle("over", length > max);
    if (length > max) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  /** Why `text` cannot be sent (too long), or null. The text stays in the box. */
  function refusal(text) {
    update();
    const length = textLength(text);
    return length > max ? `Messages are at most ${max} characters (this one has ${length}): shorten it to send.` : null;
  }

  input.addEventListener("input", update);
  return { update, refusal };
}
