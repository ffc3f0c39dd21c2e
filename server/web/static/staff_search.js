// The members list, searched as one types: a pause of 200 ms in the search box (or a
// filter changed) fetches the page's results alone (?part=results), swaps them in, says
// the count in the status line and puts the search in the address (so Back and a
// reload show the same list). Without JavaScript, the form's button does the same.
"use strict";

(function () {
  const form = document.querySelector("form[data-search-results]");
  const results = form && document.getElementById(form.dataset.searchResults);
  const count = document.getElementById("results-count");
  if (!form || !results || !count) return;

  const PAUSE_MS = 200;
  let timer = null;
  let asked = 0; // the latest request: an older answer arriving late is dropped

  function query() {
    const params = new URLSearchParams(new FormData(form));
    for (const [name, value] of Array.from(params)) if (!value) params.delete(name);
    return params;
  }

  async function search() {
    const params = query();
    const mine = ++asked;
    const shown = params.toString();
    params.set("part", "results");
    try {
      const response = await fetch(results.dataset.fragment + "?" + params, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (mine !== asked || !response.ok || response.redirected) {
        if (response.redirected) window.location.reload(); // the session ended
        return;
      }
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      results.replaceChildren(...Array.from(fresh.body.childNodes, (node) => document.adoptNode(node)));
      const table = results.querySelector("[data-said]");
      if (table) count.textContent = table.dataset.said;
      history.replaceState(null, "", window.location.pathname + (shown ? "?" + shown : ""));
    } catch (error) {
      // The network is down: the form's button still submits the plain way.
    }
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(search, PAUSE_MS);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", later);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    search();
  });
})();
