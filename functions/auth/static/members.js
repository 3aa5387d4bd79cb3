// The members panel of a private room: who is in it, the owner adding and removing people, a member leaving.
// Membership frames (memberAdded, memberRemoved, ownerChanged) update the Room in conversations.js, which then
// asks this panel to render again.

import { request } from "./api.js";
import { confirmAction } from "./confirm.js";
import { usernameRule } from "./limits.js";
import { fullName, nameNodes, shownName } from "./names.js";

const PAGE = 100; // members a GET /rooms/{room}/members page holds

/**
 * @param {object} deps {state, limits, send, el, blocks, myUser, onLeave(room)}
 */
export function createMembersPanel({ state, limits, send, el, blocks, myUser, onLeave }) {
  const $ = (id) => document.getElementById(id);
  const ui = {
    toggle: $("members-toggle"),
    panel: $("members-panel"),
    close: $("members-close"),
    title: $("members-title"),
    summary: $("members-summary"),
    list: $("member-list"),
    form: $("add-member-form"),
    input: $("add-member-input"),
    error: $("add-member-error"),
    leave: $("leave-private"),
  };
  let shown = null; // the room whose panel is on screen
  let adding = null; // lower-cased username this page asked to add
  let loading = null; // {room, cursor}: the members page on its way

  /**
   * Every member from the server (GET /rooms/{room}/members), a page at a time: a frame lists members only when
   * they change, so after a reload the page knew the owner and who was online. The first page comes when the
   * panel opens; "Show more" asks for the next. Frames that arrive meanwhile still apply (onMembership).
   */
  async function loadMembers(room, cursor = null) {
    const session = state.session;
    if (!session || (loading && loading.room === room && loading.cursor === cursor)) return;
    const mine = { room, cursor };
    loading = mine;
    try {
      const query = `limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const data = await request(`/rooms/${encodeURIComponent(room.name)}/members?${query}`, { token: session.token });
      if (state.session !== session || !data || !Array.isArray(data.members)) return;
      const got = data.members.filter((m) => m && typeof m.id === "string");
      const byId = new Map((cursor && room.members ? room.members : []).map((m) => [m.id, m]));
      for (const user of got) byId.set(user.id, user);
      room.members = [...byId.values()];
      room.membersNext = typeof data.next === "string" ? data.next : null;
      if (!room.membersNext) room.memberCount = room.members.length;
      render(room);
    } catch (error) {
      if (shown === room && error && error.status !== 403) showError("Could not load the members: try again in a moment.");
    } finally {
      if (loading === mine) loading = null;
    }
  }

  function isOwner(room) {
    return Boolean(room.owner && room.owner.id === myUser().id);
  }

  /** Who the page can name: the full list when a frame gave it, else the owner, the user and who is online. */
  function knownMembers(room) {
    if (room.members) return room.members;
    const byId = new Map();
    for (const user of [room.owner, myUser(), ...room.users.values()]) if (user && user.id) byId.set(user.id, user);
    return [...byId.values()];
  }

  function sorted(users) {
    return [...users].sort((a, b) => a.username.toLowerCase().localeCompare(b.username.toLowerCase()));
  }

  /** The switched-to room: the Members button is there for private rooms the user is still in. */
  function show(room) {
    const eligible = room.kind === "private" && room.access;
    ui.toggle.hidden = !eligible;
    if (eligible) updateToggle(room);
    if (!eligible) close();
    else if (shown) open(room);
  }

  function updateToggle(room) {
    const count = room.members ? room.members.length : room.memberCount;
    ui.toggle.textContent = typeof count === "number" ? `Members (${count})` : "Members";
  }

  function open(room) {
    const fresh = shown !== room;
    shown = room;
    ui.panel.hidden = false;
    ui.toggle.setAttribute("aria-expanded", "true");
    document.body.classList.add("members-open");
    render(room);
    if (fresh && room.access) loadMembers(room);
  }

  function close() {
    shown = null;
    adding = null;
    ui.panel.hidden = true;
    document.body.classList.remove("members-open");
    ui.toggle.setAttribute("aria-expanded", "false");
    ui.input.value = "";
    clearError();
  }

  function render(room) {
    if (room.name === state.active && room.kind === "private") updateToggle(room);
    if (!shown || shown.name !== room.name) return;
    if (!room.access) {
      close();
      return;
    }
    const owner = isOwner(room);
    ui.title.textContent = `Members of #${room.name}`;
    const known = knownMembers(room);
    const count = room.members && !room.membersNext ? room.members.length : room.memberCount;
    let summary = typeof count === "number" ? `${count} ${count === 1 ? "member" : "members"}` : "";
    if (!room.members) summary += `${summary ? " " : ""}(loading the list…)`;
    else if (room.membersNext) summary += ` (showing ${known.length})`;
    if (room.owner) summary += `${summary ? " · " : ""}owner: ${room.owner.id === myUser().id ? "you" : fullName(room.owner)}`;
    ui.summary.textContent = summary;
    ui.list.replaceChildren(
      ...sorted(known).map((user) => {
        const li = el("li", { className: "member", testid: "member" });
        li.dataset.username = user.username;
        const name = el("span", { className: "name", attrs: { title: fullName(user) } });
        name.append(...nameNodes(user));
        li.append(name);
        if (room.owner && room.owner.id === user.id) li.append(el("span", { className: "tag", text: "owner" }));
        if (user.id === myUser().id) li.append(el("span", { className: "you", text: "(you)" }));
        if (owner && user.id !== myUser().id) {
          const remove = el("button", {
            className: "button secondary small",
            testid: "member-remove",
            text: "Remove",
            attrs: { type: "button", "aria-label": `Remove ${fullName(user)}` },
          });
          remove.addEventListener("click", async () => {
            clearError();
            const sure = await confirmAction({
              title: `Remove ${shownName(user)}?`,
              text: `${fullName(user)} will no longer see #${room.name} or its messages. You can add them again later.`,
              yes: "Remove",
            });
            if (!sure) return;
            if (!send({ action: "removeMember", room: room.name, username: user.username })) {
              showError("Not connected: try again in a moment.");
            }
          });
          li.append(remove);
        }
        if (user.id !== myUser().id) li.append(blocks.control(user));
        return li;
      }),
    );
    if (room.membersNext) {
      const more = el("button", {
        className: "button secondary small",
        testid: "members-more",
        text: "Show more members",
        attrs: { type: "button" },
      });
      more.addEventListener("click", () => loadMembers(room, room.membersNext));
      ui.list.append(el("li", { className: "member more" }));
      ui.list.lastChild.append(more);
    }
    ui.form.hidden = !owner;
    ui.leave.hidden = false;
    ui.leave.title = owner && (count || 0) > 1 ? "The member who has been here longest becomes the owner." : "";
  }

  function onAddSubmit(event) {
    event.preventDefault();
    clearError();
    const room = shown;
    const username = ui.input.value.trim().replace(/^@/, "");
    if (!room) return;
    if (!limits.username.re.test(username)) {
      showError(`Usernames are ${usernameRule(limits)}`, true);
      return;
    }
    if (knownMembers(room).some((m) => m.username.toLowerCase() === username.toLowerCase())) {
      showError(`${username} is already a member.`, true);
      return;
    }
    if (!send({ action: "addMember", room: room.name, username })) {
      showError("Not connected: try again in a moment.", true);
      return;
    }
    adding = username.toLowerCase();
  }

  /** conversations.js passes on memberAdded: the name this page asked to add is in, so its box empties. */
  function onMemberAdded(user) {
    if (adding && user && user.username.toLowerCase() === adding) {
      adding = null;
      ui.input.value = "";
    }
  }

  function onError(frame, text) {
    const add = frame.action === "addMember";
    if (add) adding = null;
    let message = text;
    if (frame.code === "not_found") {
      message = add ? `There is no user called “${ui.input.value.trim()}”.` : "There is no such user.";
    } else if (frame.code === "forbidden") {
      // the owner refused an addition: the person may have blocked them, which the page must not guess at
      if (add && shown && isOwner(shown)) message = "You cannot add that person to this room.";
      else message = add ? "Only the room's owner can add people." : "Only the room's owner can remove other people.";
    }
    showError(message, add);
  }

  function showError(message, focusInput = false) {
    ui.error.textContent = message;
    if (focusInput) {
      ui.input.setAttribute("aria-invalid", "true");
      ui.input.focus();
    }
  }

  function clearError() {
    ui.error.textContent = "";
    ui.input.removeAttribute("aria-invalid");
  }

  ui.toggle.addEventListener("click", () => {
    const room = state.rooms.get(state.active);
    if (shown || !room) close();
    else open(room);
  });
  ui.close.addEventListener("click", () => {
    close();
    ui.toggle.focus();
  });
  ui.panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      close();
      ui.toggle.focus();
    }
  });
  ui.form.addEventListener("submit", onAddSubmit);
  blocks.onChange(() => {
    if (shown) render(shown);
  });
  ui.leave.addEventListener("click", async () => {
    const room = shown;
    if (!room) return;
    const sure = await confirmAction({
      title: `Leave #${room.name}?`,
      text: `#${room.name} is private: only ${isOwner(room) ? "its next owner" : "its owner"} can add you back.`,
      yes: "Leave",
    });
    if (sure && shown === room) onLeave(room);
  });

  return { show, open, close, render, onError, onMemberAdded };
}
