// The inbox's keyboard: j/k move between alerts, s/n answer "same person" / "not the same
// person", c/d confirm / dismiss, u undoes the last change. Every key presses a button the
// page already has, so without this script the same forms work with Tab and Enter.
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("ol.rows article.alert"));
  var KEPT = "twinwatch-inbox-row";
  var current = -1;

  function select(index) {
    if (!rows.length) { return; }
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach(function (row, i) { row.classList.toggle("current", i === current); });
    rows[current].focus();
  }

  function typing(target) {
    var name = target && target.tagName;
    var kind = name === "INPUT" ? String(target.type).toLowerCase() : "";
    return (name === "INPUT" && kind !== "checkbox" && kind !== "radio") ||
      name === "SELECT" || name === "TEXTAREA" ||
      Boolean(target && target.isContentEditable);
  }

  function press(key) {
    if (key === "u") {
      var undo = document.getElementById("undo");
      if (undo) { undo.click(); }
      return Boolean(undo);
    }
    if (current < 0) { return false; }
    var button = rows[current].querySelector('button[data-key="' + key + '"]');
    if (!button) { return false; }
    try { window.sessionStorage.setItem(KEPT, String(current)); } catch (e) { /* private mode */ }
    button.click();
    return true;
  }

  rows.forEach(function (row, i) {
    row.addEventListener("focusin", function () {
      current = i;
      rows.forEach(function (other, j) { other.classList.toggle("current", j === i); });
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var key = event.key;
    var handled = false;
    if (key === "j") { select(current + 1); handled = true; }
    else if (key === "k") { select(current < 0 ? 0 : current - 1); handled = true; }
    else if ("sncdu".indexOf(key) >= 0 && key.length === 1) { handled = press(key); }
    if (handled) { event.preventDefault(); }
  });

  var kept = null;
  try { kept = window.sessionStorage.getItem(KEPT); window.sessionStorage.removeItem(KEPT); }
  catch (e) { kept = null; }
  if (kept !== null && rows.length) { select(parseInt(kept, 10) || 0); }
}());
