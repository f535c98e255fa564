// Drag and drop for the monitor's submission form: files dropped on the zone become the
// file input's selection (the input itself works with the keyboard and without this).
(function () {
  "use strict";
  var zone = document.getElementById("dropzone");
  if (!zone) { return; }
  var input = document.getElementById(zone.getAttribute("data-for"));
  var said = document.getElementById("dropped");
  function show() {
    var n = input.files ? input.files.length : 0;
    said.textContent = n ? n + (n === 1 ? " file" : " files") + " chosen" : "";
  }
  zone.addEventListener("dragover", function (event) {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      show();
    }
  });
  input.addEventListener("change", show);
  // One batch per click: a second press while the upload runs would queue it twice.
  var form = document.getElementById("submit-form");
  form.addEventListener("submit", function () {
    var button = form.querySelector("button[type=submit]");
    window.setTimeout(function () {
      button.disabled = true;
      button.textContent = "Submitting…";
    }, 0);
  });
}());
