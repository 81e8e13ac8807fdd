/* KPI charts: draws each [data-kpi-chart] element from the JSON in its data-chart attribute.
 * The table beside each chart holds the same numbers; without JavaScript it is all there is.
 * ECharts (the reduced build named by this script's data-echarts) is fetched only when a
 * chart comes near the screen, and each chart is drawn in its own task: a phone opening
 * the page is not held up by the charts. The chart's room is kept by the CSS meanwhile. */
(function () {
  "use strict";
  var library = document.currentScript && document.currentScript.dataset.echarts;
  var elements = Array.prototype.slice.call(document.querySelectorAll("[data-kpi-chart]"));
  if (!library || !elements.length) return;

  function percent(value) {
    return value === null || value === undefined ? "—" : value + "%";
  }

  function monthOption(data) {
    return {
      animation: animate,
      grid: { left: 8, right: 48, top: 40, bottom: 8, containLabel: true },
      legend: { top: 0, data: [data.value_name, data.target_name] },
      tooltip: { trigger: "axis", valueFormatter: percent },
      xAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      yAxis: { type: "category", data: data.labels, inverse: true, axisLabel: { width: 150, overflow: "break" } },
      series: [
        { name: data.value_name, type: "bar", data: data.values, label: { show: true, position: "right", formatter: function (p) { return percent(p.value); } } },
        { name: data.target_name, type: "scatter", symbol: "diamond", symbolSize: 12, data: data.targets }
      ]
    };
  }

  function trendOption(data) {
    return {
      animation: animate,
      grid: { left: 8, right: 16, top: 72, bottom: 8, containLabel: true },
      legend: { type: "scroll", top: 0 },
      tooltip: { trigger: "axis", valueFormatter: percent },
      xAxis: { type: "category", data: data.months },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      series: data.series.map(function (s) {
        return { name: s.name, type: "line", data: s.values, connectNulls: false, symbolSize: 6 };
      })
    };
  }

  var charts = [];
  // Drawn at once for those who ask for less motion; animated (spread over frames) otherwise.
  var animate = !(window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches);

  function draw(el) {
    var data;
    try {
      data = JSON.parse(el.dataset.chart);
    } catch (e) {
      return;
    }
    var chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(el.dataset.kpiChart === "trend" ? trendOption(data) : monthOption(data));
    charts.push(chart);
  }

  var loading = null;
  function withECharts(callback) {
    if (typeof echarts !== "undefined") return callback();
    if (!loading) {
      loading = [];
      var script = document.createElement("script");
      script.src = library;
      script.onload = function () { loading.forEach(function (f) { f(); }); };
      document.head.appendChild(script);
    }
    loading.push(callback);
  }

  function show(el) {
    withECharts(function () { window.setTimeout(function () { draw(el); }, 0); });
  }

  if ("IntersectionObserver" in window) {
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (!entry.isIntersecting) return;
        observer.unobserve(entry.target);
        show(entry.target);
      });
    }, { rootMargin: "200px 0px" });
    elements.forEach(function (el) { observer.observe(el); });
  } else {
    elements.forEach(show);
  }
  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
