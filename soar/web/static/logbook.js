// An airfield's logbook for a day (the rows of `soar logbook`), with a date picker and
// the CSV of the same day.
"use strict";

(async function () {
  const code = decodeURIComponent(window.location.pathname.split("/")[2] || "");
  const params = new URLSearchParams(window.location.search);
  const dateInput = document.getElementById("date"), tzInput = document.getElementById("tz");
  dateInput.value = params.get("date") || new Date().toISOString().slice(0, 10);
  tzInput.value = params.get("tz") || "UTC";
  const query = new URLSearchParams({date: dateInput.value, tz: tzInput.value});
  const path = "/api/v1/airfields/" + encodeURIComponent(code) + "/logbook?";
  document.getElementById("csv").href = path + query + "&format=csv";
  let body;
  try { body = await soar.api(path + query); }
  catch (err) { soar.status(err.message); soar.ready = true; return; }
  document.getElementById("title").textContent =
    body.airfield.ident + " " + body.airfield.name + ": " + body.date + " (" + body.tz + ")";
  const tbody = document.getElementById("rows");
  const rwy = (id, inferred) => id ? id + (inferred ? "*" : "") : "-";
  for (const r of body.rows) {
    const cells = [r.date, r.movement, soar.time(r.takeoff, true), rwy(r.takeoff_runway, r.takeoff_runway_inferred),
      soar.time(r.landing, true), rwy(r.landing_runway, r.landing_runway_inferred),
      r.registration || r.aircraft_address, r.competition_number || r.callsign || "-",
      r.aircraft_model || r.aircraft_type || "-", r.launch_method || "-", r.tow_plane || "-",
      r.release_height_m === null ? "-" : r.release_height_m, r.duration || "-", r.other_end || "-"];
    const tr = soar.el("tr", {"data-flight": r.flight_id});
    for (const c of cells) tr.appendChild(soar.el("td", {}, c));
    tr.addEventListener("click", () => { window.location.href = "/flights/" + encodeURIComponent(r.flight_id); });
    tbody.appendChild(tr);
  }
  document.getElementById("count").textContent = body.rows.length + " flights";
  soar.ready = true;
})();
