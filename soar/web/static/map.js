// The live map: positions in the visible box from /api/v1/live (SSE), a marker per
// aircraft heard recently (in the air or on the ground) by kind with its heading and
// altitude; a click draws its active flight's track and barogram.
"use strict";

(async function () {
  const map = await soar.plainMap("map");
  const markers = soar.markers = new Map();      // aircraft id -> marker
  const trackLayer = L.layerGroup().addTo(map);
  let source = null;

  function icon(p) {
    const root = soar.el("div", {"class": "ac-body" + (p.flight_id ? "" : " ac-no-flight"),
                                 "data-address": p.aircraft_address,
                                 "data-flight": p.flight_id || ""});
    const arrow = soar.el("div", {"class": "arrow"});
    arrow.style.transform = "rotate(" + (p.track_deg || 0) + "deg)";
    const alt = p.altitude_m === null ? "" : " " + Math.round(p.altitude_m) + " m";
    root.appendChild(arrow);
    root.appendChild(soar.el("span", {"class": "label"}, soar.name(p) + alt));
    return L.divIcon({html: root, className: "ac ac-" + p.kind, iconSize: [24, 24],
                      iconAnchor: [12, 12]});
  }

  function place(p) {
    let m = markers.get(p.aircraft_id);
    if (!m) {
      m = L.marker([p.latitude, p.longitude], {icon: icon(p), keyboard: false}).addTo(map);
      m.on("click", () => select(m.position));
      markers.set(p.aircraft_id, m);
    } else {
      m.setLatLng([p.latitude, p.longitude]);
      m.setIcon(icon(p));
    }
    m.position = p;
  }

  function apply(update) {
    for (const p of update.positions) place(p);
    // A move: the changing fields of an aircraft this stream already sent in full.
    for (const row of update.moves) {
      const m = markers.get(row[0]);
      if (!m) continue;
      const p = Object.assign({}, m.position);
      update.fields.forEach((f, i) => { p[f] = row[i]; });
      place(p);
    }
    for (const id of update.gone) {
      const m = markers.get(id);
      if (m) { map.removeLayer(m); markers.delete(id); }
    }
    document.getElementById("count").textContent = markers.size + " aircraft";
    soar.updates = (soar.updates || 0) + 1;
  }

  async function select(p) {
    const panel = document.getElementById("panel");
    document.getElementById("panel-name").textContent = soar.name(p);
    document.getElementById("panel-detail").textContent =
      [p.model, p.kind, p.aircraft_address].filter(Boolean).join(", ");
    const link = document.getElementById("panel-link");
    trackLayer.clearLayers();
    document.getElementById("panel-baro").replaceChildren();
    soar.selected = p.aircraft_id;
    panel.hidden = false;
    // On the ground with no active flight (before takeoff, landed): nothing to draw.
    link.hidden = !p.flight_id;
    if (!p.flight_id) return;
    link.href = "/flights/" + encodeURIComponent(p.flight_id);
    let body;
    try { body = await soar.api("/api/v1/flights/" + encodeURIComponent(p.flight_id) + "/fixes"); }
    catch (err) { soar.status(err.message); return; }
    const f = body.fields, lat = f.indexOf("latitude"), lon = f.indexOf("longitude");
    const alt = f.indexOf("altitude_m"), t = f.indexOf("time");
    L.polyline(body.fixes.map((x) => [x[lat], x[lon]]), {className: "track", weight: 3})
      .addTo(trackLayer);
    soar.barogram(document.getElementById("panel-baro"), body.fixes.map((x) => x[t]),
                  body.fixes.map((x) => x[alt]));
  }

  function stream() {
    const box = soar.bbox(map);
    if (source) source.close();
    if (box.area > soar.settings.max_box_deg2) {
      soar.status("zoom in to see aircraft");
      return;
    }
    soar.status("");
    source = new EventSource("/api/v1/live?bbox=" + box.text);
    const handle = (e) => apply(JSON.parse(e.data));
    source.addEventListener("snapshot", (e) => {
      for (const m of markers.values()) map.removeLayer(m);
      markers.clear();
      handle(e);
    });
    source.addEventListener("update", handle);
    source.onerror = () => soar.status("live stream interrupted: reconnecting");
    source.onopen = () => soar.status("");
  }

  const home = soar.settings.home;
  map.setView([home.latitude, home.longitude], home.zoom);
  const airfields = soar.airfieldLayer(map);
  map.on("moveend", stream);
  stream();
  airfields();
  soar.ready = true;
})();
