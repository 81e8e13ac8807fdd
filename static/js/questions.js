/* Show only the extra questions of the chosen category (all stay visible without script). */
(function () {
  "use strict";
  var select = document.getElementById("category");
  var blocks = document.querySelectorAll(".category-questions");
  if (!select || !blocks.length) return;
  function show() {
    blocks.forEach(function (block) {
      block.hidden = block.getAttribute("data-category") !== select.value;
    });
  }
  select.addEventListener("change", show);
  show();
})();
