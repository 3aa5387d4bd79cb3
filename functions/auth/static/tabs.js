// The page's other tabs in this browser (BroadcastChannel): they share one sign-in (the session cookie), so a
// log-out in one signs them all out, and a log-in in one signs in those showing the log-in form. Each tab keeps
// its own access token in memory; renewing it never ends another tab's, so tabs need not agree on renewals.

const CHANNEL = "parley.session";

let channel = null;

/** Listen for the other tabs: onMessage({type: "signedIn"|"signedOut", userId, message?}). */
export function listen(onMessage) {
  if (typeof BroadcastChannel !== "function") return; // an old browser: each tab on its own, as before
  channel = new BroadcastChannel(CHANNEL);
  channel.addEventListener("message", (event) => {
    const data = event.data;
    if (data && (data.type === "signedIn" || data.type === "signedOut") && typeof data.userId === "string") {
      onMessage(data);
    }
  });
}

/** Tell the other tabs (never this one: a BroadcastChannel does not hear itself). No token ever goes here. */
export function announce(type, userId, message = "") {
  if (channel) channel.postMessage({ type, userId, message });
}
