/* Home page: public cases in the visible box, clustered and coloured by state. */
(function () {
  "use strict";
  var el = document.getElementById("case-map");
  if (!el || !window.L || !window.Portal) return;

  var COLORS = {
    submitted: "#d97706", accepted: "#2563eb", dispatched: "#7c3aed", in_progress: "#0891b2",
    resolved: "#16a34a", closed: "#4b5563", rejected: "#dc2626", duplicate: "#9ca3af"
  };
  var status = document.getElementById("map-status");
  var center = Portal.parseCenter(el.dataset.center, [30.2741, 120.1551]);
  var map = L.map(el, { keyboard: true, maxZoom: 19 }).setView(center, Number(el.dataset.zoom) || 14);
  Portal.tileLayer(map, el);
  var cluster = L.markerClusterGroup({ maxClusterRadius: 50 });
  map.addLayer(cluster);

  function popup(props) {
    var box = document.createElement("div");
    var link = document.createElement("a");
    link.href = props.url;
    link.textContent = props.number;
    var category = document.createElement("div");
    category.textContent = props.category;
    var state = document.createElement("div");
    state.textContent = props.state_label;
    box.appendChild(link);
    box.appendChild(category);
    box.appendChild(state);
    return box;
  }

  var pending = null;
  var timer = null;

  function load() {
    if (pending) pending.abort();
    pending = new AbortController();
    var b = map.getBounds();
    var params = new URLSearchParams(window.location.search);
    var query = new URLSearchParams();
    query.set("bbox", [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
      .map(function (v) { return v.toFixed(6); }).join(","));
    ["state", "category"].forEach(function (name) {
      if (params.get(name)) query.set(name, params.get(name));
    });
    fetch(el.dataset.geojsonUrl + "?" + query.toString(), {
      signal: pending.signal, headers: { Accept: "application/json" }
    })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        cluster.clearLayers();
        data.features.forEach(function (feature) {
          var c = feature.geometry.coordinates;
          var props = feature.properties;
          var marker = L.circleMarker([c[1], c[0]], {
            // 24 px across at least: a tap target (WCAG 2.5.8).
            radius: 12, weight: 2, color: "#ffffff", fillOpacity: 0.9,
            fillColor: COLORS[props.state] || "#333333"
          });
          marker.bindPopup(popup(props));
          cluster.addLayer(marker);
        });
        if (status) status.textContent = "";
      })
      .catch(function (error) {
        if (error.name === "AbortError") return;
        if (status) status.textContent = Portal.t("map_load_failed");
      });
  }

  map.on("moveend", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(load, 250);
  });
  load();

  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    var box = L.DomUtil.create("div", "legend");
    Object.keys(COLORS).forEach(function (state) {
      var row = L.DomUtil.create("div", "legend-row", box);
      var swatch = L.DomUtil.create("span", "swatch state-" + state, row);
      swatch.setAttribute("aria-hidden", "true");
      var label = L.DomUtil.create("span", "", row);
      label.textContent = Portal.t("state_" + state);
    });
    return box;
  };
  legend.addTo(map);

  /* The facility layer (lamps, covers, inlets ...): off until the resident turns it on,
   * loaded by box from the public facilities endpoint at street zoom, public fields only. */
  var FACILITY_COLORS = {
    intact: "#16a34a", damaged: "#d97706", missing: "#dc2626", occupied: "#7c3aed", abandoned: "#6b7280"
  };
  var facilitiesUrl = el.dataset.facilitiesUrl;
  var minZoom = Number(el.dataset.facilitiesMinZoom) || 16;
  var facilityLayer = L.layerGroup();
  var facilityPending = null;
  var facilitiesOn = false;

  function facilityPopup(props) {
    var box = document.createElement("div");
    var title = document.createElement(props.url ? "a" : "strong");
    if (props.url) title.href = props.url;
    title.textContent = props.type_name || props.type;
    var code = document.createElement("div");
    code.className = "facility-code";
    code.textContent = props.code;
    var state = document.createElement("div");
    state.textContent = Portal.t("facility_state_" + props.state);
    box.appendChild(title);
    box.appendChild(code);
    box.appendChild(state);
    return box;
  }

  function loadFacilities() {
    if (!facilitiesOn || !facilitiesUrl) return;
    if (facilityPending) facilityPending.abort();
    if (map.getZoom() < minZoom) {
      facilityLayer.clearLayers();
      if (status) status.textContent = Portal.t("facilities_zoom_in");
      return;
    }
    facilityPending = new AbortController();
    var b = map.getBounds();
    var query = new URLSearchParams();
    query.set("bbox", [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
      .map(function (v) { return v.toFixed(6); }).join(","));
    var type = new URLSearchParams(window.location.search).get("facility_type");
    if (type) query.set("type", type);
    fetch(facilitiesUrl + "?" + query.toString(), {
      signal: facilityPending.signal, headers: { Accept: "application/json" }
    })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        facilityLayer.clearLayers();
        (data.features || []).forEach(function (feature) {
          var props = feature.properties || {};
          var color = FACILITY_COLORS[props.state] || "#333333";
          var g = feature.geometry || {};
          var shape = null;
          if (g.type === "Point") {
            shape = L.circleMarker([g.coordinates[1], g.coordinates[0]], {
              radius: 7, weight: 2, color: "#ffffff", fillColor: color, fillOpacity: 0.9
            });
          } else if (g.type === "LineString") {
            shape = L.polyline(g.coordinates.map(function (c) { return [c[1], c[0]]; }), {
              color: color, weight: 5, opacity: 0.8
            });
          }
          if (!shape) return;
          shape.bindPopup(facilityPopup(props));
          facilityLayer.addLayer(shape);
        });
        if (status) status.textContent = "";
      })
      .catch(function (error) {
        if (error.name === "AbortError") return;
        if (status) status.textContent = Portal.t("map_load_failed");
      });
  }

  if (facilitiesUrl) {
    var toggle = L.control({ position: "topright" });
    toggle.onAdd = function () {
      var box = L.DomUtil.create("div", "map-layer-toggle");
      var label = L.DomUtil.create("label", "", box);
      var input = L.DomUtil.create("input", "", label);
      input.type = "checkbox";
      input.id = "facility-layer-toggle";
      var text = L.DomUtil.create("span", "", label);
      text.textContent = Portal.t("facilities_layer");
      L.DomEvent.disableClickPropagation(box);
      input.addEventListener("change", function () {
        facilitiesOn = input.checked;
        if (facilitiesOn) {
          facilityLayer.addTo(map);
          loadFacilities();
        } else {
          if (facilityPending) facilityPending.abort();
          map.removeLayer(facilityLayer);
          facilityLayer.clearLayers();
          if (status) status.textContent = "";
        }
      });
      return box;
    };
    toggle.addTo(map);
    map.on("moveend", function () {
      window.clearTimeout(facilityTimer);
      facilityTimer = window.setTimeout(loadFacilities, 250);
    });
  }
  var facilityTimer = null;
})();
