// The kiosk's page: shows what the daemon pushes over Server-Sent Events. A greeting or
// an error stays five seconds, then the screen invites the next person to tap. A guest
// checks in or out with the "Je suis invité·e" forms; the daemon spools them like taps.
"use strict";

(function () {
  const SHOW_MS = 5000;
  let strings = null;
  let plurals = null;
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

  function draw(state) {
    const show = state.show || { kind: "idle" };
    const age = Date.now() - state.at * 1000;
    const kind = show.kind !== "idle" && age < SHOW_MS ? show.kind : "idle";
    const direction = { checked_in: "in", checked_out: "out" }[show.outcome] || show.direction || "";
    document.body.dataset.kind = kind;
    document.body.dataset.direction = direction;
    if (kind === "greeting") {
      const name = show.name;
      const hello = direction === "out" ? strings.bye : name ? strings.hello : strings.hello_anonymous;
      text("headline", fill(hello, { name: name }));
      text("detail", show.message ? strings[show.message] : "");
    } else if (kind === "error") {
      text("headline", strings[show.message] || show.message);
      // A tap the spool could not keep: say why under "not recorded".
      const spool = show.message === "spool_failed" && state.status && state.status.spool;
      text("detail", spool ? strings["spool_" + spool] : "");
    } else {
      text("headline", strings.idle);
      text("detail", "");
    }
    text("count", state.head_count == null ? "" : counted(strings.people_here, state.head_count));

    const status = state.status || {};
    const marker = document.getElementById("marker");
    let note = "";
    if (status.token_refused) note = fill(strings.token_refused, { n: status.pending });
    else if (status.online === false) note = counted(strings.offline, status.pending);
    if (status.spool) { // the spool cannot keep taps: the staff must know
      note = fill(strings.spool_trouble, { problem: strings["spool_" + status.spool] });
    }
    if (!status.reader) note = strings.reader_gone;
    marker.textContent = note;
    marker.hidden = !note;

    clearTimeout(backToIdle);
    if (kind !== "idle") backToIdle = setTimeout(() => draw(state), SHOW_MS - age + 50);
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
    keepOpen();
  }
  function closeGuest() {
    clearTimeout(idle);
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
  }

  fetch("/state")
    .then((response) => response.json())
    .then((initial) => {
      strings = initial.strings;
      document.documentElement.lang = initial.lang;
      plurals = new Intl.PluralRules(initial.lang);
      setUpGuests();
      draw(initial.state);
      const events = new EventSource("/events"); // reconnects by itself
      events.onmessage = (event) => draw(JSON.parse(event.data));
    });
})();
