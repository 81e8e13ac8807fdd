// "Copy link" on the confirmation: the Clipboard API where the browser has it; without it
// (or without scripts) the button stays hidden and the link is selectable in its field.
(function () {
  "use strict";
  var button = document.getElementById("copy-link");
  if (!button || !navigator.clipboard || !window.isSecureContext) {
    return;
  }
  var field = document.getElementById(button.getAttribute("data-copy"));
  var status = document.getElementById("copy-status");
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value).then(
      function () {
        status.textContent = button.getAttribute("data-copied");
      },
      function () {
        field.select();
        status.textContent = button.getAttribute("data-failed");
      }
    );
  });
})();
