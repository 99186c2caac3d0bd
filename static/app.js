// Shared by every page: theme switch, one live connection to the daemon
// (/api/stream, Server-Sent Events) re-broadcast as DOM events, the status
// pill, and number formatting.
"use strict";

(function () {
  const root = document.documentElement;
  const toggle = document.getElementById("theme-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      const dark = root.dataset.theme
        ? root.dataset.theme === "dark"
        : window.matchMedia("(prefers-color-scheme: dark)").matches;
      root.dataset.theme = dark ? "light" : "dark";
      localStorage.setItem("smokewatch-theme", root.dataset.theme);
      document.dispatchEvent(new CustomEvent("smokewatch:theme"));
    });
  }

  const pill = document.getElementById("live-status");
  function setPill(state, text) {
    if (!pill) return;
    pill.className = "pill pill-" + state;
    pill.textContent = text;
  }

  // One EventSource per page. Snapshots are buffered, so a page script
  // that loads after the first events still gets them: it calls
  // smokewatch.subscribe(onHistory, onSnapshot) and onHistory receives
  // everything seen so far.
  const history = [];
  const listeners = [];
  window.smokewatch = {
    subscribe: function (onHistory, onSnapshot) {
      listeners.push(onSnapshot);
      onHistory(history.slice());
    },
  };
  function receive(snapshot) {
    history.push(snapshot);
    if (history.length > 300) history.shift();
    setPill(snapshot.status, snapshot.status);
    const footerModel = document.getElementById("footer-model");
    if (footerModel) footerModel.textContent = snapshot.model_version || "none loaded";
  }
  // Browsers allow about six HTTP/1.1 connections per host: a page left
  // for another (or kept in the back/forward cache) must give its stream
  // back, or the seventh page would wait for a free connection.
  let source = null;
  function connect() {
    if (!window.EventSource || source) return;
    source = new EventSource("/api/stream");
    source.addEventListener("history", function (e) {
      const fresh = JSON.parse(e.data).filter(function (s) {
        return !history.length || s.seq > history[history.length - 1].seq;
      });
      fresh.forEach(function (s) {
        receive(s);
        listeners.forEach(function (l) { l(s); });
      });
    });
    source.addEventListener("snapshot", function (e) {
      const snapshot = JSON.parse(e.data);
      receive(snapshot);
      listeners.forEach(function (l) { l(snapshot); });
    });
    source.addEventListener("error", function () { setPill("unknown", "reconnecting"); });
  }
  function disconnect() {
    if (source) source.close();
    source = null;
  }
  window.addEventListener("pagehide", disconnect);
  window.addEventListener("pageshow", function (e) { if (e.persisted) connect(); });
  connect();
})();

// Formatting helpers used by the page scripts.
window.fmt = {
  // 1234.5 -> "1,234.5"; null/undefined -> "—".
  number: function (x, digits) {
    if (x === null || x === undefined || Number.isNaN(x)) return "—";
    return Number(x).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 1 : digits });
  },
  seconds: function (s) {
    if (s === null || s === undefined) return "—";
    if (s < 1) return (s * 1000).toFixed(s < 0.01 ? 2 : 0) + " ms";
    return s.toFixed(2) + " s";
  },
  duration: function (s) {
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + sec + "s";
    return sec + "s";
  },
};
