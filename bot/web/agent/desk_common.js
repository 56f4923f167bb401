/*
 * Shared by every desk page (desk, supervisor, ledger) and its panels (knowledge, customer at a
 * glance): UI strings from /agent/ui/*.zh.json, elements filled with textContent only, the desk
 * API with its CSRF header, waits in minutes, times in the centre's zone.
 */
window.kefuDeskCommon = (function () {
  "use strict";

  /** A lookup of one strings file: t("key", {name: value}) fills {name}; unknown keys show as themselves. */
  function translator(strings) {
    return function (key, values) {
      var text = Object.prototype.hasOwnProperty.call(strings, key) ? String(strings[key]) : key;
      return values ? text.replace(/\{(\w+)\}/g, function (w, n) { return n in values ? String(values[n]) : w; }) : text;
    };
  }
  /** Loads a strings file; resolves to its translator (an empty one when the file cannot be read). */
  // A page goes on only with its words: a request for them that fails is tried again (1 s, 2 s, ... up to every
  // 10 s), as the chat page does. Found in a review: a reload cuts the request off (net::ERR_ABORTED), and the
  // desk pages went on without words, showing keys such as login_submit.
  function loadLabels(url, wait) {
    wait = wait || 1000;
    return fetch(url, { cache: "no-cache" })
      .then(function (r) { if (!r.ok) { throw new Error("labels " + r.status); } return r.json(); })
      .then(function (loaded) { return translator(loaded && typeof loaded === "object" ? loaded : {}); },
        function () {
          return new Promise(function (resolve) { window.setTimeout(resolve, wait); })
            .then(function () { return loadLabels(url, Math.min(wait * 2, 10000)); });
        });
  }

  var deskT = translator({});
  function t(key, values) { return deskT(key, values); }
  function loadStrings() {
    return loadLabels("/agent/ui/agent_desk.zh.json").then(function (loaded) { deskT = loaded; });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  /** Waits as people say them: "不到1分钟", "12分钟". */
  function minutes(seconds) {
    var m = Math.round(Number(seconds) / 60);
    return !isFinite(m) || m < 1 ? t("under_a_minute") : t("minutes", { n: m });
  }
  // Times in the centre's zone (content/kpi.yml, sent by the server with the data), marked with it,
  // whatever zone the agent's PC is set to; before the server named one, the PC's zone, still marked.
  var zone;
  function setZone(name) { if (name) { zone = name; } }
  function zoneMark(date) {
    var part = new Intl.DateTimeFormat("zh-CN", { timeZone: zone, timeZoneName: "short" }).formatToParts(date)
      .filter(function (p) { return p.type === "timeZoneName"; })[0];
    return part ? " " + part.value : "";
  }
  /** A server time (ISO with its zone) as "2026/12/02 15:01 GMT+8". */
  function when(iso) {
    var date = iso ? new Date(iso) : null;
    if (!date || isNaN(date.getTime())) { return iso || "-"; }
    return date.toLocaleString("zh-CN", { timeZone: zone, hour12: false, year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit" }) + zoneMark(date);
  }
  /** A clock reading, "15:01:09 GMT+8". */
  function clock(date) {
    return date.toLocaleTimeString("zh-CN", { timeZone: zone, hour12: false }) + zoneMark(date);
  }
  function applyStrings(titleKey, lookup) {
    var tr = lookup || t;
    document.title = tr(titleKey);
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (n) { n.textContent = tr(n.getAttribute("data-i18n")); });
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-placeholder]"), function (n) { n.setAttribute("placeholder", tr(n.getAttribute("data-i18n-placeholder"))); });
    // A placeholder is no name (it goes while typing): controls without a visible label carry one for screen readers.
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-aria-label]"), function (n) { n.setAttribute("aria-label", tr(n.getAttribute("data-i18n-aria-label"))); });
  }
  function whenReady(start) {
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
  }

  var common = {
    t: t, el: el, clear: clear, minutes: minutes, applyStrings: applyStrings, loadStrings: loadStrings,
    setZone: setZone, when: when, clock: clock,
    loadLabels: loadLabels, translator: translator, whenReady: whenReady,
    /** Called when the session has ended (401); each page decides what signing out means. */
    signedOut: function () {}
  };
  /** A desk API call; rejects with an Error whose ``code`` is a UI string key and ``status`` the HTTP status. */
  common.api = function (method, path, payload) {
    var options = { method: method, credentials: "same-origin", headers: { "X-Kefu-Desk": "1" } };
    if (payload !== undefined) { options.headers["Content-Type"] = "application/json"; options.body = JSON.stringify(payload); }
    return fetch("/agent/api/" + path, options).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.status === 401 && path !== "login") { common.signedOut(); }
        if (!r.ok) { var e = new Error(data.error || "error_unknown"); e.code = data.error || "error_unknown"; e.status = r.status; throw e; }
        return data;
      });
    });
  };
  return common;
})();
