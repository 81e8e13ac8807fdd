/* Supervisors: the month's sites on a small map (points and lines). */
(function () {
  "use strict";
  var el = document.getElementById("sites-map");
  if (!el || !window.L || !window.Portal) return;
  var shapes;
  try { shapes = JSON.parse(el.dataset.sites); } catch (e) { return; }
  var map = L.map(el, { maxZoom: 19 });
  Portal.tileLayer(map, el);
  var layer = L.geoJSON({ type: "GeometryCollection", geometries: shapes }, {
    pointToLayer: function (feature, latlng) {
      return L.circleMarker(latlng, { radius: 9, color: "#ffffff", weight: 2, fillColor: "#b45309", fillOpacity: 0.95 });
    },
    style: function () { return { color: "#b45309", weight: 5 }; }
  }).addTo(map);
  if (layer.getBounds().isValid()) map.fitBounds(layer.getBounds().pad(0.2)); else map.setView([30.27, 120.15], 13);
})();
