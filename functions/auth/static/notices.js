// The conversation's notice line (role=alert): one short message at a time, gone after a while.

import { byId } from "./dom.js";

const SHOWN_FOR_MS = 8000;

export function createNotices() {
  const notice = byId("notice");
  let timer = 0;

  function show(text) {
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(hide, SHOWN_FOR_MS);
  }

  function hide() {
    clearTimeout(timer);
    notice.hidden = true;
    notice.textContent = "";
  }

  /** Hide the notice only if it still says `text` (another may have replaced it). */
  function hideIf(text) {
    if (!notice.hidden && notice.textContent === text) hide();
  }

  return { show, hide, hideIf };
}
