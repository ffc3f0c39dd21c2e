// The staff dashboard, kept current: the `/staff` socket only says that something
// changed ({what: [...]}, no data); the page then fetches its server-rendered fragment
// (/staff/live) and swaps each part in. A burst of changes makes one fetch. A part
// someone is using (focus inside, or a form field changed) is left alone until they are
// done. A kiosk going down sends nothing, so the page also refreshes after a minute
// without news. Without JavaScript, the page is simply the page as it was served.
"use strict";

(function () {
  const container = document.getElementById("live");
  const status = document.getElementById("live-status");
  if (!container || !status || typeof io !== "function") return;

  const SETTLE_MS = 500; // a burst of taps: one fetch
  const IDLE_MS = 60000; // a refresh at least this often: "down" is an absence of news

  let timer = null;
  let idleTimer = null;
  let fetching = false;
  let again = false; // a change arrived during a fetch
  let stale = false; // a part was left alone because it was in use
  let ended = false;

  function say(which) {
    const text = status.dataset[which];
    status.hidden = false;
    if (status.textContent !== text) status.textContent = text; // announced only when it changes
  }

  function changed(field) {
    if (field.tagName === "SELECT") {
      const initial = Array.from(field.options).findIndex((option) => option.defaultSelected);
      return field.selectedIndex !== Math.max(initial, 0);
    }
    if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
    return field.value !== field.defaultValue;
  }

  function inUse(part) {
    if (part.contains(document.activeElement)) return true;
    const fields = part.querySelectorAll("select, textarea, input:not([type=hidden])");
    return Array.from(fields).some(changed);
  }

  function swap(html) {
    const fresh = new DOMParser().parseFromString(html, "text/html"); // parsed, never run
    stale = false;
    for (const part of fresh.querySelectorAll("[data-live-part]")) {
      const current = document.getElementById(part.id);
      if (!current) continue;
      if (inUse(current)) {
        stale = true;
      } else {
        current.replaceWith(document.adoptNode(part));
      }
    }
  }

  function stop() {
    ended = true;
    clearTimeout(timer);
    clearTimeout(idleTimer);
    socket.disconnect();
    say("ended");
  }

  async function refresh() {
    timer = null;
    if (ended) return;
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    try {
      const response = await fetch(container.dataset.fragment, { cache: "no-store", credentials: "same-origin" });
      if (response.redirected) {
        stop(); // the session ended: the login page answered instead
        return;
      }
      if (response.ok) swap(await response.text());
    } catch (error) {
      // The network is down: the socket says so, and the next change or minute tries again.
    } finally {
      fetching = false;
      if (!ended) {
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => schedule(0), IDLE_MS);
        if (again) {
          again = false;
          schedule(SETTLE_MS);
        }
      }
    }
  }

  function schedule(delay) {
    if (timer === null) timer = setTimeout(refresh, delay);
  }

  // A part left alone while in use is brought up to date once the form is let go.
  document.addEventListener("focusout", () => {
    if (stale) schedule(SETTLE_MS);
  });

  const socket = io("/staff", {
    transports: ["websocket"], // one long request: no sticky sessions between processes
    reconnectionDelayMax: 5000,
  });
  socket.on("changed", () => schedule(SETTLE_MS));
  socket.on("connect", () => {
    say("live");
    schedule(0); // whatever changed while the page loaded or the socket was away
  });
  socket.on("disconnect", (reason) => {
    if (ended) return;
    say("offline");
    if (reason === "io server disconnect") socket.connect(); // the client would wait for us
  });
  socket.on("connect_error", () => {
    if (socket.active) say("offline"); // the client retries by itself
    else stop(); // refused: no staff session any more
  });
  idleTimer = setTimeout(() => schedule(0), IDLE_MS);
})();
