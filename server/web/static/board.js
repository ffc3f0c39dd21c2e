// The wall board: draws the state the page came with, then follows the changes sent
// over Socket.IO. Every change is numbered per site; a board that sees a gap (a lost
// message, a server restart, a network cut) asks for the whole state again. No polling:
// the only timed request is at `refresh_at`, when closing time or the day changes the
// state without any tap. The strip (today's events, announcements) is asked for again
// every five minutes: it changes when staff post something, not when someone taps.
"use strict";

(function () {
  const setup = JSON.parse(document.getElementById("board-setup").textContent);
  const strings = setup.strings;
  const plurals = new Intl.PluralRules(setup.lang);
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  const GAP_WAIT_MS = 400; // a message may overtake another between server processes

  let state = null; // the state as last drawn: {seq, site, head_count, people, ...}
  let clockOffset = 0; // server time minus this screen's time, in ms
  let pending = []; // changes received ahead of a missing one
  let gapTimer = null;
  let refreshTimer = null;
  let syncing = false;

  // -- text ------------------------------------------------------------------------------

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
  }

  function counted(forms, n, values) {
    const form = forms[plurals.select(n)] || forms.other;
    return fill(form, Object.assign({ n: n }, values || {}));
  }

  function label(text) {
    return fill(strings.label, { label: text }); // "Travaille sur : " / "Working on: "
  }

  // The 24-hour clock in both languages, like the opening hours ("09:00–19:00").
  let timeFormat = null;
  function timeOfDay(iso) {
    if (!timeFormat || timeFormat.resolvedOptions().timeZone !== state.site.timezone) {
      timeFormat = new Intl.DateTimeFormat(setup.lang, {
        timeZone: state.site.timezone,
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      });
    }
    return timeFormat.format(new Date(iso));
  }

  // -- drawing ---------------------------------------------------------------------------

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text; // text, never markup
    return node;
  }

  const AVATAR_COLOURS = ["#2f5d8a", "#7a3e9d", "#a23b5a", "#2e6f52", "#85570f", "#3d4f9f", "#8c3b2e", "#1f6a73"];

  function avatarColour(key) {
    let sum = 0;
    for (const char of key) sum = (sum * 31 + char.charCodeAt(0)) >>> 0;
    return AVATAR_COLOURS[sum % AVATAR_COLOURS.length];
  }

  function personNode(person) {
    const item = element("li", "person");
    item.dataset.key = person.key;
    const avatar = element("span", "avatar");
    avatar.setAttribute("aria-hidden", "true");
    avatar.style.background = avatarColour(person.key);
    if (person.photo) {
      const img = element("img");
      img.src = person.photo;
      img.alt = "";
      avatar.append(img);
    } else {
      avatar.textContent = person.initials;
    }
    item.append(avatar, element("span", "name", person.name));
    // "ici depuis 09:12": the words go when cards are small, the time stays.
    const [before, after] = strings.here_since.split("{time}");
    const since = element("span", "since");
    since.append(element("span", "since-label", before), timeOfDay(person.since), after);
    item.append(since);
    const details = element("div", "details");
    if (person.working_on) {
      const line = element("p");
      line.append(element("span", "label", label(strings.working_on)), person.working_on);
      details.append(line);
    }
    if (person.chat_about) {
      const line = element("p");
      line.append(element("span", "label", label(strings.chat_about)), person.chat_about);
      details.append(line);
    }
    if (person.skills && person.skills.length) {
      const tags = element("ul", "tags");
      for (const skill of person.skills.slice(0, 4)) tags.append(element("li", "", skill));
      details.append(tags);
    }
    if (details.childNodes.length) item.append(details);
    return item;
  }

  function density(tiles) {
    if (tiles <= 6) return "d-large";
    if (tiles <= 12) return "d-medium";
    if (tiles <= 30) return "d-small";
    return "d-tiny";
  }

  // Whether the cards run past the bottom of the space they have.
  function overflowing(list) {
    const main = list.parentElement;
    return main.scrollHeight > main.clientHeight + 1;
  }

  function drawPeople(previousKeys) {
    const list = document.getElementById("people");
    const people = state.people.slice().sort((a, b) => (a.since < b.since ? 1 : -1)); // newest first
    const keep = new Set(people.map((p) => p.key));

    // Departures fade out where they are, then leave the grid.
    for (const node of list.querySelectorAll(".person:not(.leaving)")) {
      if (keep.has(node.dataset.key)) continue;
      if (reducedMotion.matches) {
        node.remove();
      } else {
        node.classList.add("leaving");
        node.addEventListener("animationend", () => node.remove(), { once: true });
        setTimeout(() => node.remove(), 1000);
      }
    }
    const existing = new Map();
    for (const node of list.querySelectorAll(".person:not(.leaving)")) existing.set(node.dataset.key, node);
    const nodes = people.map((person) => {
      const node = personNode(person);
      if (previousKeys && !previousKeys.has(person.key) && !reducedMotion.matches) node.classList.add("entering");
      const old = existing.get(person.key);
      if (old && old.classList.contains("entering")) node.classList.add("entering");
      return node;
    });
    const leaving = Array.from(list.querySelectorAll(".person.leaving"));
    list.replaceChildren(...nodes, ...leaving);
    list.className = "people " + density(people.length);

    // The hidden people, and any card that does not fit, are a line under the cards:
    // "+3 autres" is then the honest count of whoever the screen does not name.
    const othersLine = document.getElementById("others");
    let shown = nodes.length;
    const drawOthers = () => {
      const others = state.head_count - shown;
      othersLine.hidden = !(others > 0 && shown > 0);
      othersLine.textContent = othersLine.hidden ? "" : counted(strings.others, others);
    };
    drawOthers();
    // The oldest arrivals give way first (the newest are at the top).
    while (shown > 1 && overflowing(list)) {
      nodes[--shown].hidden = true;
      drawOthers();
    }

    const empty = document.getElementById("empty");
    empty.hidden = state.head_count > 0 && people.length > 0;
    empty.replaceChildren();
    if (state.head_count === 0) {
      const [title, hint] = emptyWords();
      empty.append(title);
      if (hint) empty.append(element("small", "", hint));
    } else if (people.length === 0) {
      empty.append(counted(strings.only_hidden, state.head_count));
    }
  }

  // What an empty board says depends on the time of day: the server says which words
  // (`Empty` in server/domain/board.py); the board asks again whenever the last one leaves.
  function emptyWords() {
    const empty = state.empty || { words: "again" }; // until the server's answer
    const at = { time: empty.time };
    switch (empty.words) {
      case "first": return [strings.empty, strings.empty_hint];
      case "opens": return [fill(strings.opens_at, at), ""];
      case "reopens": return [fill(strings.reopens_at, at), ""];
      case "all_gone": return [strings.all_gone, strings.closed_for_today];
      case "closed": return [strings.closed_for_today, ""];
      default: return [strings.empty, ""];
    }
  }

  function drawSkills() {
    const tally = new Map(); // lower-case skill -> {label, n}
    for (const person of state.people) {
      const seen = new Set();
      for (const skill of person.skills || []) {
        const id = skill.trim().toLocaleLowerCase(setup.lang);
        if (!id || seen.has(id)) continue;
        seen.add(id);
        const entry = tally.get(id) || { label: skill.trim(), n: 0 };
        entry.n += 1;
        tally.set(id, entry);
      }
    }
    const top = Array.from(tally.values())
      .sort((a, b) => b.n - a.n || a.label.localeCompare(b.label, setup.lang))
      .slice(0, 4);
    const line = document.getElementById("skills");
    if (!top.length) {
      line.textContent = "";
      return;
    }
    let text = counted(strings.skills_line, top[0].n, { skill: top[0].label });
    if (top.length > 1) text += " · " + fill(strings.skills_more, { skills: top.slice(1).map((s) => s.label).join(", ") });
    line.textContent = text;
  }

  function drawHeader() {
    // The server's `status` (the same answer as SpaceAPI's): open, closed, or closed
    // with people still in.
    const open = document.getElementById("open-state");
    if (state.status === "after_hours") {
      open.textContent = counted(strings.closed_but_here, state.head_count);
    } else {
      open.textContent = state.status === "open" ? strings.open : strings.closed;
    }
    open.className = "open-state is-" + state.status.replace("_", "-");
    const hours = state.hours_today.map(([from, to]) => `${from}–${to}`).join(", ");
    document.getElementById("hours").textContent = hours ? fill(strings.hours, { hours: hours }) : strings.no_hours;
    document.getElementById("head-count").textContent = counted(strings.people_here, state.head_count);
    document.querySelector(".count").hidden = state.head_count === 0; // the empty page says it
    const capacity = document.getElementById("capacity");
    capacity.textContent = state.site.capacity
      ? fill(strings.capacity, { n: state.head_count, capacity: state.site.capacity })
      : "";
  }

  function draw(previousKeys) {
    drawHeader();
    drawPeople(previousKeys);
    drawSkills();
  }

  function tickClock() {
    if (!state) return;
    const now = new Date(Date.now() + clockOffset).toISOString();
    document.getElementById("clock").textContent = timeOfDay(now);
  }

  // -- state and changes -----------------------------------------------------------------

  function setState(fresh) {
    const previousKeys = state ? new Set(state.people.map((p) => p.key)) : null;
    state = fresh;
    clockOffset = Date.parse(fresh.now) - Date.now();
    document.body.dataset.seq = String(state.seq);
    draw(previousKeys);
    tickClock();
    clearTimeout(refreshTimer);
    const wait = Date.parse(fresh.refresh_at) - Date.parse(fresh.now) + 1000;
    refreshTimer = setTimeout(resync, Math.max(1000, Math.min(wait, 2147483647)));
    drainPending();
  }

  function apply(change) {
    const previousKeys = new Set(state.people.map((p) => p.key));
    const wasEmpty = state.head_count === 0;
    const isEmpty = change.head_count === 0;
    state.seq = change.seq;
    state.head_count = change.head_count;
    // The last one out changes what the empty board says; outside the opening hours,
    // the first one in or the last one out changes whether the site is open. The server
    // says both (and says the same to SpaceAPI): ask it again, it happens rarely.
    if (wasEmpty !== isEmpty && (isEmpty || state.status !== "open")) setTimeout(resync, 0);
    const key = change.put ? change.put.key : change.drop;
    if (key) state.people = state.people.filter((p) => p.key !== key);
    if (change.put) state.people.push(change.put);
    document.body.dataset.seq = String(state.seq);
    draw(previousKeys);
  }

  function drainPending() {
    pending.sort((a, b) => a.seq - b.seq);
    while (pending.length && state && pending[0].seq <= state.seq + 1) {
      const change = pending.shift();
      if (change.seq === state.seq + 1) apply(change);
    }
    if (pending.length && !gapTimer) gapTimer = setTimeout(resync, GAP_WAIT_MS);
    if (!pending.length && gapTimer) {
      clearTimeout(gapTimer);
      gapTimer = null;
    }
  }

  function onChange(change) {
    pending.push(change);
    if (state && !syncing) drainPending();
  }

  function resync() {
    clearTimeout(gapTimer);
    gapTimer = null;
    if (syncing || !socket.connected) return;
    syncing = true;
    socket.timeout(10000).emit("sync", null, (error, fresh) => {
      syncing = false;
      if (error || !fresh) {
        gapTimer = setTimeout(resync, 2000);
        return;
      }
      pending = pending.filter((change) => change.seq > fresh.seq);
      setState(fresh);
    });
  }

  // -- connection ------------------------------------------------------------------------

  const banner = document.getElementById("connection");
  function showBanner(text) {
    banner.textContent = text;
    banner.hidden = !text;
  }

  const socket = io("/board", {
    auth: { site: setup.site, token: setup.token },
    transports: ["websocket"], // one long request: no sticky sessions between processes
    reconnectionDelayMax: 5000,
  });
  socket.on("state", (fresh) => {
    pending = pending.filter((change) => change.seq > fresh.seq);
    setState(fresh);
    showBanner("");
  });
  socket.on("change", onChange);
  socket.on("disconnect", (reason) => {
    showBanner(strings.offline);
    if (reason === "io server disconnect") socket.connect(); // the client would wait for us
  });
  socket.on("connect_error", (error) => {
    if (socket.active) {
      showBanner(strings.offline); // the client retries by itself
    } else if (error.message === "busy") {
      showBanner(strings.offline); // the server is busy: again in a moment, not all at once
      setTimeout(() => socket.connect(), 1000 + Math.random() * 4000);
    } else {
      showBanner(strings.refused); // refused by the server: try again in a while
      setTimeout(() => socket.connect(), 60000);
    }
  });

  // -- the strip --------------------------------------------------------------------------

  const STRIP_MS = 5 * 60 * 1000;
  function drawStrip(strip) {
    const events = strip.events.map((e) => e.at + " " + e.title).join(" · ");
    const notices = strip.announcements.map((a) => a.text).join(" · ");
    document.getElementById("strip-events").textContent = events ? label(strings.tonight) + events : "";
    document.getElementById("strip-notices").textContent = notices ? label(strings.notices) + notices : "";
    document.getElementById("strip").hidden = !events && !notices;
  }
  async function refreshStrip() {
    const query = new URLSearchParams(setup.token ? { token: setup.token } : {});
    try {
      const response = await fetch("/board/" + encodeURIComponent(setup.site) + "/strip?" + query);
      if (response.ok) drawStrip(await response.json());
    } catch (error) {
      // offline: the banner says so; the strip stays as it was
    }
  }
  drawStrip(setup.strip);
  setInterval(refreshStrip, STRIP_MS);

  document.getElementById("hint").textContent = strings.tap_hint;
  setState(JSON.parse(document.getElementById("board-state").textContent));
  setInterval(tickClock, 1000);
})();
