/* A project's page: its site (point or line) and the related cases on a small map. */
(function () {
  "use strict";
  var el = document.getElementById("sites-map");
  if (!el || !window.L || !window.Portal) return;
  var shapes, cases;
  try {
    shapes = JSON.parse(el.dataset.sites);
    cases = JSON.parse(el.dataset.cases || "[]");
  } catch (e) { return; }
  var map = L.map(el, { maxZoom: 19 });
  Portal.tileLayer(map, el);
  var site = L.geoJSON({ type: "GeometryCollection", geometries: shapes }, {
    pointToLayer: function (feature, latlng) {
      return L.circleMarker(latlng, { radius: 9, color: "#ffffff", weight: 2, fillColor: "#b45309", fillOpacity: 0.95, interactive: false });
    },
    style: function () { return { color: "#b45309", weight: 5, interactive: false }; }
  });
  // Markers that open a popup are tap targets: 24 px across at least (WCAG 2.5.8).
  var markers = cases.map(function (c) {
    var link = document.createElement("a");
    link.href = c.url;
    link.textContent = c.label;
    return L.circleMarker([c.lat, c.lng], { radius: 12, color: "#ffffff", weight: 2, fillColor: "#1d4ed8", fillOpacity: 0.9 })
      .bindPopup(link);
  });
  var bounds = site.getBounds();
  markers.forEach(function (m) { bounds.extend(m.getLatLng()); });
  // The view must exist before vector layers are added.
  if (bounds.isValid()) map.fitBounds(bounds.pad(0.2)); else map.setView([30.27, 120.15], 13);
  site.addTo(map);
  markers.forEach(function (m) { m.addTo(map); });
})();
