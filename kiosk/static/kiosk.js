// The kiosk's page: shows what the daemon pushes over Server-Sent Events. A greeting or
// an error stays five seconds, then the screen invites the next person to tap.
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
    const direction = { checked_in: "in", checked_out: "out" }[show.outcome] || "";
    document.body.dataset.kind = kind;
    document.body.dataset.direction = direction;
    if (kind === "greeting") {
      const name = show.name;
      const hello = direction === "out" ? strings.bye : name ? strings.hello : strings.hello_anonymous;
      text("headline", fill(hello, { name: name }));
      text("detail", show.message ? strings[show.message] : "");
    } else if (kind === "error") {
      text("headline", strings[show.message] || show.message);
      text("detail", "");
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
    if (!status.reader) note = strings.reader_gone;
    marker.textContent = note;
    marker.hidden = !note;

    clearTimeout(backToIdle);
    if (kind !== "idle") backToIdle = setTimeout(() => draw(state), SHOW_MS - age + 50);
  }

  fetch("/state")
    .then((response) => response.json())
    .then((initial) => {
      strings = initial.strings;
      document.documentElement.lang = initial.lang;
      plurals = new Intl.PluralRules(initial.lang);
      draw(initial.state);
      const events = new EventSource("/events"); // reconnects by itself
      events.onmessage = (event) => draw(JSON.parse(event.data));
    });
})();
