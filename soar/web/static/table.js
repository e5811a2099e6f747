// The receivers and statistics pages: the API's rows as plain tables, every cell text.
"use strict";

(async function () {
  const page = window.location.pathname.replace(/^\//, "");
  const main = document.getElementById("tables");

  function table(title, rows, id) {
    main.appendChild(soar.el("h2", {}, title));
    if (!rows || !rows.length) { main.appendChild(soar.el("p", {"class": "none"}, "(none)")); return; }
    const t = soar.el("table", {id: id}), head = soar.el("tr"), cols = Object.keys(rows[0]);
    for (const c of cols) head.appendChild(soar.el("th", {}, c));
    t.appendChild(soar.el("thead")).appendChild(head);
    const body = t.appendChild(soar.el("tbody"));
    for (const r of rows) {
      const tr = soar.el("tr");
      for (const c of cols) tr.appendChild(soar.el("td", {}, r[c] === null ? "" : r[c]));
      body.appendChild(tr);
    }
    main.appendChild(t);
  }

  try {
    if (page === "receivers") {
      document.getElementById("title").textContent = "receivers";
      table("Receivers heard in the public window", (await soar.api("/api/v1/receivers?limit=500")).receivers, "receivers");
    } else {
      const s = await soar.api("/api/v1/stats?days=7");
      document.getElementById("title").textContent = "statistics since " + s.since;
      const titles = {daily: "Flights per day", hourly: "Flights by hour (UTC)", durations: "Durations",
        airports: "Busiest airports", runways: "Busiest runways", aircraft: "Aircraft with most hours",
        tow_planes: "Tows per tow plane", failures: "Enrichment failures"};
      for (const [k, title] of Object.entries(titles)) table(title, s[k], k);
      table("Enrichment coverage", [s.enrichment], "enrichment");
    }
  } catch (err) { soar.status(err.message); }
  soar.ready = true;
})();
