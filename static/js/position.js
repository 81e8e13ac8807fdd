/* The supervisor's position on a report or a check: "use my position" fills the coordinates
 * with the Geolocation API's accuracy and fix time; typing the coordinates clears those, so
 * the office sees the position as typed. Without this script the coordinates are typed. */
(function () {
  "use strict";
  var locate = document.getElementById("use-location");
  var lat = document.getElementById("lat");
  var lng = document.getElementById("lng");
  var accuracy = document.getElementById("accuracy");
  var fixTime = document.getElementById("fix_time");
  var source = document.getElementById("position_source");
  var line = document.getElementById("location-status");
  if (!locate || !lat || !lng || !accuracy || !fixTime || !source || !window.Portal) return;

  function say(text) { if (line) line.textContent = text; }

  function typed() {
    accuracy.value = "";
    fixTime.value = "";
    source.value = "typed";
    say(Portal.t("position_typed"));
  }
  lat.addEventListener("input", typed);
  lng.addEventListener("input", typed);

  if (!navigator.geolocation) {
    locate.hidden = true;
    return;
  }
  locate.addEventListener("click", function () {
    say(Portal.t("locating"));
    navigator.geolocation.getCurrentPosition(function (found) {
      lat.value = found.coords.latitude.toFixed(6);
      lng.value = found.coords.longitude.toFixed(6);
      accuracy.value = String(Math.round(found.coords.accuracy * 10) / 10);
      fixTime.value = String(Math.round(found.timestamp));
      source.value = "device";
      say(Portal.t("position_measured").replace("%(n)s", String(Math.round(found.coords.accuracy))));
      // Lets the draft keeper (inspect.js) save the new position.
      lat.dispatchEvent(new Event("change", { bubbles: true }));
    }, function () {
      say(Portal.t("position_failed"));
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 0 });
  });
})();
