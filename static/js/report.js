/* The report form: place the pin (click, location, photo GPS), preview photos, count
 * characters, and offer "me too" on open cases nearby. The form works without all this. */
(function () {
  "use strict";
  if (!window.Portal) return;
  var latInput = document.getElementById("lat");
  var lngInput = document.getElementById("lng");
  var category = document.getElementById("category");
  var description = document.getElementById("description");
  var photos = document.getElementById("photos");
  var statusLine = document.getElementById("location-status");
  var nearby = document.getElementById("nearby");
  var nearbyList = document.getElementById("nearby-list");
  var nearbyChecked = document.getElementById("nearby-checked");
  var map = null;
  var marker = null;
  var placedByPhoto = false;

  function say(key) {
    if (statusLine) statusLine.textContent = Portal.t(key);
  }

  function position() {
    var lat = parseFloat(latInput.value);
    var lng = parseFloat(lngInput.value);
    if (!isFinite(lat) || !isFinite(lng) || Math.abs(lat) > 90 || Math.abs(lng) > 180) return null;
    return [lat, lng];
  }

  function showMarker(lat, lng, zoom) {
    if (!map) return;
    if (marker) {
      marker.setLatLng([lat, lng]);
    } else {
      marker = L.marker([lat, lng], { draggable: true, keyboard: true }).addTo(map);
      marker.on("dragend", function () {
        var p = marker.getLatLng();
        setPosition(p.lat, p.lng, false);
      });
    }
    map.setView([lat, lng], zoom || Math.max(map.getZoom(), 16));
  }

  function setPosition(lat, lng, moveMap, zoom) {
    latInput.value = lat.toFixed(6);
    lngInput.value = lng.toFixed(6);
    if (moveMap !== false) showMarker(lat, lng, zoom);
    checkNearby();
  }

  /* The map, if Leaflet loaded. */
  var mapEl = document.getElementById("report-map");
  if (mapEl && window.L) {
    var center = Portal.parseCenter(mapEl.dataset.center, [30.2741, 120.1551]);
    map = L.map(mapEl, { keyboard: true, maxZoom: 19 }).setView(center, Number(mapEl.dataset.zoom) || 15);
    Portal.tileLayer(map, mapEl);
    map.on("click", function (event) {
      placedByPhoto = false;
      setPosition(event.latlng.lat, event.latlng.lng);
    });
    var start = position();
    if (start) showMarker(start[0], start[1], 17);
  }

  [latInput, lngInput].forEach(function (input) {
    if (!input) return;
    input.addEventListener("change", function () {
      var p = position();
      placedByPhoto = false;
      if (p) showMarker(p[0], p[1]);
      checkNearby();
    });
  });

  /* "Use my location". */
  var locate = document.getElementById("use-location");
  if (locate) {
    if (!navigator.geolocation) {
      locate.hidden = true;
    } else {
      locate.addEventListener("click", function () {
        say("locating");
        navigator.geolocation.getCurrentPosition(function (found) {
          placedByPhoto = false;
          setPosition(found.coords.latitude, found.coords.longitude, true, 17);
          say("location_found");
        }, function () {
          say("location_failed");
        }, { enableHighAccuracy: true, timeout: 10000 });
      });
    }
  }

  /* Characters left in the description. */
  var counter = document.getElementById("description-count");
  if (description && counter) {
    var max = Number(description.getAttribute("maxlength")) || 2000;
    var update = function () {
      counter.textContent = Portal.t("chars_left").replace("%(n)s", String(max - description.value.length));
    };
    description.addEventListener("input", update);
    update();
  }

  /* Photos: previews, count, and the place from the first photo with GPS. */
  if (photos) {
    var previews = document.getElementById("photo-previews");
    var photosStatus = document.getElementById("photos-status");
    photos.addEventListener("change", function () {
      var files = Array.prototype.slice.call(photos.files || []);
      var max = Number(photos.dataset.max) || 5;
      if (photosStatus) photosStatus.textContent = files.length > max ? Portal.t("too_many_photos") : "";
      if (previews) {
        previews.textContent = "";
        files.slice(0, max).forEach(function (file) {
          var img = document.createElement("img");
          img.alt = file.name;
          img.src = URL.createObjectURL(file);
          img.addEventListener("load", function () { URL.revokeObjectURL(img.src); });
          previews.appendChild(img);
        });
      }
      if (!window.exifr || (position() && !placedByPhoto)) return;
      files.reduce(function (chain, file) {
        return chain.then(function (done) {
          if (done) return true;
          return window.exifr.gps(file).then(function (gps) {
            if (!gps || !isFinite(gps.latitude) || !isFinite(gps.longitude)) return false;
            placedByPhoto = true;
            setPosition(gps.latitude, gps.longitude, true, 17);
            say("location_from_photo");
            return true;
          }).catch(function () { return false; });
        });
      }, Promise.resolve(false));
    });
  }

  /* Open cases of the same category nearby: offer "me too" before a new report. */
  var nearbyTimer = null;
  var nearbyRequest = null;

  function renderNearby(found) {
    nearbyList.textContent = "";
    found.forEach(function (item) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = item.url;
      link.textContent = item.number;
      li.appendChild(link);
      li.appendChild(document.createTextNode(" " + item.category + " · " + item.state_label));
      var text = document.createElement("p");
      text.textContent = item.description.length > 140 ? item.description.slice(0, 140) + "…" : item.description;
      li.appendChild(text);
      var distance = document.createElement("p");
      distance.className = "hint";
      distance.textContent = Portal.t("meters_away").replace("%(n)s", String(Math.round(item.distance_m)));
      li.appendChild(distance);
      var form = document.createElement("form");
      form.method = "post";
      form.action = item.follow_url;
      var token = document.createElement("input");
      token.type = "hidden";
      token.name = "csrf_token";
      token.value = Portal.csrfToken();
      var button = document.createElement("button");
      button.type = "submit";
      button.className = "button secondary";
      button.textContent = Portal.t("me_too");
      form.appendChild(token);
      form.appendChild(button);
      li.appendChild(form);
      nearbyList.appendChild(li);
    });
    nearby.hidden = found.length === 0;
    if (nearbyChecked) nearbyChecked.value = "1";
  }

  function checkNearby() {
    if (!nearby || !nearbyList || !category) return;
    window.clearTimeout(nearbyTimer);
    nearbyTimer = window.setTimeout(function () {
      var p = position();
      if (!p || !category.value) return;
      if (nearbyRequest) nearbyRequest.abort();
      nearbyRequest = new AbortController();
      var query = new URLSearchParams({ lat: String(p[0]), lng: String(p[1]), category: category.value });
      fetch(nearby.dataset.nearbyUrl + "?" + query.toString(), {
        signal: nearbyRequest.signal, headers: { Accept: "application/json" }
      })
        .then(function (response) { return response.ok ? response.json() : { cases: [] }; })
        .then(function (data) { renderNearby(data.cases || []); })
        .catch(function () { /* the server checks again on submit */ });
    }, 400);
  }

  if (category) category.addEventListener("change", checkNearby);
})();
