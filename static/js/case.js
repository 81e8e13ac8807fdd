/* Case page: a small map with the case's place. */
(function () {
  "use strict";
  var el = document.getElementById("case-map");
  if (!el || !window.L || !window.Portal) return;
  var lat = Number(el.dataset.lat);
  var lng = Number(el.dataset.lng);
  if (!isFinite(lat) || !isFinite(lng)) return;
  var map = L.map(el, { scrollWheelZoom: false, maxZoom: 19 }).setView([lat, lng], 17);
  Portal.tileLayer(map, el);
  // Only a mark of the place: nothing happens on a tap, so it is no tap target.
  L.circleMarker([lat, lng], { radius: 10, color: "#ffffff", weight: 3, fillColor: "#b91c1c",
    fillOpacity: 0.95, interactive: false }).addTo(map);
})();
