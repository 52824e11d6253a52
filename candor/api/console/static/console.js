// Progressive touches: live generation progress, and a note while a synchronous scan runs.
"use strict";

function pollProgress(panel) {
  const bar = document.getElementById("progress");
  const text = document.getElementById("status-text");
  const error = document.getElementById("status-error");
  const tick = async () => {
    try {
      const response = await fetch(panel.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) throw new Error(`status ${response.status}`);
      const job = await response.json();
      bar.value = job.progress;
      bar.textContent = `${Math.round(job.progress * 100)}%`;
      text.textContent = job.status === "running" ? `running, ${Math.round(job.progress * 100)}%` : job.status;
      if (job.error) error.textContent = job.error;
      // Reload without the query string: its one-off notice ("generation queued") is stale by now.
      if (job.status === "succeeded") { window.location.replace(window.location.pathname); return; }
      if (job.status === "queued" || job.status === "running") setTimeout(tick, 1000);
    } catch (err) {
      error.textContent = `Could not read progress (${err.message}); retrying.`;
      setTimeout(tick, 3000);
    }
  };
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
  // A one-off notice rides in ?flash=; drop it from the address so a reload does not show it again.
  const url = new URL(window.location.href);
  if (url.searchParams.has("flash")) {
    url.searchParams.delete("flash");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  const panel = document.getElementById("progress-panel");
  if (panel && (panel.dataset.status === "queued" || panel.dataset.status === "running")) pollProgress(panel);
  for (const scan of document.querySelectorAll("form.scan-form")) {
    scan.addEventListener("submit", () => {
      document.getElementById("scan-wait").textContent = "Scanning: this takes a few seconds per second of video…";
    });
  }
});
