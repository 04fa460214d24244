// Live refresh: an element with data-live-url is polled for JSON
// {every, text: {key: str}, bars: {key: percent}, chips: {key: name}}, and
// elements marked data-live-text / data-live-bar / data-live-chip with a key
// are updated in place. Without JavaScript the page shows the numbers it was
// rendered with; nothing else on these pages needs script.
(function () {
  "use strict";

  function apply(data) {
    var k;
    for (k in data.text || {}) {
      document.querySelectorAll('[data-live-text="' + k + '"]').forEach(function (el) {
        el.textContent = data.text[k];
      });
    }
    for (k in data.bars || {}) {
      document.querySelectorAll('[data-live-bar="' + k + '"]').forEach(function (el) {
        el.setAttribute("width", String(data.bars[k]));
        var svg = el.closest("svg");
        if (svg) { svg.classList.toggle("full", data.bars[k] >= 100); }
      });
    }
    for (k in data.chips || {}) {
      document.querySelectorAll('[data-live-chip="' + k + '"]').forEach(function (el) {
        el.className = "chip chip-" + data.chips[k];
        el.textContent = data.chips[k];
      });
    }
  }

  function start(source) {
    var url = source.getAttribute("data-live-url");
    var every = Number(source.getAttribute("data-live-every")) || 5;
    var timer = null;
    var busy = false;
    var stopped = false;

    function schedule() {
      window.clearTimeout(timer);
      if (!stopped) { timer = window.setTimeout(tick, every * 1000); }
    }

    function tick() {
      if (busy) { return; }
      if (document.hidden) { schedule(); return; }
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 401) { stopped = true; throw new Error("signed out"); }
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) {
          apply(data);
          every = Number(data.every) || every;
          source.classList.remove("stale");
          document.body.setAttribute("data-live-updated", String(Date.now()));
        })
        .catch(function () {
          source.classList.add("stale");
        })
        .then(function () {
          busy = false;
          schedule();
        });
    }

    schedule();
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && !busy && !stopped) { tick(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-url]").forEach(start);
  });
})();
