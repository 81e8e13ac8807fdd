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
  var nearbyDeclined = document.getElementById("nearby-declined");
  var reportForm = document.querySelector("form.report-form");
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
    checkFacilities();
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
      checkFacilities();
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

  /* Characters left, for every field with a limit. Nothing is cut: past the limit the
   * counter says how many to remove, and the server refuses and keeps the text. */
  function attachCounter(input) {
    var max = Number(input.dataset.maxChars);
    if (!max || !reportForm) return;
    var counter = document.createElement("p");
    counter.className = "hint char-count";
    counter.id = input.id + "-count";
    counter.setAttribute("aria-live", "polite");
    input.insertAdjacentElement("afterend", counter);
    var described = input.getAttribute("aria-describedby");
    input.setAttribute("aria-describedby", (described ? described + " " : "") + counter.id);
    var update = function () {
      var left = max - input.value.length;
      var over = left < 0;
      counter.classList.toggle("over", over);
      counter.textContent = (over ? reportForm.dataset.charsOver : reportForm.dataset.charsLeft)
        .replace("%(n)s", String(Math.abs(left)));
    };
    input.addEventListener("input", update);
    update();
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-max-chars]"), attachCounter);

  /* Someone's phone or ID number in the description (the same rules as the server's
   * intake.personal_data): say, while the resident types, not to post others' details. */
  var PHONE = /(^|[^0-9])(?:(?:\+|00)?86[ -]?)?(?:1[3-9][0-9](?:[ -]?[0-9]{4}){2}|0[1-9][0-9]{1,2}-[0-9]{7,8})(?![0-9])/;
  var ID_NUMBER = /(^|[^0-9])([0-9]{17}[0-9Xx])(?![0-9A-Za-z])/g;
  var WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  function isIdNumber(text) {
    var total = 0;
    for (var i = 0; i < 17; i++) total += Number(text.charAt(i)) * WEIGHTS[i];
    return "10X98765432".charAt(total % 11) === text.charAt(17).toUpperCase();
  }
  function holdsPersonalData(text) {
    if (PHONE.test(text)) return true;
    var match;
    ID_NUMBER.lastIndex = 0;
    while ((match = ID_NUMBER.exec(text)) !== null) {
      if (isIdNumber(match[2])) return true;
    }
    return false;
  }
  var personalHint = document.getElementById("personal-data-hint");
  if (description && personalHint) {
    var checkPersonal = function () { personalHint.hidden = !holdsPersonalData(description.value); };
    description.addEventListener("input", checkPersonal);
    checkPersonal();
  }

  /* Kept photos: a ticked "Remove" dims its thumbnail (the server drops it on send). */
  Array.prototype.forEach.call(document.querySelectorAll('.kept-photos input[name="remove_photo"]'), function (box) {
    box.addEventListener("change", function () {
      var item = box.closest("li");
      if (item) item.classList.toggle("removed", box.checked);
    });
  });

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

  function renderNearby(found, offer) {
    nearbyList.textContent = "";
    found.forEach(function (item) {
      var li = document.createElement("li");
      if (item.thumb_url) {
        var img = document.createElement("img");
        img.src = item.thumb_url;
        img.alt = item.number;
        img.width = 56;
        img.height = 56;
        li.appendChild(img);
      }
      var body = document.createElement("div");
      var link = document.createElement("a");
      link.href = item.url;
      link.textContent = item.number;
      body.appendChild(link);
      body.appendChild(document.createTextNode(" " + item.state_label + " "));
      var distance = document.createElement("span");
      distance.className = "hint";
      distance.textContent = Portal.t("meters_away").replace("%(n)s", String(Math.round(item.distance_m)));
      body.appendChild(distance);
      var text = document.createElement("p");
      text.textContent = item.description.length > 60 ? item.description.slice(0, 60) + "…" : item.description;
      body.appendChild(text);
      li.appendChild(body);
      /* Posted through the separate follow form: forms cannot nest. */
      var button = document.createElement("button");
      button.type = "submit";
      button.className = "button secondary";
      button.setAttribute("form", "follow-form");
      button.setAttribute("formaction", item.follow_url);
      button.textContent = Portal.t("me_too");
      li.appendChild(button);
      nearbyList.appendChild(li);
    });
    nearby.hidden = found.length === 0;
    /* What was shown is declined by sending the report; the server offers anything else. */
    if (nearbyDeclined && found.length && offer) nearbyDeclined.value = offer;
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
        .then(function (data) { renderNearby(data.cases || [], data.offer); })
        .catch(function () { /* the server checks again on submit */ });
    }, 400);
  }

  if (category) category.addEventListener("change", checkNearby);

  /* The facilities of the category's type near the pin (lamps for 路灯不亮): markers on the
   * map and a list of radio buttons, nearest first. Picking one (in the list or on the
   * map) snaps the pin onto it. The server renders the same list without JavaScript. */
  var section = document.getElementById("facilities");
  var list = document.getElementById("facility-list");
  var facilityStatus = document.getElementById("facilities-status");
  var showButton = document.getElementById("show-facilities");
  var types = {};
  try { types = JSON.parse((section && section.dataset.types) || "{}"); } catch (e) { types = {}; }
  var facilityLayer = map ? L.layerGroup().addTo(map) : null;
  var facilityMarkers = {};
  var facilityTimer = null;
  var facilityRequest = null;
  if (showButton) showButton.parentNode.hidden = true;  /* the script lists them by itself */

  function pickedCode() {
    var checked = list && list.querySelector('input[name="facility"]:checked');
    return checked ? checked.value : "";
  }

  function highlight(code) {
    Object.keys(facilityMarkers).forEach(function (key) {
      facilityMarkers[key].setStyle(key === code
        ? { color: "#1d4ed8", weight: 4, fillColor: "#facc15", fillOpacity: 1 }
        : { color: "#ffffff", weight: 2, fillColor: "#1d4ed8", fillOpacity: 0.85 });
    });
  }

  function pick(code, lat, lng) {
    var input = list.querySelector('input[name="facility"][value="' + CSS.escape(code) + '"]');
    if (input) input.checked = true;
    latInput.value = lat.toFixed(6);
    lngInput.value = lng.toFixed(6);
    showMarker(lat, lng, 18);
    highlight(code);
    if (facilityStatus) facilityStatus.textContent = Portal.t("facility_snapped").replace("%(code)s", code);
    checkNearby();
  }

  function radio(value, text, hint, lat, lng) {
    var li = document.createElement("li");
    var label = document.createElement("label");
    label.className = "radio";
    var input = document.createElement("input");
    input.type = "radio";
    input.name = "facility";
    input.value = value;
    label.appendChild(input);
    var body = document.createElement("span");
    if (value) {
      var strong = document.createElement("strong");
      strong.textContent = text;
      body.appendChild(strong);
      var code = document.createElement("span");
      code.className = "facility-code";
      code.textContent = " " + value;
      body.appendChild(code);
      body.appendChild(document.createElement("br"));
      var small = document.createElement("span");
      small.className = "hint";
      small.textContent = hint;
      body.appendChild(small);
      input.dataset.lat = String(lat);
      input.dataset.lng = String(lng);
      input.addEventListener("change", function () { if (input.checked) pick(value, lat, lng); });
    } else {
      input.id = "facility-none";
      body.textContent = text;
      input.addEventListener("change", function () { if (input.checked) highlight(""); });
    }
    label.appendChild(body);
    li.appendChild(label);
    return { item: li, input: input };
  }

  function renderFacilities(found, radius) {
    var keep = pickedCode();
    list.textContent = "";
    if (facilityLayer) facilityLayer.clearLayers();
    facilityMarkers = {};
    var kept = false;
    found.forEach(function (f) {
      var hint = Portal.t("meters_away").replace("%(n)s", String(Math.round(f.distance_m))) + " · " + f.state_label;
      var row = radio(f.code, f.type_name, hint, f.lat, f.lng);
      if (f.code === keep) { row.input.checked = true; kept = true; }
      list.appendChild(row.item);
      if (facilityLayer) {
        var marker = L.circleMarker([f.lat, f.lng], { radius: 12, weight: 2, color: "#ffffff", fillColor: "#1d4ed8", fillOpacity: 0.85 });
        marker.bindTooltip(f.type_name + " " + f.code);
        marker.on("click", function (event) {
          L.DomEvent.stopPropagation(event);
          pick(f.code, f.lat, f.lng);
        });
        marker.addTo(facilityLayer);
        facilityMarkers[f.code] = marker;
      }
    });
    var none = radio("", Portal.t("facility_none"));
    if (!kept) none.input.checked = true;
    list.appendChild(none.item);
    highlight(kept ? keep : "");
    section.hidden = found.length === 0 && !keep;
    if (facilityStatus && !kept) {
      facilityStatus.textContent = found.length ? "" : Portal.t("facilities_none_near").replace("%(n)s", String(Math.round(radius)));
    }
  }

  function checkFacilities() {
    if (!section || !list || !category) return;
    window.clearTimeout(facilityTimer);
    facilityTimer = window.setTimeout(function () {
      var type = types[category.value];
      var p = position();
      if (!type || !p) {
        if (!type) {
          section.hidden = true;
          var none = document.getElementById("facility-none");
          if (none) none.checked = true;
          if (facilityLayer) facilityLayer.clearLayers();
        }
        return;
      }
      if (facilityRequest) facilityRequest.abort();
      facilityRequest = new AbortController();
      var query = new URLSearchParams({ type: type, lat: String(p[0]), lng: String(p[1]) });
      fetch(section.dataset.nearbyUrl + "?" + query.toString(), {
        signal: facilityRequest.signal, headers: { Accept: "application/json" }
      })
        .then(function (response) { if (!response.ok) throw new Error(String(response.status)); return response.json(); })
        .then(function (data) { renderFacilities(data.facilities || [], data.radius_m || 150); })
        .catch(function () { /* the server lists them again on send */ });
    }, 300);
  }

  if (category) category.addEventListener("change", checkFacilities);
  /* The server-rendered list: its radio buttons and markers work the same way. */
  if (list) {
    Array.prototype.forEach.call(list.querySelectorAll('input[name="facility"]'), function (input) {
      input.addEventListener("change", function () {
        if (!input.checked) return;
        if (input.value) pick(input.value, Number(input.dataset.lat), Number(input.dataset.lng));
        else highlight("");
      });
    });
    if (position() && types[category && category.value]) checkFacilities();
  }
})();
