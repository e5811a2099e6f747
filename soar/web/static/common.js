// soar web pages: shared helpers. Feed text (registrations, callsigns) is only ever set
// with textContent or as an SVG text node: never parsed as HTML.
"use strict";

const soar = window.soar = window.soar || {};

soar.el = function (tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
};

soar.api = async function (path) {
  const r = await fetch(path, {headers: {"Accept": "application/json"}});
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
  return body;
};

soar.status = function (text) {
  const s = document.getElementById("status");
  if (s) s.textContent = text || "";
};

soar.name = function (a) {
  return a.registration || a.callsign || a.aircraft_address;
};

soar.time = function (iso, zone) {
  if (!iso) return "-";
  if (zone) return iso.slice(11, 16);      // already in the logbook's zone
  return iso.slice(11, 19) + "Z";
};

soar.plainMap = async function (id) {
  // No tile server by default: a plain background with airfields and runways drawn as
  // vector layers; an operator's tile URL (`soar web --tile-url`) is used when set.
  const map = L.map(id, {preferCanvas: false, worldCopyJump: true});
  const settings = await soar.api("/api/v1/settings");
  if (settings.tile_url) {
    L.tileLayer(settings.tile_url, {attribution: settings.tile_attribution || ""}).addTo(map);
  }
  soar.settings = settings;
  return map;
};

soar.bbox = function (map) {
  const b = map.getBounds();
  const w = Math.max(-180, b.getWest()), e = Math.min(180, b.getEast());
  const s = Math.max(-90, b.getSouth()), n = Math.min(90, b.getNorth());
  return {text: [w, s, e, n].map((x) => x.toFixed(4)).join(","), area: (e - w) * (n - s)};
};

soar.airfieldLayer = function (map) {
  // Airfields and runways of the visible box, from the airports and runways tables.
  const layer = L.layerGroup().addTo(map);
  async function load() {
    const box = soar.bbox(map);
    if (map.getZoom() < 8 || box.area > soar.settings.max_box_deg2) { layer.clearLayers(); return; }
    let body;
    try { body = await soar.api("/api/v1/airfields?limit=500&bbox=" + box.text); }
    catch (err) { soar.status(err.message); return; }
    layer.clearLayers();
    for (const a of body.airfields) {
      for (const r of a.runways) {
        L.polyline([[r.le_latitude, r.le_longitude], [r.he_latitude, r.he_longitude]],
                   {className: "runway", weight: 4, interactive: false}).addTo(layer);
      }
      const m = L.circleMarker([a.latitude_deg, a.longitude_deg],
                               {radius: 3, className: "airfield"}).addTo(layer);
      // Close in, each airfield's ident stays written beside it; its name on hover.
      if (map.getZoom() >= 10) {
        m.bindTooltip(soar.el("span", {}, a.ident), {permanent: true, direction: "right",
                                                    className: "field-label",
                                                    pane: "shadowPane"});  // under aircraft
      } else {
        m.bindTooltip(soar.el("span", {}, a.ident + " " + a.name), {direction: "right"});
      }
      m.on("click", () => { window.location.href = "/airfields/" + encodeURIComponent(a.ident) + "/logbook"; });
    }
  }
  map.on("moveend", load);
  return load;
};

soar.barogram = function (container, times, altitudes) {
  // Altitude over time as an SVG line, with the highest altitude and the time span.
  const NS = "http://www.w3.org/2000/svg", W = 600, H = 160, P = 30;
  container.textContent = "";
  const pts = times.map((t, i) => [Date.parse(t), altitudes[i]]).filter((p) => p[1] !== null);
  if (pts.length < 2) { container.textContent = "no altitudes"; return; }
  const t0 = pts[0][0], t1 = pts[pts.length - 1][0];
  const lo = Math.min(...pts.map((p) => p[1])), hi = Math.max(...pts.map((p) => p[1]));
  const x = (t) => P + (W - 2 * P) * (t - t0) / Math.max(1, t1 - t0);
  const y = (a) => H - P - (H - 2 * P) * (a - lo) / Math.max(1, hi - lo);
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "barogram");
  const line = document.createElementNS(NS, "polyline");
  line.setAttribute("points", pts.map((p) => x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" "));
  line.setAttribute("class", "baro-line");
  svg.appendChild(line);
  const label = (text, lx, ly) => {
    const t = document.createElementNS(NS, "text");
    t.setAttribute("x", lx); t.setAttribute("y", ly); t.setAttribute("class", "baro-label");
    t.textContent = text; svg.appendChild(t);
  };
  label(Math.round(hi) + " m", 2, P - 6);
  label(Math.round(lo) + " m", 2, H - P + 14);
  label(new Date(t0).toISOString().slice(11, 16) + "Z", P, H - 4);
  label(new Date(t1).toISOString().slice(11, 16) + "Z", W - P - 40, H - 4);
  container.appendChild(svg);
};
