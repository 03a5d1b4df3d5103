// Progressive enhancement for the dashboard: copy buttons, show/hide for secrets, confirmations, the
// set-up code taken from the link's #fragment, the send form's segment counter, and pages that follow
// changes (dashboard/live.py). Every page works without this file.
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

  const live = document.getElementById("live");
  if (live && live.dataset.live) follow(live.dataset.live);

  // The send form's body: how many segments it will cost, counted as the server will count it.
  const body = document.querySelector("[data-segment-rules]");
  if (body) {
    const output = document.getElementById(body.getAttribute("aria-describedby"));
    const rules = JSON.parse(body.dataset.segmentRules);
    const show = () => { output.textContent = describeSegments(countSegments(submitted(body.value), rules)); };
    body.addEventListener("input", show);
    show();
    output.hidden = false;
  }
});

// A live page asks its own address again with ?live=<the mark it was drawn with>: 204 while nothing changed,
// else the page as it is now, whose [data-live-part] elements replace this one's (by id). Every 2 s after a
// change, slowing to every 10 s while nothing changes; not while the tab is hidden. A response without the
// mark (signed out, an error page) or a failed request stops it: reloading the page starts again.
const LIVE_FIRST_MS = 2000;
const LIVE_SLOWEST_MS = 10000;

function follow(mark) {
  let wait = LIVE_FIRST_MS;
  const poll = async () => {
    if (!document.hidden) {
      const url = new URL(location.href);
      url.searchParams.delete("notice");
      url.searchParams.set("live", mark);
      let response;
      try {
        response = await fetch(url, { credentials: "same-origin", redirect: "manual" });
      } catch {
        return;
      }
      if (response.status === 204) {
        wait = Math.min(wait * 1.5, LIVE_SLOWEST_MS);
      } else if (response.status === 200) {
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        const next = fresh.getElementById("live");
        if (!next || !next.dataset.live) return;
        swapParts(fresh);
        mark = next.dataset.live;
        wait = LIVE_FIRST_MS;
      } else {
        return;
      }
    }
    setTimeout(poll, wait);
  };
  setTimeout(poll, wait);
}

function swapParts(fresh) {
  for (const part of document.querySelectorAll("[data-live-part]")) {
    const replacement = fresh.getElementById(part.id);
    if (replacement) part.replaceWith(document.adoptNode(replacement));
    else part.remove();
  }
  for (const button of document.querySelectorAll("[data-copy], [data-toggle]")) button.hidden = false;
}

// A textarea's line breaks are sent as CR LF, two characters each: count what the server will receive.
function submitted(text) {
  return text.replace(/\r\n|\r|\n/g, "\r\n");
}

// domain/segments.py's rule, with its alphabets and limits from the page (`rules`): GSM-7 when every character
// is in its tables (an extension character costs two septets), else UCS-2 (a character beyond U+FFFF costs two
// code units); one segment up to 160 (70) units, else parts of 153 (67), a two-unit character never split.
function countSegments(text, rules) {
  const characters = Array.from(text);
  const gsm7 = new Set(rules.gsm7);
  const extension = new Set(rules.extension);
  const isGsm7 = characters.every((c) => gsm7.has(c) || extension.has(c));
  const cost = isGsm7 ? (c) => (extension.has(c) ? 2 : 1) : (c) => (c.codePointAt(0) > 0xffff ? 2 : 1);
  const single = isGsm7 ? rules.gsm7Single : rules.ucs2Single;
  const perPart = isGsm7 ? rules.gsm7Part : rules.ucs2Part;
  const units = characters.reduce((sum, c) => sum + cost(c), 0);
  let parts = 1;
  if (units > single) {
    parts = 0;
    let used = 0;
    for (const c of characters) {
      if (used + cost(c) > perPart) { parts += 1; used = 0; }
      used += cost(c);
    }
    if (used > 0) parts += 1;
  }
  return { encoding: isGsm7 ? "GSM-7" : "UCS-2", units, parts, capacity: parts === 1 ? single : parts * perPart };
}

function describeSegments({ encoding, units, parts, capacity }) {
  return `${parts} segment${parts === 1 ? "" : "s"} · ${encoding} · ${units} of ${capacity} characters`;
}

function flash(button, text) {
  const original = button.dataset.label || button.textContent;
  button.dataset.label = original;
  button.textContent = text;
  setTimeout(() => { button.textContent = original; }, 1500);
}
