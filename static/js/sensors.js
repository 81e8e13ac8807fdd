/* Sensor charts: draws each [data-sensor-chart] from the JSON at its data-url: a line of the
 * readings (hourly means with their range beyond the raw period) and the alarms as points.
 * ECharts (the reduced build named by this script's data-echarts) is fetched when needed. */
(function () {
  "use strict";
  var script = document.currentScript;
  var library = script && script.dataset.echarts;
  if (window.sensorChartsStarted) return;
  window.sensorChartsStarted = true;
  var elements = Array.prototype.slice.call(document.querySelectorAll("[data-sensor-chart]"));
  if (!library || !elements.length) return;
  var animate = !(window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches);
  var charts = [];

  // Times read in the zone the page states (data-time-zone: the office's), not the
  // browser's: a phone set to another zone would otherwise show 02:00 beside a page's 10:09.
  function clock(zone) {
    var fields = { month: "numeric", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    try {
      return new Intl.DateTimeFormat("en-US", Object.assign({ timeZone: zone || undefined }, fields));
    } catch (e) {  // an unknown zone name: the browser's zone rather than no chart
      return new Intl.DateTimeFormat("en-US", fields);
    }
  }
  var formats = {};
  function stamper(zone) {
    var format = formats[zone] = formats[zone] || clock(zone);
    return function (ms) {
      var part = {};
      format.formatToParts(new Date(ms)).forEach(function (p) { part[p.type] = p.value; });
      return part.month + "-" + part.day + " " + part.hour + ":" + part.minute;
    };
  }

  function option(data, stamp) {
    var series = [{
      name: data.labels.value, type: "line", showSymbol: data.points.length < 200,
      data: data.points.map(function (p) { return [p[0], p[1]]; })
    }];
    if (data.kind === "hourly") {
      series.push({ name: data.labels.range, type: "line", showSymbol: false, lineStyle: { opacity: 0.4 },
        data: data.points.map(function (p) { return [p[0], p[3]]; }) });
    }
    series.push({ name: data.labels.alarm, type: "scatter", symbol: "triangle", symbolSize: 12,
      data: data.alarms.map(function (a) { return [a[0], a[1]]; }) });
    return {
      animation: animate,
      grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
      legend: { top: 0 },
      tooltip: { trigger: "axis", axisPointer: { type: "line" },
        formatter: function (items) {
          return stamp(items[0].value[0]) + "<br>" + items.map(function (i) {
            return i.seriesName + ": " + (i.value[1] === null ? "—" : Math.round(i.value[1] * 10) / 10) + " " + data.unit;
          }).join("<br>");
        } },
      xAxis: { type: "value", scale: true, axisLabel: { formatter: stamp, hideOverlap: true } },
      yAxis: { type: "value", scale: true, name: data.unit },
      series: series
    };
  }

  function draw(el) {
    fetch(el.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        var chart = echarts.init(el, null, { renderer: "canvas" });
        chart.setOption(option(data, stamper(el.dataset.timeZone)));
        charts.push(chart);
      });
  }

  var tag = document.createElement("script");
  tag.src = library;
  tag.onload = function () { elements.forEach(draw); };
  if (typeof echarts !== "undefined") elements.forEach(draw); else document.head.appendChild(tag);
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
