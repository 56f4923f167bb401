/* Supervisors' live figures on the agent desk: queues now and today's KPIs, refreshed
   every few seconds without reloading. Kept apart from agent.js; it adds its own section
   to the desk and hides itself while nobody is signed in. Texts: content/ui/report.zh.json.
   Not a live region: read every 5 s (its clock included) it drowned out the customer's messages for a
   screen-reader agent (accessibility audit, WCAG 4.1.3); lines are changed in place, only when they change. */
(function () {
  "use strict";
  var REFRESH_MS = 5000;
  var labels = {};
  var section = null;

  function fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] === undefined || values[key] === null ? "—" : String(values[key]);
    });
  }

  function share(value) { return value === null || value === undefined ? "—" : Math.round(value * 100) + "%"; }
  function seconds(value) { return value === null || value === undefined ? "—" : value.toFixed(1); }

  function ensureSection() {
    if (section) { return section; }
    var desk = document.getElementById("desk");
    if (!desk) { return null; }
    section = document.createElement("section");
    section.id = "live-figures";
    section.className = "live-figures";
    section.setAttribute("aria-labelledby", "live-figures-title");
    desk.insertBefore(section, desk.children[1] || null);
    return section;
  }

  function line(row) {
    var p = document.createElement(row.tag);
    p.className = row.className;
    if (row.id) { p.id = row.id; }
    p.textContent = row.text;
    Object.keys(row.data).forEach(function (key) { p.dataset[key] = row.data[key]; });
    return p;
  }

  function render(data) {
    var box = ensureSection();
    if (!box) { return; }
    box.hidden = false;
    var rows = [{ key: "title", tag: "h2", id: "live-figures-title", className: "live-title", text: labels.live_title || "", data: {} }];
    data.queues.forEach(function (q) {
      rows.push({ key: "queue-" + q.skill, tag: "p", className: "live-queue", data: { skill: q.skill, waiting: q.waiting },
        text: fill(labels.live_queue, { skill: q.label, waiting: q.waiting, longest: Math.round(q.longest_wait_s) }) });
    });
    var t = data.today;
    rows.push({ key: "today", tag: "p", className: "live-today", data: {}, text: fill(labels.live_today, {
      day: t.day, contacts: t.contacts, asa: seconds(t.asa_s), median: seconds(t.wait_median_s), max: seconds(t.wait_max_s),
      sl_seconds: t.sl_seconds, sl: share(t.service_level),
      abandonment: share(t.abandonment), selfhelp_sent: t.selfhelp_sent, containment: share(t.containment)
    }) });
    rows.push({ key: "updated", tag: "p", className: "live-updated", data: {},
      text: fill(labels.live_updated, { time: window.kefuDeskCommon.clock(new Date()) }) });
    window.kefuKeyedList.sync(box, rows, function (row) { return row.key; },
      function (row) { return JSON.stringify([row.text, row.data]); }, line);
  }

  function refresh() {
    fetch("/agent/api/live", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (data) { window.kefuDeskCommon.setZone(data.timezone); render(data); })
      .catch(function () { if (section) { section.hidden = true; } })
      .then(function () { window.setTimeout(refresh, REFRESH_MS); });
  }

  fetch("/agent/ui/report.zh.json", { cache: "no-cache" })
    .then(function (r) { return r.json(); })
    .then(function (data) { labels = data; })
    .catch(function () { labels = {}; })
    .then(refresh);
})();
