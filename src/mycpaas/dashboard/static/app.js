// Progressive enhancement for the dashboard: copy buttons, show/hide for secrets, confirmations, and the
// set-up code taken from the link's #fragment. Every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-copy], [data-toggle]")) button.hidden = false;

  document.addEventListener("click", async (event) => {
    const copy = event.target.closest("[data-copy]");
    if (copy) {
      const source = document.getElementById(copy.dataset.copy);
      const text = "value" in source ? source.value : source.textContent.trim();
      try {
        await navigator.clipboard.writeText(text);
        flash(copy, "Copied");
      } catch {
        flash(copy, "Copy failed");
      }
      return;
    }
    const toggle = event.target.closest("[data-toggle]");
    if (toggle) {
      const field = document.getElementById(toggle.dataset.toggle);
      const showing = field.type === "text";
      field.type = showing ? "password" : "text";
      toggle.textContent = showing ? "Show" : "Hide";
      return;
    }
    const confirmer = event.target.closest("[data-confirm]");
    if (confirmer && !window.confirm(confirmer.dataset.confirm)) event.preventDefault();
  });

  // The set-up link carries its code after "#", which browsers never send to a server or put in a log.
  const fromFragment = document.querySelector("[data-from-fragment]");
  if (fromFragment && location.hash) {
    const params = new URLSearchParams(location.hash.slice(1));
    const value = params.get(fromFragment.dataset.fromFragment);
    if (value) fromFragment.value = value;
    history.replaceState(null, "", location.pathname);
  }
});

function flash(button, text) {
  const original = button.dataset.label || button.textContent;
  button.dataset.label = original;
  button.textContent = text;
  setTimeout(() => { button.textContent = original; }, 1500);
}
