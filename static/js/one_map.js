/* The one map for staff (一张图): each layer loads what is inside the visible box from its
 * indexed endpoint, and reloads when the map moves or the layer is switched on.
 * A layer is one entry of LAYERS: its key (the endpoint /admin/api/map/<key>.geojson and the
 * checkbox #layer-<key>) and how it draws a feature. The sensors' devices and alarms join
 * with one entry here and one in portal/services/one_map.py. */
(function () {
  "use strict";
  var el = document.getElementById("one-map");
  if (!el || !window.L || !window.Portal) return;

  var strings = {};
  try { strings = JSON.parse(el.dataset.strings || "{}"); } catch (e) { strings = {}; }
  function t(key, values) {
    var text = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.replace("%(" + name + ")s", String(values[name]));
    });
    return text;
  }
  var filters = {};
  try { filters = JSON.parse(el.dataset.filters || "{}"); } catch (e) { filters = {}; }

  var STATE_COLORS = {
    submitted: "#d97706", accepted: "#2563eb", dispatched: "#7c3aed", in_progress: "#0891b2",
    resolved: "#16a34a"
  };
  var FACILITY_COLORS = {
    intact: "#16a34a", damaged: "#d97706", missing: "#dc2626", occupied: "#7c3aed", abandoned: "#6b7280"
  };

  function link(props, text, lines) {
    var box = document.createElement("div");
    var a = document.createElement("a");
    a.href = props.url;
    a.textContent = text;
    box.appendChild(a);
    (lines || []).forEach(function (line) {
      var row = document.createElement("div");
      row.textContent = line;
      box.appendChild(row);
    });
    return box;
  }

  function clustered() {
    return L.markerClusterGroup({ maxClusterRadius: 50, disableClusteringAtZoom: 18 });
  }

  var LAYERS = [
    {
      key: "cases", group: clustered,
      draw: function (f, c) {
        var p = f.properties;
        var marker = L.circleMarker([c[1], c[0]], {
          radius: 11, weight: p.overdue ? 4 : 2, color: p.overdue ? "#b91c1c" : "#ffffff",
          fillOpacity: 0.9, fillColor: STATE_COLORS[p.state] || "#333333"
        });
        var lines = [p.category, t("state_" + p.state)];
        if (p.overdue) lines.push(t("overdue"));
        return marker.bindPopup(link(p, p.number, lines));
      }
    },
    {
      key: "works", group: clustered,
      draw: function (f, c) {
        var p = f.properties;
        var marker = L.circleMarker([c[1], c[0]], {
          radius: 11, weight: 3, color: "#1f2937", fillOpacity: 0.85,
          fillColor: p.site ? "#f59e0b" : "#94a3b8"
        });
        var lines = [t("phase_" + p.phase)];
        if (p.site) lines.push(t("site"));
        return marker.bindPopup(link(p, p.code + " " + p.name, lines));
      }
    },
    {
      key: "facilities", group: clustered,
      draw: function (f) {
        var p = f.properties;
        var color = FACILITY_COLORS[p.state] || "#333333";
        var shape = L.geoJSON(f, {
          style: { color: color, weight: 4 },
          pointToLayer: function (feature, latlng) {
            return L.circleMarker(latlng, { radius: 8, weight: 1, color: "#ffffff", fillColor: color, fillOpacity: 0.9 });
          }
        });
        return shape.bindPopup(link(p, p.code, [p.type_name, t("facility_" + p.state)]));
      }
    },
    {
      key: "grid", group: function () { return L.featureGroup(); },
      draw: function (f) {
        var p = f.properties;
        var shade = Math.min(0.6, 0.05 + p.open * 0.05);
        return L.geoJSON(f, {
          pane: "gridPane",
          style: { color: "#1e3a8a", weight: 1, fillColor: "#1d4ed8", fillOpacity: shade }
        }).bindTooltip(p.name + ": " + t("open_cases", { n: p.open }));
      }
    },
    {
      key: "hotspots", group: function () { return L.featureGroup(); },
      draw: function (f, c) {
        var p = f.properties;
        var heat = L.featureGroup();
        var strength = Math.min(1, p.observed / Math.max(1, p.expected * 6));
        (p.points || []).forEach(function (point) {  /* the cases behind it, as warm spots */
          L.circle([point[1], point[0]], {
            pane: "hotspotPane", radius: 60, stroke: false, fillColor: "#ef4444", fillOpacity: 0.25, interactive: false
          }).addTo(heat);
        });
        L.circle([c[1], c[0]], {
          pane: "hotspotPane", radius: 120 + 200 * strength, weight: 2, color: "#b91c1c", fillColor: "#dc2626",
          fillOpacity: 0.35, className: "hotspot-mark"
        }).bindPopup(link(p, p.cell, [t("hotspot", { group: p.group, observed: p.observed, expected: p.expected })]))
          .addTo(heat);
        return heat;
      }
    },
    {
      key: "devices", group: clustered,
      draw: function (f, c) {
        var p = f.properties;
        var color = p.status === "online" ? "#0f766e" : (p.status === "offline" ? "#6b7280" : "#a16207");
        var marker = L.circleMarker([c[1], c[0]], {
          radius: 8, weight: 2, color: "#ffffff", fillOpacity: 0.9, fillColor: color
        });
        var lines = [t("kind_" + p.kind), t("device_" + p.status)];
        if (p.last_value !== null && p.last_value !== undefined) lines.push(String(p.last_value));
        return marker.bindPopup(link(p, p.code + " " + (p.name || ""), lines));
      }
    },
    {
      /* A device's alarms share its place (a cover tilted and open): one mark per place,
       * whose popup lists each of them, so none lies hidden under another. */
      key: "alarms", group: function () { return L.featureGroup(); },
      start: function () { this.spots = {}; },
      draw: function (f, c) {
        var p = f.properties;
        var place = c[0].toFixed(6) + "," + c[1].toFixed(6);
        var entry = link(p, p.summary, [t("alarm_" + p.state)]);
        var spot = this.spots[place];
        if (spot) {
          spot.box.appendChild(entry);
          if (p.state === "raised") spot.marker.setStyle({ fillColor: "#dc2626" });
          return null;
        }
        var box = document.createElement("div");
        box.className = "alarm-popup";
        box.appendChild(entry);
        var marker = L.circleMarker([c[1], c[0]], {
          pane: "alarmPane", radius: 13, weight: 4, color: "#7f1d1d", fillOpacity: 0.85,
          fillColor: p.state === "raised" ? "#dc2626" : "#f97316", className: "alarm-mark"
        });
        this.spots[place] = { box: box, marker: marker };
        return marker.bindPopup(box);
      }
    }
  ];

  var status = document.getElementById("map-status");
  var center = Portal.parseCenter(el.dataset.center, [30.2741, 120.1551]);
  var map = L.map(el, { keyboard: true, maxZoom: 19 }).setView(center, Number(el.dataset.zoom) || 14);
  Portal.tileLayer(map, el);
  /* Cells lie under everything; hotspots over the other shapes, under the markers. */
  map.createPane("gridPane").style.zIndex = 350;
  map.createPane("hotspotPane").style.zIndex = 420;
  /* Alarms over everything drawn, the clusters' bubbles included: each must take a tap. */
  map.createPane("alarmPane").style.zIndex = 650;
  var timer = null;
  try {  /* the whole district at first, whatever the screen */
    var bounds = JSON.parse(el.dataset.bounds || "null");
    if (bounds) map.fitBounds([[bounds[0], bounds[1]], [bounds[2], bounds[3]]]);
  } catch (e) { /* keep the configured centre */ }

  LAYERS.forEach(function (layer) {
    layer.box = document.getElementById("layer-" + layer.key);
    layer.count = document.getElementById("count-" + layer.key);
    layer.shown = layer.group();
    if (layer.box) {
      layer.box.addEventListener("change", function () {
        if (layer.box.checked) { map.addLayer(layer.shown); load(layer); }
        else { map.removeLayer(layer.shown); if (layer.count) layer.count.textContent = ""; }
      });
      if (layer.box.checked) map.addLayer(layer.shown);
    }
  });

  function url(layer) {
    var b = map.getBounds();
    var query = new URLSearchParams();
    query.set("bbox", [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
      .map(function (v) { return Math.max(-180, Math.min(180, v)).toFixed(6); }).join(","));
    ["department", "category", "type"].forEach(function (name) {
      if (filters[name]) query.set(name, filters[name]);
    });
    return el.dataset.layerUrl.replace("LAYER", layer.key) + "?" + query.toString();
  }

  function load(layer) {
    if (!layer.box || !layer.box.checked) return;
    if (layer.pending) layer.pending.abort();
    layer.pending = new AbortController();
    fetch(url(layer), { signal: layer.pending.signal, headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        layer.shown.clearLayers();
        if (layer.start) layer.start();
        data.features.forEach(function (feature) {
          var drawn = layer.draw(feature, feature.geometry.coordinates);
          if (drawn) layer.shown.addLayer(drawn);
        });
        if (layer.count) {
          layer.count.textContent = data.truncated
            ? t("truncated", { n: data.features.length })
            : t("loaded", { n: data.features.length });
        }
        el.dataset["loaded" + layer.key.charAt(0).toUpperCase() + layer.key.slice(1)] = String(data.features.length);
        if (status) status.textContent = "";
      })
      .catch(function (error) {
        if (error.name === "AbortError") return;
        if (status) status.textContent = t("load_failed");
      });
  }

  function loadAll() { LAYERS.forEach(load); }
  map.on("moveend", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(loadAll, 250);
  });
  loadAll();
})();
