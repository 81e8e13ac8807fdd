/* The inspection form on a phone: position from the phone, and a draft that survives a
 * dropped connection (kept in the browser, saved to the server whenever it can). */
(function () {
  "use strict";
  var form = document.getElementById("inspection-form");
  if (!form || !window.Portal) return;
  var key = form.dataset.draftKey;
  var status = document.getElementById("draft-status");
  var lat = document.getElementById("lat");
  var lng = document.getElementById("lng");

  function fields() {
    var data = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "file" || el.type === "submit" || el.name === "csrf_token") return;
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      data[el.name] = el.value;
    });
    return data;
  }

  function restore() {
    var saved;
    try { saved = JSON.parse(window.localStorage.getItem(key) || "null"); } catch (e) { saved = null; }
    if (!saved) return;
    Object.keys(saved).forEach(function (name) {
      var els = form.querySelectorAll('[name="' + name + '"]');
      Array.prototype.forEach.call(els, function (el) {
        if (el.type === "radio") el.checked = el.value === saved[name];
        else if (!el.value) el.value = saved[name];
      });
    });
  }

  var timer = null;
  function keep() {
    try { window.localStorage.setItem(key, JSON.stringify(fields())); } catch (e) { /* full */ }
    window.clearTimeout(timer);
    timer = window.setTimeout(send, 3000);
  }

  function send() {
    var body = new FormData();
    var data = fields();
    Object.keys(data).forEach(function (name) { body.append(name, data[name]); });
    body.append("action", "save");
    body.append("csrf_token", Portal.csrfToken());
    fetch(form.action || window.location.href, {
      method: "POST", body: body, credentials: "same-origin", headers: { "X-Requested-With": "fetch" }
    })
      .then(function (response) {
        if (status) status.textContent = response.ok ? Portal.t("draft_saved") : Portal.t("draft_local");
      })
      .catch(function () { if (status) status.textContent = Portal.t("draft_local"); });
  }

  restore();
  form.addEventListener("input", keep);
  form.addEventListener("change", keep);
  form.addEventListener("submit", function (event) {
    if (event.submitter && event.submitter.value === "submit") {
      try { window.localStorage.removeItem(key); } catch (e) { /* ignore */ }
    }
  });

  var locate = document.getElementById("use-location");
  var line = document.getElementById("location-status");
  if (locate && navigator.geolocation) {
    locate.addEventListener("click", function () {
      if (line) line.textContent = Portal.t("locating");
      navigator.geolocation.getCurrentPosition(function (found) {
        lat.value = found.coords.latitude.toFixed(6);
        lng.value = found.coords.longitude.toFixed(6);
        if (line) line.textContent = Portal.t("location_found");
        keep();
      }, function () {
        if (line) line.textContent = Portal.t("location_failed");
      }, { enableHighAccuracy: true, timeout: 15000 });
    });
  } else if (locate) {
    locate.hidden = true;
  }
})();
