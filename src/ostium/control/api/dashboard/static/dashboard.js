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
      // The x axis spans what has been collected, at least 30 s and at most KEEP, so a
      // new page fills from the left instead of starting as a sliver at the right edge.
      var last = samples.length ? samples[samples.length - 1].t : 0;
      var span = samples.length ? Math.min(KEEP, Math.max(30000, last - samples[0].t)) : KEEP;
      charts.forEach(function (chart) {
        var values = samples.map(function (_, i) { return valueAt(chart, i); });
        var peak = Math.max.apply(null, [1].concat(values));
        var xy = samples.map(function (s, i) {
          var x = Math.max(0, 300 - (last - s.t) / span * 300), y = 78 - values[i] / peak * 70;
          return x.toFixed(1) + "," + y.toFixed(1);
        });
        chart.querySelector("polyline").setAttribute("points", xy.join(" "));
        var area = xy.length ? xy[0].split(",")[0] + ",80 " + xy.join(" ") + " 300,80" : "";
        chart.querySelector("polygon").setAttribute("points", area);
        var now = values.length ? values[values.length - 1] : 0;
        chart.querySelector("output").textContent = human(now, chart.dataset.unit);
        chart.dataset.last = String(now);
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
