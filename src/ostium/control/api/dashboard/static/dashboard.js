// ostium dashboard: the live traffic charts (hand-written SVG, no library).
// Polls the load balancer's counters, keeps two minutes of samples in memory and draws
// one line per figure: a gauge as it is, a counter as its rate over the last 10 s.
(function () {
  "use strict";
  var WINDOW = 10000, KEEP = 120000, EVERY = 2000;

  function human(v, unit) {
    var units = ["", "k", "M", "G", "T"], i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)) + units[i] + (unit || "");
  }

  function start(root) {
    var samples = [];
    var charts = Array.prototype.slice.call(root.querySelectorAll(".chart"));

    function valueAt(chart, i) {
      var key = chart.dataset.key, now = samples[i];
      if (chart.dataset.rate !== "true") return now.v[key];
      var j = i;
      while (j > 0 && now.t - samples[j - 1].t <= WINDOW) j--;
      if (j === i) return 0;
      return Math.max(0, (now.v[key] - samples[j].v[key]) * 1000 / (now.t - samples[j].t));
    }

    function draw() {
      var t0 = samples.length ? samples[samples.length - 1].t - KEEP : 0;
      charts.forEach(function (chart) {
        var values = samples.map(function (_, i) { return valueAt(chart, i); });
        var peak = Math.max.apply(null, [1].concat(values));
        var points = samples.map(function (s, i) {
          var x = Math.max(0, (s.t - t0) / KEEP * 300), y = 78 - values[i] / peak * 74;
          return x.toFixed(1) + "," + y.toFixed(1);
        }).join(" ");
        chart.querySelector("polyline").setAttribute("points", points);
        var last = values.length ? values[values.length - 1] : 0;
        chart.querySelector("output").textContent = human(last, chart.dataset.unit);
        chart.dataset.last = String(last);
        chart.dataset.peak = String(Math.max.apply(null, [0].concat(values)));
      });
    }

    function tick() {
      fetch(root.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (v) {
          if (!v) return;
          var now = Date.now();
          samples.push({ t: now, v: v });
          while (samples.length && samples[0].t < now - KEEP) samples.shift();
          draw();
        })
        .catch(function () {})
        .then(function () { setTimeout(tick, EVERY); });
    }
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("charts");
    if (root) start(root);
  });
})();
