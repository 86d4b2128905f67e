// The jobs' progress bars (fleet/admin.py), updated every two seconds from the admin's progress view until every
// job shown has ended: on the job list (<admin>/fleet/job/) and on a job's page (<admin>/fleet/job/<id>/change/).
"use strict";
(function () {
  const DELAY = 2000;

  function unfinished() {
    return Array.from(document.querySelectorAll(".job-progress[data-finished='false']"));
  }

  function progressUrl() {
    const path = window.location.pathname;
    return path.slice(0, path.indexOf("/fleet/job/") + "/fleet/job/".length) + "progress/";
  }

  function refresh() {
    const bars = unfinished();
    if (!bars.length) return;
    const query = bars.map((bar) => "id=" + encodeURIComponent(bar.dataset.job)).join("&");
    fetch(progressUrl() + "?" + query, {credentials: "same-origin"})
      .then((response) => (response.ok ? response.json() : {}))
      .then((jobs) => {
        for (const bar of bars) {
          const job = jobs[bar.dataset.job];
          if (!job) continue;
          bar.querySelector("progress").value = job.percent;
          bar.querySelector(".job-progress-text").textContent = job.text;
          bar.dataset.finished = job.finished ? "true" : "false";
        }
      })
      .catch(() => {})
      .finally(() => {
        if (unfinished().length) window.setTimeout(refresh, DELAY);
      });
  }

  document.addEventListener("DOMContentLoaded", () => window.setTimeout(refresh, DELAY));
})();
