// System notifications (issue 23): while the tab is hidden, a new direct message or a mention of the user raises
// one (the Notification API), with an optional sound; clicking it opens the conversation. Every message of a
// room only when the user turned that room on. The settings live in the Account dialog and in this browser
// (localStorage, per user: nothing secret). Permission is asked only after a click there, never on load.
// Mentions: a message carries `mentions: [{id, username}]` once the server sends them; without it, none.

import { DM_PREFIX } from "./rooms.js";
import { fullName } from "./names.js";

const DEFAULTS = { dm: true, mentions: true, sound: false, rooms: [] };
const BODY_MAX = 160;

/**
 * @param {object} host what app.js lends: {state, myUser, openRoom(name), label(room)}
 */
export function createNotify(host) {
  const $ = (id) => document.getElementById(id);
  const ui = {
    open: $("account-open"),
    dm: $("notify-dm"),
    mentions: $("notify-mentions"),
    room: $("notify-room"),
    roomName: $("notify-room-name"),
    sound: $("notify-sound"),
    allow: $("notify-allow"),
    status: $("notify-status"),
  };
  let audio = null;

  const supported = () => typeof window.Notification === "function";
  const key = () => `parley.notify.${host.myUser().id}`;

  function settings() {
    try {
      const saved = JSON.parse(localStorage.getItem(key()) || "null");
      if (saved && typeof saved === "object") {
        return { ...DEFAULTS, ...saved, rooms: Array.isArray(saved.rooms) ? saved.rooms.filter((r) => typeof r === "string") : [] };
      }
    } catch {
      /* unreadable: the defaults */
    }
    return { ...DEFAULTS, rooms: [] };
  }

  function save(next) {
    try {
      localStorage.setItem(key(), JSON.stringify(next));
    } catch {
      /* storage refused (private mode): the settings last as long as the page */
    }
  }

  // ---------------------------------------------------------------- a message arrived
  /** app.js calls this for each new live message, once it is filed in `room`. */
  function onMessage(room, message) {
    const me = host.myUser();
    if (!room || !message || !message.user || message.user.id === me.id) return;
    if (document.visibilityState !== "hidden") return; // the page is in front of the user: the badge says it
    const s = settings();
    const direct = room.kind === "direct" || room.name.startsWith(DM_PREFIX);
    const mentioned = Array.isArray(message.mentions) && message.mentions.some((m) => m === me.id || (m && m.id === me.id));
    const wanted = (direct && s.dm) || (mentioned && s.mentions) || (!direct && s.rooms.includes(room.name));
    if (!wanted || !supported() || Notification.permission !== "granted") return;
    const where = host.label(room);
    const who = fullName(message.user); // "zoë (@zoe)", or the username (names.js)
    const title = direct ? who : mentioned ? `${who} mentioned you in ${where}` : `${who} in ${where}`;
    const text = typeof message.text === "string" ? message.text : "";
    let note;
    try {
      // one per conversation (the tag): a newer message replaces the older one, also across this browser's tabs
      note = new Notification(title, {
        body: text.length > BODY_MAX ? `${text.slice(0, BODY_MAX - 1)}…` : text,
        tag: `parley:${room.name}`,
        icon: "/static/favicon.svg",
      });
    } catch {
      return; // a browser that shows notifications only from a service worker (Android): the title still counts
    }
    note.onclick = () => {
      window.focus();
      host.openRoom(room.name);
      note.close();
    };
    if (s.sound) beep();
  }

  function beep() {
    try {
      audio = audio || new AudioContext();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.08, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.25);
    } catch {
      /* no audio: the notification itself is enough */
    }
  }

  // ---------------------------------------------------------------- the settings (Account dialog)
  function render() {
    const s = settings();
    const room = host.state.rooms.get(host.state.active);
    const roomOk = Boolean(room) && room.kind !== "direct" && !room.name.startsWith(DM_PREFIX);
    ui.dm.checked = s.dm;
    ui.mentions.checked = s.mentions;
    ui.sound.checked = s.sound;
    ui.room.disabled = !roomOk;
    ui.room.checked = roomOk && s.rooms.includes(room.name);
    ui.roomName.textContent = roomOk ? host.label(room) : "the open room (not a direct message)";
    renderPermission();
  }

  function renderPermission() {
    const s = settings();
    const wantsAny = s.dm || s.mentions || s.rooms.length > 0;
    let text = "";
    let ask = false;
    if (!supported()) text = "This browser cannot show notifications; unread counts show in the tab's title.";
    else if (Notification.permission === "denied") {
      text = "This browser blocks Parley's notifications. Allow them in the site settings (the icon beside the address), then reload.";
    } else if (Notification.permission === "default" && wantsAny) {
      text = "Parley may not show notifications yet in this browser.";
      ask = true;
    } else if (Notification.permission === "granted" && wantsAny) {
      text = "Notifications are on in this browser while Parley is in a hidden tab.";
    }
    ui.status.textContent = text;
    ui.allow.hidden = !ask;
  }

  /** Ask the browser for permission: only ever from a click (a checkbox turned on, or the Allow button). */
  async function askPermission() {
    if (!supported() || Notification.permission !== "default") return;
    try {
      await Notification.requestPermission();
    } catch {
      /* an old browser's callback form: the status says what came of it */
    }
    renderPermission();
  }

  function onChange(event) {
    const s = settings();
    const room = host.state.rooms.get(host.state.active);
    if (event.target === ui.dm) s.dm = ui.dm.checked;
    if (event.target === ui.mentions) s.mentions = ui.mentions.checked;
    if (event.target === ui.sound) {
      s.sound = ui.sound.checked;
      if (s.sound) {
        try {
          audio = audio || new AudioContext(); // made in a click, so the browser lets it play later
        } catch {
          /* no audio */
        }
      }
    }
    if (event.target === ui.room && room) {
      s.rooms = s.rooms.filter((name) => name !== room.name);
      if (ui.room.checked) s.rooms.push(room.name);
    }
    save(s);
    if (event.target.checked && event.target !== ui.sound) askPermission();
    else renderPermission();
  }

  for (const box of [ui.dm, ui.mentions, ui.room, ui.sound]) box.addEventListener("change", onChange);
  ui.allow.addEventListener("click", askPermission);
  ui.open.addEventListener("click", render); // the dialog shows the open room's setting

  return { onMessage };
}
