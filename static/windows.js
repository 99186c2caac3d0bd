// Windows page: the current tumbling window of every room × sensor and of
// every detector × channel, from /api/windows?current=true. Refetched when
// a live snapshot says the stream emitted window results since the last
// fetch (its `window_updates` count moved); a value that changed since the
// previous render is highlighted for a moment (update mode at work).
"use strict";

(function () {
  const form = document.getElementById("window-filters");
  if (!form) return;
  const roomBody = document.querySelector("#room-windows tbody");
  const deviceTable = document.getElementById("device-windows");
  const channels = Array.from(deviceTable.querySelectorAll("thead th.num")).map(function (th) { return th.textContent; });
  let inFlight = false, seenUpdates = null, again = false;

  function dateTime(ms) { return new Date(ms).toISOString().replace("T", " ").slice(0, 19); }
  function time(ms) { return new Date(ms).toISOString().slice(11, 19); }
  function value(x) { return Number(x).toFixed(2); }

  function query(extra) {
    const params = new URLSearchParams({ current: "true", window: "tumbling", limit: "5000" });
    Object.entries(extra).forEach(function (kv) { params.set(kv[0], kv[1]); });
    const room = document.getElementById("filter-room").value;
    if (room) {
      const [home, name] = room.split("/");
      params.set("home", home);
      params.set("room", name);
    }
    return "/api/windows?" + params.toString();
  }

  // Per series (home/room/sensor): the newest window and the last closed.
  function roomRows(windows) {
    const sensor = document.getElementById("filter-sensor").value;
    const series = new Map();
    windows.forEach(function (w) {
      if (sensor && w.measure !== sensor) return;
      const key = w.home + "/" + w.room + "/" + w.measure;
      const s = series.get(key) || { newest: null, closed: null };
      if (!s.newest || w.start >= s.newest.start) s.newest = w;
      if (w.is_final && (!s.closed || w.start >= s.closed.start)) s.closed = w;
      series.set(key, s);
    });
    return Array.from(series.keys()).sort().map(function (key) {
      const s = series.get(key), w = s.newest;
      return {
        series: key, home: w.home, room: w.room, sensor: w.measure,
        state: w.is_final ? "closed" : "open",
        cells: {
          start: dateTime(w.start), end: time(w.end), state: w.is_final ? "closed" : "open",
          count: String(w.count), avg: value(w.avg), min: value(w.min), max: value(w.max),
          closed_avg: s.closed && s.closed.start !== w.start ? value(s.closed.avg) : "—",
        },
      };
    });
  }

  const FIELDS = ["start", "end", "state", "count", "avg", "min", "max", "closed_avg"];

  function renderRooms(rows) {
    const before = new Map();
    roomBody.querySelectorAll("tr").forEach(function (tr) {
      const cells = {};
      tr.querySelectorAll("td[data-field]").forEach(function (td) { cells[td.dataset.field] = td.textContent; });
      before.set(tr.dataset.series, cells);
    });
    const trs = rows.map(function (r) {
      const tr = document.createElement("tr");
      tr.dataset.series = r.series;
      tr.dataset.state = r.state;
      [r.home, r.room, r.sensor].forEach(function (text) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      });
      const old = before.get(r.series);
      FIELDS.forEach(function (field) {
        const td = document.createElement("td");
        td.dataset.field = field;
        td.textContent = r.cells[field];
        if (["count", "avg", "min", "max", "closed_avg"].indexOf(field) >= 0) td.className = "num";
        if (old && old[field] !== r.cells[field]) td.classList.add("changed");
        tr.appendChild(td);
      });
      return tr;
    });
    roomBody.replaceChildren.apply(roomBody, trs);
    document.getElementById("room-windows-empty").classList.toggle("hidden", trs.length > 0);
    const select = document.getElementById("filter-room");
    const have = new Set(Array.from(select.options).map(function (o) { return o.value; }));
    rows.forEach(function (r) {
      const v = r.home + "/" + r.room;
      if (have.has(v)) return;
      have.add(v);
      const o = document.createElement("option");
      o.value = v; o.textContent = v;
      select.appendChild(o);
    });
  }

  function renderDevices(windows) {
    const devices = new Map();
    windows.forEach(function (w) {
      if (!w.device) return;
      const d = devices.get(w.device) || { home: w.home, room: w.room, by: {} };
      const had = d.by[w.measure];
      if (!had || w.start >= had.start) d.by[w.measure] = w;
      devices.set(w.device, d);
    });
    const body = deviceTable.querySelector("tbody");
    const trs = Array.from(devices.keys()).sort().map(function (id) {
      const d = devices.get(id);
      const tr = document.createElement("tr");
      tr.dataset.device = id;
      [id, d.home, d.room].forEach(function (text) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      });
      channels.forEach(function (c) {
        const td = document.createElement("td");
        td.className = "num";
        const w = d.by[c];
        td.textContent = w ? value(w.avg) : "—";
        if (w) td.title = dateTime(w.start) + "–" + time(w.end) + " · " + w.count + " values · min " + value(w.min) + " · max " + value(w.max);
        tr.appendChild(td);
      });
      return tr;
    });
    body.replaceChildren.apply(body, trs);
    document.getElementById("device-windows-empty").classList.toggle("hidden", trs.length > 0);
  }

  function get(url) {
    return fetch(url).then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); });
  }

  function refresh() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    const roomsUrl = query({ key: "room_sensor" });
    document.getElementById("windows-json").href = roomsUrl;
    Promise.all([get(roomsUrl), get(query({ key: "device" }))])
      .then(function (answers) {
        seenUpdates = answers[0].updates;
        form.dataset.updates = String(seenUpdates);
        renderRooms(roomRows(answers[0].windows));
        renderDevices(answers[1].windows);
      })
      .catch(function () {})
      .finally(function () {
        inFlight = false;
        if (again) { again = false; refresh(); }
      });
  }

  form.addEventListener("change", refresh);
  refresh();
  smokewatch.subscribe(function () {}, function (s) {
    if (s.window_updates === undefined || s.window_updates === null || s.window_updates !== seenUpdates) refresh();
  });
})();
