// Dashboard: fills the figures from each snapshot and keeps two uPlot
// charts (throughput, queue depth) over the last five minutes.
"use strict";

(function () {
  const MAX_POINTS = 300;
  const series = { t: [], readings: [], requests: [], queued: [] };
  // Closed room windows by measure: end (s) -> {sum, n, max}.
  const MAX_WINDOWS = 120;
  const windows = { pm2_5: new Map(), temperature_c: new Map() };

  function addWindows(points) {
    (points || []).forEach(function (p) {
      const byEnd = windows[p.measure];
      if (!byEnd) return;
      const t = p.end_ms / 1000;
      const w = byEnd.get(t) || { sum: 0, n: 0, max: -Infinity };
      w.sum += p.avg; w.n += 1; w.max = Math.max(w.max, p.max);
      byEnd.set(t, w);
      while (byEnd.size > MAX_WINDOWS) byEnd.delete(Math.min.apply(null, Array.from(byEnd.keys())));
    });
  }

  function windowData(measure) {
    const byEnd = windows[measure];
    const ends = Array.from(byEnd.keys()).sort(function (a, b) { return a - b; });
    return [ends, ends.map(function (t) { const w = byEnd.get(t); return w.sum / w.n; }),
      ends.map(function (t) { return byEnd.get(t).max; })];
  }

  function yesNo(b) { return b === null || b === undefined ? "—" : (b ? "on" : "off"); }

  function renderRooms(rooms) {
    const table = document.getElementById("rooms");
    const empty = document.getElementById("rooms-empty");
    if (!table || !rooms) return;
    empty.classList.toggle("hidden", rooms.length > 0);
    const body = table.querySelector("tbody");
    const rows = rooms.map(function (r) {
      const tr = document.createElement("tr");
      tr.dataset.room = r.home + "/" + r.room;
      const cells = [r.home, r.room, fmt.number(r.smoke_pm2_5, 1),
        r.fire_probability === null || r.fire_probability === undefined ? "—" : (r.fire_probability * 100).toFixed(1) + " %",
        yesNo(r.light), r.presence === null || r.presence === undefined ? "—" : (r.presence ? "yes" : "no"),
        r.temperature === null || r.temperature === undefined ? "—" : r.temperature.toFixed(1) + " °C",
        r.updated_ms ? new Date(r.updated_ms).toISOString().replace("T", " ").slice(0, 19) : "—"];
      cells.forEach(function (c, i) {
        const td = document.createElement("td");
        td.textContent = c;
        if (i >= 2 && i <= 6 && i !== 4 && i !== 5) td.className = "num";
        if (i === 3 && r.fire_probability >= 0.5) td.className = "num bad";
        tr.appendChild(td);
      });
      return tr;
    });
    body.replaceChildren.apply(body, rows);
  }

  function text(id, value) {
    const el = document.getElementById(id);
    if (el && el.textContent !== value) el.textContent = value;
  }

  function pipelineFigure(key, value, formatted) {
    const card = document.querySelector('[data-figure="pipeline.' + key + '"]');
    if (card) card.classList.toggle("pending", value === null || value === undefined);
    return formatted;
  }

  function queuedTotal(s) {
    return (s.queues || []).reduce(function (sum, q) { return sum + q.depth; }, 0);
  }

  function render(s) {
    const p = s.pipeline || {};
    text("stat-readings-per-second", pipelineFigure("readings_per_second", p.readings_per_second, fmt.number(p.readings_per_second)));
    text("stat-latency", pipelineFigure("end_to_end_latency_seconds", p.end_to_end_latency_seconds, fmt.seconds(p.end_to_end_latency_seconds)));
    text("stat-dead-letters", pipelineFigure("dead_letters_total", p.dead_letters_total, fmt.number(p.dead_letters_total, 0)));
    text("stat-consumer-lag", pipelineFigure("consumer_lag", p.consumer_lag, fmt.number(p.consumer_lag, 0)));
    text("stat-open-alerts", pipelineFigure("open_alerts", p.open_alerts, fmt.number(p.open_alerts, 0)));
    text("stat-readings-total", fmt.number(p.readings_processed_total, 0));
    const why = document.getElementById("pipeline-unavailable");
    if (why) {
      why.textContent = p.unavailable || "";
      why.classList.toggle("hidden", !p.unavailable);
    }
    renderRooms(s.rooms);

    const states = s.task_states || {};
    const total = Object.values(states).reduce(function (a, b) { return a + b; }, 0);
    text("stat-tasks", (states.running || 0) + " / " + total);
    const off = (s.off || []).map(function (o) { return o.subsystem; });
    text("stat-off", off.length ? "· off: " + off.join(", ") : "");
    text("stat-queued", fmt.number(queuedTotal(s), 0));
    const web = s.web || {};
    text("stat-requests-per-second", fmt.number(web.requests_per_second));
    text("stat-requests-total", fmt.number(web.requests_total, 0));
    text("stat-predictions", fmt.number(web.predictions_total, 0));
    text("stat-fire-predictions", fmt.number(web.fire_predictions_total, 0));
    text("stat-uptime", fmt.duration(s.uptime_seconds || 0));
    text("stat-model", s.model_version || "none");
  }

  function push(s) {
    series.t.push(s.at_ms / 1000);
    series.readings.push(s.pipeline ? s.pipeline.readings_per_second : null);
    series.requests.push(s.web ? s.web.requests_per_second : null);
    series.queued.push(queuedTotal(s));
    if (series.t.length > MAX_POINTS) {
      for (const k in series) series[k].shift();
    }
  }

  function color(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function axes() {
    const stroke = color("--muted"), grid = { stroke: color("--border"), width: 1 };
    return [{ stroke: stroke, grid: grid, ticks: grid }, { stroke: stroke, grid: grid, ticks: grid, size: 55 }];
  }

  // Chart definitions; charts are rebuilt when the theme changes so their
  // axes take the new colours.
  const definitions = [
    {
      id: "chart-throughput",
      series: [
        { label: "readings/s", stroke: "#e4572e", width: 2 },
        { label: "API requests/s", stroke: "#2e86de", width: 2 },
      ],
      data: function () { return [series.t, series.readings, series.requests]; },
    },
    {
      id: "chart-queues",
      series: [{ label: "queued items", stroke: "#8e44ad", width: 2, fill: "rgba(142,68,173,.12)" }],
      data: function () { return [series.t, series.queued]; },
    },
    {
      id: "chart-window-pm2_5",
      series: [
        { label: "mean over rooms", stroke: "#e4572e", width: 2 },
        { label: "max over rooms", stroke: "#c0392b", width: 1, dash: [4, 4] },
      ],
      data: function () { return windowData("pm2_5"); },
    },
    {
      id: "chart-window-temperature_c",
      series: [
        { label: "mean over rooms", stroke: "#27ae60", width: 2 },
        { label: "max over rooms", stroke: "#16a085", width: 1, dash: [4, 4] },
      ],
      data: function () { return windowData("temperature_c"); },
    },
  ];
  const charts = [];

  function build() {
    charts.forEach(function (c) { c.chart.destroy(); });
    charts.length = 0;
    if (!window.uPlot) return;
    definitions.forEach(function (def) {
      const el = document.getElementById(def.id);
      if (!el) return;
      const opts = {
        width: el.clientWidth || 400,
        height: 240,
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, (max || 0) * 1.15)]; } } },
        axes: axes(),
        series: [{}].concat(def.series),
      };
      charts.push({ chart: new uPlot(opts, def.data(), el), el: el, data: def.data });
    });
  }

  function redraw() {
    charts.forEach(function (c) { c.chart.setData(c.data()); });
    const empty = document.getElementById("windows-empty");
    if (empty) empty.classList.toggle("hidden", windows.pm2_5.size > 0);
  }

  build();
  if (window.ResizeObserver) {
    const ro = new ResizeObserver(function () {
      charts.forEach(function (c) { c.chart.setSize({ width: c.el.clientWidth, height: 240 }); });
    });
    definitions.forEach(function (def) {
      const el = document.getElementById(def.id);
      if (el) ro.observe(el);
    });
  }
  document.addEventListener("smokewatch:theme", build);

  smokewatch.subscribe(function (history) {
    history.forEach(function (s) { push(s); addWindows(s.windows); });
    if (history.length) render(history[history.length - 1]);
    redraw();
  }, function (snapshot) {
    push(snapshot);
    addWindows(snapshot.windows);
    render(snapshot);
    redraw();
  });
})();
