// A flight page: its track on a map, its barogram, what is known of it, downloads.
"use strict";

(async function () {
  const id = decodeURIComponent(window.location.pathname.split("/")[2] || "");
  const base = "/api/v1/flights/" + encodeURIComponent(id);
  let flight, fixes;
  try {
    [flight, fixes] = await Promise.all([soar.api(base), soar.api(base + "/fixes")]);
  } catch (err) { soar.status(err.message); return; }
  document.getElementById("title").textContent = soar.name(flight) + " " + (flight.takeoff_time || flight.started_at || "");
  const facts = document.getElementById("facts");
  const rows = [["aircraft", flight.aircraft_address], ["registration", flight.registration],
    ["callsign", flight.callsign], ["model", flight.model], ["kind", flight.kind],
    ["takeoff", flight.takeoff_time], ["from", flight.departure_airport],
    ["takeoff runway", flight.takeoff_runway], ["landing", flight.landing_time],
    ["to", flight.arrival_airport], ["landing runway", flight.landing_runway],
    ["launch", flight.launch_method], ["end", flight.end_reason || (flight.active ? "in the air" : "")]];
  for (const [k, v] of rows) {
    if (v === null || v === undefined || v === "") continue;
    const tr = soar.el("tr");
    tr.appendChild(soar.el("th", {}, k));
    tr.appendChild(soar.el("td", {}, v));
    facts.appendChild(tr);
  }
  for (const fmt of ["igc", "kml", "geojson"]) document.getElementById(fmt).href = base + "/track." + fmt;
  const f = fixes.fields, lat = f.indexOf("latitude"), lon = f.indexOf("longitude");
  const alt = f.indexOf("altitude_m"), t = f.indexOf("time");
  const map = await soar.plainMap("flightmap");
  const line = L.polyline(fixes.fixes.map((x) => [x[lat], x[lon]]), {className: "track", weight: 3}).addTo(map);
  if (fixes.fixes.length) map.fitBounds(line.getBounds(), {padding: [20, 20]}); else map.setView([48, 10], 5);
  soar.airfieldLayer(map)();
  soar.barogram(document.getElementById("baro"), fixes.fixes.map((x) => x[t]), fixes.fixes.map((x) => x[alt]));
  soar.ready = true;
})();
