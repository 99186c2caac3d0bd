// Alerts page: the stream's recent alerts from /api/alerts, filtered by
// state, severity, room and rule (the filters go to the API as query
// parameters), refreshed on every live snapshot.
"use strict";

(function () {
  const form = document.getElementById("alert-filters");
  if (!form) return;
  const body = document.querySelector("#alerts-table tbody");
  const empty = document.getElementById("alerts-empty");
  const rooms = new Set(), rules = new Set();
  let inFlight = false;

  function time(ms) {
    return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "—";
  }

  function query() {
    const params = new URLSearchParams();
    ["state", "severity", "room", "rule"].forEach(function (name) {
      const v = document.getElementById("filter-" + name).value;
      if (!v) return;
      if (name === "room") {
        const [home, room] = v.split("/");
        params.set("home", home);
        params.set("room", room);
      } else {
        params.set(name, v);
      }
    });
    return params.toString();
  }

  function addOptions(select, values) {
    const have = new Set(Array.from(select.options).map(function (o) { return o.value; }));
    Array.from(values).sort().forEach(function (v) {
      if (have.has(v)) return;
      const o = document.createElement("option");
      o.value = v; o.textContent = v;
      select.appendChild(o);
    });
  }

  function render(data) {
    document.getElementById("alerts-open-count").textContent = data.open_total;
    const rows = data.alerts.map(function (a) {
      rooms.add(a.home + "/" + a.room);
      rules.add(a.rule);
      const tr = document.createElement("tr");
      tr.dataset.id = a.id;
      tr.dataset.state = a.state;
      tr.dataset.severity = a.severity;
      const values = Object.entries(a.values || {}).map(function (kv) { return kv[0] + " " + Number(kv[1]).toFixed(2); }).join(", ");
      [a.state, a.severity, a.home, a.room, a.rule, a.kind, String(a.repeats), time(a.event_time),
        a.resolved_time ? time(a.resolved_time) : "—", values].forEach(function (c, i) {
        const td = document.createElement("td");
        td.textContent = c;
        if (i === 1) td.className = "sev-" + a.severity;
        if (i === 6) td.className = "num";
        tr.appendChild(td);
      });
      return tr;
    });
    body.replaceChildren.apply(body, rows);
    empty.classList.toggle("hidden", rows.length > 0);
    addOptions(document.getElementById("filter-room"), rooms);
    addOptions(document.getElementById("filter-rule"), rules);
  }

  function refresh() {
    if (inFlight) return;
    inFlight = true;
    const q = query();
    document.getElementById("alerts-json").href = "/api/alerts" + (q ? "?" + q : "");
    fetch("/api/alerts" + (q ? "?" + q : ""))
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) { form.dataset.loaded = q; render(data); })
      .catch(function () {})
      .finally(function () { inFlight = false; });
  }

  form.addEventListener("change", refresh);
  refresh();
  smokewatch.subscribe(function () {}, function (s) {
    if (s.pipeline && s.pipeline.open_alerts !== null && s.pipeline.open_alerts !== undefined) refresh();
  });
})();
