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
      if (job.status === "succeeded") { window.location.reload(); return; }
      if (job.status === "queued" || job.status === "running") setTimeout(tick, 1000);
    } catch (err) {
      error.textContent = `Could not read progress (${err.message}); retrying.`;
      setTimeout(tick, 3000);
    }
  };
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
  const panel = document.getElementById("progress-panel");
  if (panel && (panel.dataset.status === "queued" || panel.dataset.status === "running")) pollProgress(panel);
  const scan = document.getElementById("scan-form");
  if (scan) scan.addEventListener("submit", () => {
    document.getElementById("scan-wait").textContent = "Scanning: this takes a few seconds per second of video…";
  });
});
