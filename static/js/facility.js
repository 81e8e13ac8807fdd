/* Facility page: a small map with the facility's point or line. */
(function () {
  "use strict";
  var el = document.getElementById("facility-map");
  if (!el || !window.L || !window.Portal) return;
  var lat = Number(el.dataset.lat);
  var lng = Number(el.dataset.lng);
  if (!isFinite(lat) || !isFinite(lng)) return;
  var map = L.map(el, { scrollWheelZoom: false, maxZoom: 19 }).setView([lat, lng], 17);
  Portal.tileLayer(map, el);
  var geometry = null;
  try { geometry = JSON.parse(el.dataset.geometry || "null"); } catch (e) { geometry = null; }
  if (geometry && geometry.type === "LineString") {
    var line = L.geoJSON(geometry, { style: { color: "#b91c1c", weight: 6 }, interactive: false });
    line.addTo(map);
    map.fitBounds(line.getBounds(), { maxZoom: 18 });
  } else {
    L.circleMarker([lat, lng], { radius: 10, color: "#ffffff", weight: 3, fillColor: "#b91c1c",
      fillOpacity: 0.95, interactive: false }).addTo(map);
  }
})();
