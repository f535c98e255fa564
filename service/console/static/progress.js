// Live progress of a batch: polls the job's JSON and updates the bar, the counts and each
// item's row. Without this script the page offers a plain "Refresh" link.
(function () {
  "use strict";
  var job = document.getElementById("job");
  if (!job || !window.fetch) { return; }
  var url = job.getAttribute("data-progress");
  var bar = document.getElementById("job-progress");
  var body = document.getElementById("items");
  var refresh = document.getElementById("refresh");
  if (refresh) { refresh.hidden = true; }

  function cell(row, text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) { td.className = className; }
    row.appendChild(td);
  }

  function render(data) {
    var finished = data.done + data.failed;
    bar.max = data.total;
    bar.value = finished;
    bar.textContent = finished + " of " + data.total;
    document.getElementById("job-status").textContent = data.status_label;
    ["done", "failed", "raised", "updated"].forEach(function (name) {
      document.getElementById("count-" + name).textContent = data[name];
    });
    document.getElementById("job-finished").textContent = finished;
    document.getElementById("job-failed").textContent = data.failed;
    bar.setAttribute("data-outcome", data.outcome);
    document.getElementById("job-all-failed").hidden = data.outcome !== "failed";
    job.setAttribute("data-status", data.status);
    var rows = document.createDocumentFragment();
    data.items.forEach(function (item) {
      var row = document.createElement("tr");
      cell(row, String(item.position + 1));
      cell(row, item.name, "item-name");
      if (item.video) {
        var note = document.createElement("span");
        note.className = "muted";
        note.textContent = item.video;
        row.lastChild.append(document.createElement("br"), note);
      }
      cell(row, item.error ? item.status_label + ": " + item.error : item.status_label);
      cell(row, item.faces === null ? "—" : String(item.faces));
      cell(row, item.alert_label);
      rows.appendChild(row);
    });
    body.replaceChildren(rows);
  }

  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (data) {
        render(data);
        if (data.status !== "done") { window.setTimeout(poll, 1000); }
      })
      .catch(function () { if (refresh) { refresh.hidden = false; } });
  }

  if (job.getAttribute("data-status") !== "done") { poll(); }
}());
