/* Back office: the zones on a map. */
(function () {
  "use strict";
  var el = document.getElementById("zones-map");
  if (!el || !window.L || !window.Portal) return;
  var data;
  try { data = JSON.parse(el.dataset.zones); } catch (e) { return; }
  var map = L.map(el, { maxZoom: 19 });
  Portal.tileLayer(map, el);
  var weights = { district: 3, street: 2, grid: 1 };
  var layer = L.geoJSON(data, {
    style: function (feature) {
      return { weight: weights[feature.properties.level] || 1, fillOpacity: 0.05, color: "#0b4f8a" };
    },
    onEachFeature: function (feature, shape) {
      var text = document.createElement("span");
      text.textContent = feature.properties.code + " " + feature.properties.name;
      shape.bindTooltip(text);
    }
  }).addTo(map);
  if (layer.getBounds().isValid()) map.fitBounds(layer.getBounds()); else map.setView([30.27, 120.15], 13);
})();
