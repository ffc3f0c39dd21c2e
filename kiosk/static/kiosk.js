// The kiosk's page: shows what the daemon pushes over Server-Sent Events. A guest checks
// in or out with the "Je suis invité·e" forms, typed on the page's own keyboard; the
// daemon spools them like taps.
//
// Each greeting or error comes with an id (`show_id`) and is shown once: for
// `show_seconds` from the moment this page first saw that id, counted on the page's own
// monotonic clock (performance.now()). A page that comes in while it is up (loaded
// again, reconnected) takes off the age the daemon measured on its monotonic clock
// (`show_age`). Later states with the same id (a status change, the head count, the
// server's answer for the same tap) redraw it but never start its time again, and an id
// whose time is up never comes back. No wall clock is read: an NTP step changes nothing.
"use strict";

(function () {
  let strings = null;
  let plurals = null;
  let showMs = 5000;
  let latest = null; // the state last received
  let timed = { id: null, until: 0 }; // the show this page times, on performance.now()
  let backToIdle = null;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
  }
  function counted(forms, n) {
    return fill(forms[plurals.select(n)] || forms.other, { n: n });
  }
  function text(id, value) {
    document.getElementById(id).textContent = value || "";
  }

  function receive(state) {
    latest = state;
    const id = state.show_id || null;
    if (id !== timed.id) {
      const left = id ? showMs - Math.max(0, (state.show_age || 0) * 1000) : 0;
      timed = { id: id, until: performance.now() + left };
      clearTimeout(backToIdle);
      if (left > 0) backToIdle = setTimeout(expire, left);
    }
    draw(state);
  }
  function expire() {
    const left = timed.until - performance.now();
    if (left > 0) backToIdle = setTimeout(expire, left + 1); // never a moment early
    else draw(latest);
  }
  function showing(state) {
    return Boolean(state.show_id) && state.show_id === timed.id && performance.now() < timed.until;
  }

  function draw(state) {
    const show = state.show || { kind: "idle" };
    const kind = show.kind !== "idle" && showing(state) ? show.kind : "idle";
    const direction = { checked_in: "in", checked_out: "out" }[show.outcome] || show.direction || "";
    const status = state.status || {};
    // The reader unplugged (or not answering): "tap here" would be a lie; say it big.
    const reader = status.reader === false
      ? strings[status.reader_fault === "stuck" ? "reader_stuck" : "reader_gone"]
      : "";
    document.body.dataset.kind = kind;
    document.body.dataset.direction = direction;
    document.body.dataset.reader = reader ? "gone" : "ok";
    document.body.dataset.show = kind === "idle" ? "" : state.show_id;
    if (kind === "greeting") {
      const name = show.name;
      const hello = direction === "out" ? strings.bye : name ? strings.hello : strings.hello_anonymous;
      text("headline", fill(hello, { name: name }));
      text("detail", show.message ? strings[show.message] : "");
    } else if (kind === "error") {
      text("headline", strings[show.message] || show.message);
      // A tap the spool could not keep: say why under "not recorded".
      const spool = show.message === "spool_failed" && status.spool;
      text("detail", spool ? strings["spool_" + spool] : "");
    } else {
      text("headline", reader || strings.idle);
      text("detail", "");
    }
    text("count", state.head_count == null ? "" : counted(strings.people_here, state.head_count));
    const alert = document.getElementById("alert");
    alert.textContent = kind === "idle" ? "" : reader; // idle: the headline says it
    alert.hidden = !alert.textContent;

    const marker = document.getElementById("marker");
    let note = "";
    if (status.token_refused) note = fill(strings.token_refused, { n: status.pending });
    else if (status.online === false) note = counted(strings.offline, status.pending);
    if (status.spool) { // the spool cannot keep taps: the staff must know
      note = fill(strings.spool_trouble, { problem: strings["spool_" + status.spool] });
    }
    marker.textContent = note;
    marker.hidden = !note;
  }

  // -- guests ------------------------------------------------------------------------
  const IDLE_MS = 60000; // an abandoned form closes by itself
  const panel = document.getElementById("guest");
  const form = document.getElementById("guest-form");
  const departures = document.getElementById("guest-departures");
  const choices = document.getElementById("guest-choices");
  let hosts = [];
  let host = null; // the chosen host's id, or null: nobody in particular
  let eventId = null; // the event a walk-in comes for, or null: a guest
  let idle = null;

  function folded(value) {
    return value.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  function keepOpen() {
    clearTimeout(idle);
    idle = setTimeout(closeGuest, IDLE_MS);
  }
  function show(part) {
    for (const element of [choices, form, departures]) element.hidden = element !== part;
    if (part !== form) closeKeyboard();
    keepOpen();
  }
  function closeGuest() {
    clearTimeout(idle);
    closeKeyboard();
    panel.hidden = true;
    form.reset();
    host = null;
    eventId = null;
    text("guest-error", "");
  }
  function option(label, chosen, onPick) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label; // never markup: names are whatever people typed
    button.setAttribute("aria-pressed", chosen ? "true" : "false");
    button.addEventListener("click", onPick);
    item.append(button);
    return item;
  }
  function drawHosts() {
    const wanted = folded(document.getElementById("guest-host-search").value.trim());
    const list = document.getElementById("guest-hosts");
    const matching = hosts.filter((h) => !wanted || folded(h.name).includes(wanted));
    const items = matching.slice(0, 6).map((h) =>
      option(h.name, host === h.id, () => {
        host = h.id;
        document.getElementById("guest-host-search").value = h.name;
        drawHosts();
      }),
    );
    items.push(option(strings.guest_no_host, host === null, () => {
      host = null;
      document.getElementById("guest-host-search").value = "";
      drawHosts();
    }));
    list.replaceChildren(...items);
    keepOpen();
  }
  async function arriving() {
    eventId = null;
    document.getElementById("guest-host-part").hidden = false;
    show(form);
    hosts = (await (await fetch("/hosts")).json()).hosts;
    drawHosts();
    document.getElementById("guest-name").focus();
  }
  function walkingIn(chosen) {
    eventId = chosen.id;
    document.getElementById("guest-host-part").hidden = true; // no host for an event
    show(form);
    document.getElementById("guest-name").focus();
  }
  async function drawWalkIns() {
    const today = (await (await fetch("/today")).json()).events;
    document.getElementById("walk-ins").replaceChildren(...today.map((chosen) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = fill(strings.walk_in, { title: chosen.title });
      button.addEventListener("click", () => walkingIn(chosen));
      return button;
    }));
  }
  async function leaving() {
    show(departures);
    const here = (await (await fetch("/guests")).json()).guests;
    const list = document.getElementById("guest-here");
    list.replaceChildren(...here.map((guest) =>
      option(guest.name, false, async () => {
        await post("/guest/leaving", { arrival: guest.arrival });
      }),
    ));
    text("guest-pick", here.length ? strings.guest_pick : strings.guest_none_here);
  }
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (response.ok) {
      closeGuest(); // the greeting comes over the events, like a badge's
      return;
    }
    const answer = await response.json().catch(() => ({}));
    const key = "guest_error_" + answer.reason;
    text("guest-error", strings[key] || strings.guest_error_other);
    keepOpen();
  }

  function setUpGuests() {
    const labels = {
      "guest-open": "guest_button", "guest-title": "guest_button",
      "guest-arriving": "guest_arriving", "guest-leaving": "guest_leaving",
      "guest-name-label": "guest_name", "guest-email-label": "guest_email",
      "guest-host-label": "guest_host", "guest-submit": "guest_submit",
    };
    for (const [id, key] of Object.entries(labels)) text(id, strings[key]);
    for (const cancel of document.querySelectorAll(".guest-cancel")) {
      cancel.textContent = strings.guest_cancel;
      cancel.addEventListener("click", closeGuest);
    }
    document.getElementById("guest-open").addEventListener("click", () => {
      panel.hidden = false;
      show(choices);
      drawWalkIns();
    });
    document.getElementById("guest-arriving").addEventListener("click", arriving);
    document.getElementById("guest-leaving").addEventListener("click", leaving);
    document.getElementById("guest-host-search").addEventListener("input", () => {
      host = null;
      drawHosts();
    });
    form.addEventListener("input", keepOpen);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = document.getElementById("guest-name").value.trim();
      if (!name) {
        text("guest-error", strings.guest_error_name);
        return;
      }
      const email = document.getElementById("guest-email").value.trim() || null;
      if (eventId !== null) await post("/walk-in", { name: name, email: email, event: eventId });
      else await post("/guest", { name: name, email: email, host: host });
    });
    setUpKeyboard();
  }

  // -- the on-screen keyboard ----------------------------------------------------------
  // French AZERTY for the forms' text fields, on a touchscreen that has no other: the
  // accents of French names, what names and e-mail addresses need. A key types into the
  // field being filled, at its caret; the keys never take the focus from it.
  const BACK = "backspace";
  const SHIFT = "shift";
  const SPACE = "space";
  const NEXT = "next";
  const ROWS = [
    ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", BACK],
    ["a", "z", "e", "r", "t", "y", "u", "i", "o", "p"],
    ["q", "s", "d", "f", "g", "h", "j", "k", "l", "m"],
    [SHIFT, "w", "x", "c", "v", "b", "n", "'", "-", "_"],
    ["é", "è", "ê", "à", "ç", "ù", "ë", "ï", "ô", "â"],
    ["@", ".", SPACE, NEXT],
  ];
  const keyboard = document.getElementById("keyboard");
  let field = null; // the text field the keys type into
  let capital = false; // the next letter only, as on a phone

  function fields() {
    return [...form.querySelectorAll("input")].filter((input) => !input.closest("[hidden]"));
  }
  function openKeyboard(input) {
    field = input;
    keyboard.hidden = false;
    labelKeys();
    input.scrollIntoView({ block: "nearest" });
  }
  function closeKeyboard() {
    keyboard.hidden = true;
    field = null;
    capital = false;
  }
  function labelKeys() {
    const all = fields();
    const last = all.indexOf(field) === all.length - 1;
    for (const button of keyboard.querySelectorAll("button")) {
      const key = button.dataset.key;
      if (key) button.textContent = capital ? key.toUpperCase() : key;
    }
    const shift = keyboard.querySelector(".key-shift");
    shift.setAttribute("aria-pressed", capital ? "true" : "false");
    keyboard.querySelector(".key-next").textContent = last ? strings.key_done : strings.key_next;
  }
  function type(value) {
    const start = field.selectionStart ?? field.value.length;
    const end = field.selectionEnd ?? start;
    if (value === null) { // backspace: the selection, else the character before the caret
      if (start === end && start === 0) return;
      field.setRangeText("", start === end ? start - 1 : start, end, "end");
    } else {
      const room = field.maxLength < 0 ? Infinity : field.maxLength;
      if (field.value.length - (end - start) + value.length > room) return;
      field.setRangeText(value, start, end, "end");
    }
    field.dispatchEvent(new Event("input", { bubbles: true })); // the host list follows
  }
  function next() {
    const all = fields();
    const at = all.indexOf(field);
    if (at < 0 || at === all.length - 1) {
      form.requestSubmit();
      return;
    }
    const to = all[at + 1];
    to.focus(); // opens the keyboard on it
    to.setSelectionRange(to.value.length, to.value.length);
  }
  function press(key) {
    if (!field) return;
    keepOpen();
    field.focus();
    if (key === SHIFT) {
      capital = !capital;
    } else if (key === NEXT) {
      next();
      return;
    } else if (key === BACK) {
      type(null);
    } else if (key === SPACE) {
      type(" ");
    } else {
      type(capital ? key.toUpperCase() : key);
      capital = false;
    }
    labelKeys();
  }
  function setUpKeyboard() {
    keyboard.setAttribute("aria-label", strings.keyboard);
    for (const row of ROWS) {
      const line = document.createElement("div");
      line.className = "keys";
      for (const key of row) {
        const button = document.createElement("button");
        button.type = "button";
        if (key.length === 1) {
          button.dataset.key = key;
        } else {
          button.className = "key-" + key;
          const label = { backspace: "⌫", shift: "⇧", space: strings.key_space }[key];
          if (label) button.textContent = label;
          if (key !== SPACE && key !== NEXT) button.setAttribute("aria-label", strings["key_" + key]);
        }
        button.addEventListener("click", () => press(key));
        line.append(button);
      }
      keyboard.append(line);
    }
    // A key pressed must not take the focus: the field keeps it, and its caret.
    keyboard.addEventListener("mousedown", (event) => event.preventDefault());
    form.addEventListener("focusin", (event) => {
      if (event.target instanceof HTMLInputElement) openKeyboard(event.target);
    });
  }

  fetch("/state")
    .then((response) => response.json())
    .then((initial) => {
      strings = initial.strings;
      showMs = (initial.show_seconds ?? 5) * 1000;
      document.documentElement.lang = initial.lang;
      plurals = new Intl.PluralRules(initial.lang);
      setUpGuests();
      receive(initial.state);
      const events = new EventSource("/events"); // reconnects by itself
      events.onmessage = (event) => receive(JSON.parse(event.data));
    });
})();
