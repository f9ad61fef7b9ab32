// GpuRunner core pages: progressive enhancement only. Every form works without this script; the server enforces
// every rule (owner only, CSRF, the stage machine) whatever the browser sends.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Ask before actions that stop or move a Space (pause, hardware change).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  }
  // One click, one request: disable the buttons of a form once it is really submitted.
  document.addEventListener("submit", (e) => {
    if (e.defaultPrevented) return;
    for (const b of e.target.querySelectorAll("button[type=submit]")) {
      setTimeout(() => { b.disabled = true; }, 0);
    }
  });
  // The hardware table highlights the chosen row.
  const hw = document.getElementById("hardware-form");
  if (hw) {
    hw.addEventListener("change", (e) => {
      if (e.target.name !== "flavor") return;
      for (const tr of hw.querySelectorAll("tbody tr")) tr.classList.toggle("selected", tr.contains(e.target));
    });
  }
  // Choosing a month shows it at once.
  const period = document.getElementById("period");
  if (period) period.addEventListener("change", () => { if (period.value) period.form.submit(); });
});
