// Small improvements to every staff, member and public page; each page works without it.
// - The staff menu (a <details> served open) folds into its "Menu" button on a narrow
//   screen, and opens again when the screen is wide enough to show it whole.
// - A table too wide for its box scrolls inside it (.table-scroll, added by the server):
//   such a box becomes a named, focusable region so it can be scrolled from the keyboard.
// - A button with data-copies="id" copies that element's text (shown only where the
//   browser lets a page write to the clipboard: https or localhost).
// - A form with data-confirm asks before it is sent (a purchase, say).
"use strict";

(function () {
  function foldMenus() {
    document.querySelectorAll("details[data-fold-below]").forEach(function (menu) {
      // The very complement of presence.css's (min-width: ...): no width is both.
      const narrow = window.matchMedia("not all and (min-width: " + menu.dataset.foldBelow + ")");
      const follow = function () { menu.open = !narrow.matches; };
      follow();
      narrow.addEventListener("change", follow);
    });
  }

  function scrollBoxes() {
    document.querySelectorAll(".table-scroll").forEach(function (box) {
      const table = box.querySelector("table");
      const overflows = box.scrollWidth > box.clientWidth + 1;
      if (overflows && !box.hasAttribute("tabindex")) {
        const caption = table && table.querySelector("caption");
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", caption ? caption.textContent.trim() : document.title);
      } else if (!overflows && box.getAttribute("tabindex") === "0") {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
      }
    });
  }

  function copyButtons() {
    document.querySelectorAll("[data-copies]").forEach(function (button) {
      const source = document.getElementById(button.dataset.copies);
      if (!source || !navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(source.textContent.trim()).then(
          function () { button.textContent = button.dataset.done; },
          function () { window.getSelection().selectAllChildren(source); }
        );
      });
    });
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }

  function ready() {
    foldMenus();
    scrollBoxes();
    copyButtons();
    confirmations();
    let pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(scrollBoxes, 150);
    });
    // The dashboard swaps server-rendered parts in: their tables need the same care.
    new MutationObserver(function () { scrollBoxes(); }).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
