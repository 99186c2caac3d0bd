// Health page: redraws the overall state and the task table from each
// snapshot of /api/stream.
"use strict";

(function () {
  const table = document.querySelector("#health-tasks tbody");
  if (!table) return;

  function cell(text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  }

  function render(s) {
    const status = document.getElementById("health-status");
    status.className = "pill pill-" + s.status;
    status.textContent = s.status;
    const reasons = document.getElementById("health-reasons");
    reasons.replaceChildren.apply(reasons, s.reasons.map(function (r) {
      const li = document.createElement("li");
      li.textContent = r;
      return li;
    }));
    document.getElementById("health-no-reasons").classList.toggle("hidden", s.reasons.length > 0);
    const rows = s.tasks.slice().sort(function (a, b) {
      return (a.subsystem + a.task).localeCompare(b.subsystem + b.task);
    }).map(function (t) {
      const tr = document.createElement("tr");
      tr.dataset.task = t.task;
      const pill = document.createElement("span");
      pill.className = "pill pill-" + t.state;
      pill.textContent = t.state;
      const state = document.createElement("td");
      state.appendChild(pill);
      tr.append(cell(t.subsystem), cell(t.task, "mono"), state, cell(t.detail || ""),
        cell(String(t.restarts), "num"), cell(new Date(t.since_ms).toISOString(), "mono"));
      return tr;
    });
    // Subsystems switched off in the config have no task: one row each.
    (s.off || []).forEach(function (o) {
      const tr = document.createElement("tr");
      tr.dataset.subsystemOff = o.subsystem;
      const pill = document.createElement("span");
      pill.className = "pill pill-off";
      pill.textContent = "off";
      const state = document.createElement("td");
      state.appendChild(pill);
      tr.append(cell(o.subsystem), cell("—", "mono"), state, cell(o.detail),
        cell("—", "num"), cell("—", "mono"));
      rows.push(tr);
    });
    table.replaceChildren.apply(table, rows);
  }

  smokewatch.subscribe(function (history) {
    if (history.length) render(history[history.length - 1]);
  }, render);
})();
