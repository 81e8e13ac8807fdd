/* The inspection form on a phone: a draft that survives a dropped connection (kept in the
 * browser, saved to the server whenever it can); the position comes from position.js. The
 * browser copy is removed only once the server has the report: on the page of the submitted
 * report. */
(function () {
  "use strict";
  var submitted = document.getElementById("submitted-report");
  if (submitted) {
    try { window.localStorage.removeItem(submitted.dataset.draftKey); } catch (e) { /* ignore */ }
    return;
  }
  var form = document.getElementById("inspection-form");
  if (!form || !window.Portal) return;
  var key = form.dataset.draftKey;
  // The phone's fix travels with its coordinates: restoring one without the other would
  // turn a measured position into a typed one.
  var KEPT_HIDDEN = ["accuracy", "fix_time", "position_source"];
  var serverSaved = parseInt(form.dataset.serverSaved || "0", 10);
  var status = document.getElementById("draft-status");
  // The last form of this site on this phone: if the server never got its draft (the
  // connection dropped from the start), reopening the form takes it up again.
  var pointer = "inspection-site-" + form.dataset.site;
  try {
    var earlier = window.localStorage.getItem(pointer);
    var left = earlier && JSON.parse(window.localStorage.getItem(earlier) || "null");
    if (!serverSaved && earlier && earlier !== key && left && !left.synced) {
      key = earlier;
      form.elements.client_key.value = earlier.replace(/^inspection-/, "");
    }
    window.localStorage.setItem(pointer, key);
  } catch (e) { /* no storage: the server's draft is all there is */ }

  function fields() {
    var data = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "file" || el.type === "submit" || el.name === "csrf_token") return;
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      data[el.name] = el.value;
    });
    return data;
  }

  function read() {
    try { return JSON.parse(window.localStorage.getItem(key) || "null"); } catch (e) { return null; }
  }

  function write(copy) {
    try { window.localStorage.setItem(key, JSON.stringify(copy)); } catch (e) { /* full */ }
  }

  // The browser's copy replaces what the server sent only if the server never got it.
  function restore() {
    var copy = read();
    if (!copy || !copy.fields || copy.synced || copy.savedAt <= serverSaved) return;
    Object.keys(copy.fields).forEach(function (name) {
      var els = form.querySelectorAll('[name="' + name + '"]');
      Array.prototype.forEach.call(els, function (el) {
        if (el.type === "radio") el.checked = el.value === copy.fields[name];
        else if (el.type !== "hidden" || KEPT_HIDDEN.indexOf(name) >= 0) el.value = copy.fields[name];
      });
    });
    if (status) status.textContent = Portal.t("draft_local");
  }

  var timer = null;
  function keep() {
    write({ fields: fields(), savedAt: Date.now(), synced: false });
    window.clearTimeout(timer);
    timer = window.setTimeout(send, 3000);
  }

  function send() {
    var body = new FormData();
    var copy = read();
    var data = fields();
    Object.keys(data).forEach(function (name) { body.append(name, data[name]); });
    body.append("action", "save");
    body.append("csrf_token", Portal.csrfToken());
    // form.action would be the buttons named "action": read the attribute.
    fetch(form.getAttribute("action") || window.location.href, {
      method: "POST", body: body, credentials: "same-origin", headers: { "X-Requested-With": "fetch" }
    })
      .then(function (response) {
        var latest = read();
        if (response.ok && copy && latest && latest.savedAt === copy.savedAt) {
          latest.synced = true;  // nothing typed since: the server has it all
          write(latest);
        }
        if (status) status.textContent = response.ok ? Portal.t("draft_saved") : Portal.t("draft_local");
      })
      .catch(function () { if (status) status.textContent = Portal.t("draft_local"); });
  }

  restore();
  form.addEventListener("input", keep);
  form.addEventListener("change", keep);
  form.addEventListener("submit", function () {
    window.clearTimeout(timer);  // the form itself goes now; keep the copy until it arrives
    write({ fields: fields(), savedAt: Date.now(), synced: false });
  });
})();
