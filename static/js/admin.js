/* Back office: live countdowns to deadlines, and reply templates. */
(function () {
  "use strict";
  if (!window.Portal) return;

  function unit(key, n) {
    return Portal.t(key).replace("%(n)s", String(n));
  }

  function describe(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var parts = [];
    if (minutes >= 1440) parts.push(unit("unit_day", Math.floor(minutes / 1440)));
    if (minutes % 1440 >= 60) parts.push(unit("unit_hour", Math.floor((minutes % 1440) / 60)));
    parts.push(unit("unit_minute", minutes % 60));
    return Portal.t(ms < 0 ? "countdown_late" : "countdown_left").replace("%(t)s", parts.join(" "));
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      var due = Date.parse(el.dataset.deadline);
      if (isNaN(due)) return;
      el.textContent = " (" + describe(due - now) + ")";
      el.classList.toggle("late", due < now);
    });
  }
  tick();
  window.setInterval(tick, 30000);

  document.querySelectorAll("select.reply-template").forEach(function (select) {
    select.addEventListener("change", function () {
      var target = document.getElementById(select.dataset.target);
      if (target && select.value) target.value = select.value;
    });
  });
})();
