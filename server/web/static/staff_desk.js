// The desk search on the dashboard: a pause of 200 ms in the box fetches the matches
// (/staff/desk?find=...), the first is chosen (the arrow keys choose another), and Enter
// sends the chosen member's check-in or check-out form; the answer is said in the live
// region and the box is emptied for the next person. Without JavaScript, the box's form
// lists the matches, each with its own button.
"use strict";

(function () {
  const form = document.getElementById("desk");
  const box = document.getElementById("find");
  const results = document.getElementById("desk-results");
  const said = document.getElementById("desk-said");
  if (!form || !box || !results || !said) return;

  const PAUSE_MS = 200;
  let timer = null;
  let asked = 0; // the latest request: an older answer arriving late is dropped
  let pending = null; // the fetch under way, awaited by an Enter typed meanwhile

  function say(text) {
    said.textContent = "";
    said.textContent = text; // emptied first, so the same words are said again
  }

  function items() {
    return Array.from(results.querySelectorAll("li[data-name]"));
  }

  function choose(index) {
    const all = items();
    all.forEach((item, at) => item.toggleAttribute("data-chosen", at === index));
    const item = all[index];
    if (item) say(`${item.dataset.name} : ${item.dataset.action}`);
  }

  function chosen() {
    return results.querySelector("li[data-chosen]");
  }

  async function search() {
    timer = null;
    const mine = ++asked;
    const params = new URLSearchParams({ find: box.value.trim() });
    const site = form.elements.namedItem("site");
    if (site && site.value) params.set("site", site.value);
    try {
      const response = await fetch(form.dataset.matches + "?" + params, { credentials: "same-origin" });
      if (mine !== asked || !response.ok) return;
      if (response.redirected) {
        window.location.reload(); // the session ended
        return;
      }
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      results.replaceChildren(...Array.from(fresh.body.childNodes, (node) => document.adoptNode(node)));
      const list = results.querySelector("ul");
      if (items().length) choose(0);
      else if (list) say(list.dataset.said);
    } catch (error) {
      // The network is down: the form's button still submits the plain way.
    }
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(() => (pending = search()), PAUSE_MS);
  }

  async function send(item) {
    const target = item.querySelector("form");
    const response = await fetch(target.action, {
      method: "POST",
      body: new FormData(target),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (response.redirected || !(response.headers.get("Content-Type") || "").includes("json")) {
      window.location.reload(); // the session or its form expired: the page says why
      return;
    }
    const answer = await response.json();
    say(answer.warning ? `${answer.said} ${answer.warning}` : answer.said);
    box.value = "";
    results.replaceChildren();
    box.focus();
  }

  box.addEventListener("input", later);
  box.addEventListener("keydown", async (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const all = items();
      if (!all.length) return;
      event.preventDefault();
      const now = all.indexOf(chosen());
      const step = event.key === "ArrowDown" ? 1 : -1;
      choose((now + step + all.length) % all.length);
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (timer !== null) {
        // Typed faster than the pause: search now, then act on what it found.
        clearTimeout(timer);
        pending = search();
      }
      if (pending) await pending;
      const item = chosen();
      if (item) send(item);
    }
  });
})();
