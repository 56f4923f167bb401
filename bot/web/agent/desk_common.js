/*
 * Shared by the agent desk and the supervisor page: UI strings from
 * /agent/ui/agent_desk.zh.json, elements filled with textContent only, waits in minutes.
 */
window.kefuDeskCommon = (function () {
  "use strict";

  var strings = {};

  function t(key, values) {
    var text = Object.prototype.hasOwnProperty.call(strings, key) ? String(strings[key]) : key;
    return values ? text.replace(/\{(\w+)\}/g, function (w, n) { return n in values ? String(values[n]) : w; }) : text;
  }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  /** Waits as people say them: "不到1分钟", "12分钟". */
  function minutes(seconds) {
    var m = Math.round(Number(seconds) / 60);
    return !isFinite(m) || m < 1 ? t("under_a_minute") : t("minutes", { n: m });
  }
  function applyStrings(titleKey) {
    document.title = t(titleKey);
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (n) { n.textContent = t(n.getAttribute("data-i18n")); });
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-placeholder]"), function (n) { n.setAttribute("placeholder", t(n.getAttribute("data-i18n-placeholder"))); });
  }
  function loadStrings() {
    return fetch("/agent/ui/agent_desk.zh.json", { cache: "no-cache" })
      .then(function (r) { return r.ok ? r.json() : {}; }).catch(function () { return {}; })
      .then(function (loaded) { strings = loaded || {}; });
  }
  return { t: t, el: el, minutes: minutes, applyStrings: applyStrings, loadStrings: loadStrings };
})();
