// A member's pages: the QR badge full screen (a modal dialog: focus moves into it, Escape
// or a tap closes it, focus comes back to the button), the confirmation after a form
// brought to the eye, and a copy button for the signing key.
(function () {
  "use strict";

  for (const opener of document.querySelectorAll("[data-opens]")) {
    const dialog = document.getElementById(opener.dataset.opens);
    if (!dialog || typeof dialog.showModal !== "function") continue;
    opener.addEventListener("click", () => {
      const image = dialog.querySelector("img[data-src]");
      if (image && !image.getAttribute("src")) image.src = image.dataset.src;
      dialog.showModal();
    });
    // A tap anywhere on the full-screen code closes it (the Close button too).
    dialog.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => opener.focus());
  }

  // After a form: the page opens at its section (the address's #anchor); the
  // confirmation there takes the focus, so that screen readers say it.
  // Once the page has loaded and scrolled to its anchor (which would take the focus back).
  const flash = document.querySelector("[data-flash]");
  if (flash) {
    window.addEventListener("load", () => requestAnimationFrame(() => flash.focus()));
  }

  // Copy buttons (data-copies) are presence.js's, on every page.
})();
