/* Back office: place a project on the map. A click sets the point; "draw a line" adds a
 * vertex per click and writes the GeoJSON LineString into the form. */
(function () {
  "use strict";
  var el = document.getElementById("project-map");
  if (!el || !window.L || !window.Portal) return;
  var lat = document.getElementById("lat");
  var lng = document.getElementById("lng");
  var geometry = document.getElementById("geometry");
  var lineMode = document.getElementById("draw-line");
  var clear = document.getElementById("clear-shape");
  var center = Portal.parseCenter(el.dataset.center, [30.2741, 120.1551]);
  var map = L.map(el, { maxZoom: 19 }).setView(center, 15);
  Portal.tileLayer(map, el);
  var marker = null;
  var line = L.polyline([], { color: "#b45309", weight: 5 }).addTo(map);

  function showPoint(latlng) {
    if (marker) marker.setLatLng(latlng); else marker = L.circleMarker(latlng, { radius: 9 }).addTo(map);
  }

  function writeLine() {
    var points = line.getLatLngs().map(function (p) { return [Number(p.lng.toFixed(6)), Number(p.lat.toFixed(6))]; });
    geometry.value = points.length > 1 ? JSON.stringify({ type: "LineString", coordinates: points }) : "";
  }

  try {
    var existing = geometry.value ? JSON.parse(geometry.value) : null;
    if (existing && existing.type === "LineString") {
      line.setLatLngs(existing.coordinates.map(function (c) { return [c[1], c[0]]; }));
      map.fitBounds(line.getBounds().pad(0.3));
    }
  } catch (e) { /* the server says what is wrong */ }
  if (!geometry.value && lat.value && lng.value) {
    showPoint([Number(lat.value), Number(lng.value)]);
    map.setView([Number(lat.value), Number(lng.value)], 16);
  }

  map.on("click", function (event) {
    if (lineMode && lineMode.checked) {
      line.addLatLng(event.latlng);
      writeLine();
      lat.value = "";
      lng.value = "";
      if (marker) { map.removeLayer(marker); marker = null; }
    } else {
      showPoint(event.latlng);
      lat.value = event.latlng.lat.toFixed(6);
      lng.value = event.latlng.lng.toFixed(6);
      line.setLatLngs([]);
      geometry.value = "";
    }
  });
  if (clear) {
    clear.addEventListener("click", function () {
      line.setLatLngs([]);
      geometry.value = "";
      if (marker) { map.removeLayer(marker); marker = null; }
      lat.value = "";
      lng.value = "";
    });
  }
})();
