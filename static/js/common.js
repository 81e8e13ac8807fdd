/* Shared helpers for every page. No inline script anywhere: the CSP forbids it.
 * Translated strings come from <body data-i18n>, rendered by the server. Keys:
 * state_submitted, state_accepted, state_dispatched, state_in_progress, state_resolved,
 * state_closed, state_rejected, state_duplicate, map_load_failed, map_zoom_in, map_zoom_out, map_library, chars_left, locating,
 * location_found, location_failed, location_from_photo, too_many_photos, meters_away, me_too,
 * position_measured, position_typed, position_failed.
 */
(function () {
  "use strict";
  var strings = {};
  try {
    strings = JSON.parse(document.body.dataset.i18n || "{}");
  } catch (e) {
    strings = {};
  }

  function t(key) {
    return Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function showFallback(el, map) {
    var shrinks = !el.classList.contains("tiles-failed");
    el.classList.add("tiles-failed");
    /* The blank map is lower: tell Leaflet, or what was centred sits on the new bottom edge. */
    if (map && shrinks) map.invalidateSize();
    var id = el.dataset.fallback;
    var notice = id ? document.getElementById(id) : null;
    if (notice) notice.hidden = false;
  }

  /* Leaflet's own controls speak English: give them the page's language. */
  function translateControls(map) {
    var zoom = map.zoomControl;
    if (zoom && zoom._zoomInButton && zoom._zoomOutButton) {
      [[zoom._zoomInButton, "map_zoom_in"], [zoom._zoomOutButton, "map_zoom_out"]].forEach(function (pair) {
        pair[0].title = t(pair[1]);
        pair[0].setAttribute("aria-label", t(pair[1]));
      });
    }
    if (map.attributionControl) {
      var link = document.createElement("a");
      link.href = "https://leafletjs.com";
      link.title = t("map_library");
      link.lang = "en";
      link.textContent = "Leaflet";
      map.attributionControl.setPrefix(link.outerHTML);
    }
  }

  /* Add the configured tile layer; if tiles cannot load, say so and keep the page usable.
     Every map of the portal passes here, so its controls are translated here too. */
  function tileLayer(map, el) {
    translateControls(map);
    var url = el.dataset.tileUrl;
    if (!url) {
      showFallback(el, map);
      return null;
    }
    var layer = L.tileLayer(url, { attribution: el.dataset.tileAttribution || "", maxZoom: 19 });
    var loaded = 0;
    var errors = 0;
    layer.on("tileload", function () { loaded += 1; });
    layer.on("tileerror", function () {
      errors += 1;
      if (errors >= 3 && loaded === 0) showFallback(el, map);
    });
    window.setTimeout(function () { if (loaded === 0) showFallback(el, map); }, 8000);
    layer.addTo(map);
    return layer;
  }

  function parseCenter(text, fallback) {
    var parts = (text || "").split(",").map(Number);
    if (parts.length === 2 && parts.every(isFinite)) return parts;
    return fallback;
  }

  /* Browsers that cannot show a closed disclosure's content through CSS get the menu and
     the folded filters opened on screens wide enough for them (the widths of site.css). */
  var cssShowsFolds = window.CSS && CSS.supports && CSS.supports("selector(::details-content)");
  if (!cssShowsFolds && window.matchMedia) {
    [["#site-menu", "(min-width: 900px)"], [".phone-fold", "(min-width: 720px)"]].forEach(function (rule) {
      if (!window.matchMedia(rule[1]).matches) return;
      document.querySelectorAll(rule[0]).forEach(function (fold) { fold.open = true; });
    });
  }

  /* On a phone the saved views scroll sideways (site.css): bring the chosen one on screen. */
  document.querySelectorAll('.queue-views [aria-current="page"]').forEach(function (chosen) {
    var row = chosen.parentElement;
    if (row.scrollWidth > row.clientWidth) row.scrollLeft = chosen.offsetLeft - row.offsetLeft - 16;
  });

  window.Portal = { t: t, csrfToken: csrfToken, tileLayer: tileLayer, parseCenter: parseCenter };
})();
