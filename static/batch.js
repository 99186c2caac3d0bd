// Batch page: the run button. POSTs /api/batch/run with the admin token
// the user types (kept in this tab's sessionStorage only), then watches
// the page until the run has ended and reloads it to show the report.
"use strict";

(function () {
  const form = document.getElementById("batch-run-form");
  if (!form) return;
  const tokenInput = document.getElementById("batch-token");
  const button = document.getElementById("batch-run-button");
  const message = document.getElementById("batch-run-message");
  const saved = sessionStorage.getItem("smokewatch-admin-token");
  if (saved) tokenInput.value = saved;

  function say(text, bad) {
    message.textContent = text;
    message.classList.toggle("bad", !!bad);
  }

  // The run has ended once the page lists it with a final status.
  function waitFor(runId) {
    const pattern = 'data-run="' + runId + '" data-status="';
    const poll = function () {
      fetch("/batch", { cache: "no-store" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          const at = html.indexOf(pattern);
          const status = at < 0 ? "" : html.slice(at + pattern.length).split('"')[0];
          if (status === "success" || status === "failed") {
            window.location.reload();
          } else {
            setTimeout(poll, 1000);
          }
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    poll();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const token = tokenInput.value.trim();
    if (!token) {
      say("Enter the admin token (web.admin_token).", true);
      return;
    }
    sessionStorage.setItem("smokewatch-admin-token", token);
    button.disabled = true;
    say("Starting a run…");
    fetch("/api/batch/run", {
      method: "POST",
      headers: { Authorization: "Bearer " + token },
    })
      .then(function (r) {
        return r.json().then(function (body) { return { status: r.status, body: body }; });
      })
      .then(function (answer) {
        if (answer.status === 202) {
          // Kept across the reload that shows the result.
          sessionStorage.setItem("smokewatch-batch-run", answer.body.run_id);
          say("Run " + answer.body.run_id + " started; the report appears when it ends.");
          waitFor(answer.body.run_id);
        } else {
          button.disabled = false;
          say(answer.body.error || "refused (" + answer.status + ")", true);
        }
      })
      .catch(function (e) {
        button.disabled = false;
        say("The daemon did not answer: " + e, true);
      });
  });
})();
