/*
 * Lists the desk refreshes every few seconds (我正在服务, 待处理, the queues), updated in place.
 * Rebuilding them on every refresh threw the keyboard focus of an agent tabbing through them back
 * to the top of the page, and a screen reader's place with it (accessibility audit, WCAG 2.4.3).
 * Each row carries its key and a signature of what it shows: an unchanged row is left alone; a
 * changed row is rebuilt, and when it held the focus the same control in the new row gets it back.
 */
window.kefuKeyedList = (function () {
  "use strict";

  function keyedChildren(container) {
    var rows = {};
    Array.prototype.forEach.call(container.children, function (row) {
      var key = row.getAttribute("data-key");
      if (key !== null) { rows[key] = row; }
    });
    return rows;
  }
  /** Where the focus is, as a row key, the row's position and the control's data-focus name. */
  function focusWithin(container) {
    var active = document.activeElement;
    if (!active || active === container || !container.contains(active)) { return null; }
    var row = active;
    while (row.parentNode !== container) { row = row.parentNode; }
    var index = Array.prototype.indexOf.call(container.children, row);
    return { element: active, key: row.getAttribute("data-key"), index: index, name: active.getAttribute("data-focus") };
  }
  function focusAgain(container, was) {
    if (!was || document.activeElement === was.element && container.contains(was.element)) { return; }
    var rows = keyedChildren(container);
    // The same row (rebuilt or moved); if it has left the list, the row now in its place.
    var row = rows[was.key] || container.children[Math.min(was.index, container.children.length - 1)];
    if (!row) { return; }
    var target = was.name ? row.querySelector("[data-focus='" + was.name + "']") : null;
    target = target || row.querySelector("button, a[href], input, select, textarea, [tabindex]");
    if (target) { target.focus(); }
  }

  /**
   * Brings ``container``'s children in step with ``items``: ``keyOf(item)`` names a row,
   * ``signatureOf(item)`` says what it shows (a string), ``build(item)`` makes its element.
   */
  function sync(container, items, keyOf, signatureOf, build) {
    var was = focusWithin(container);
    var rows = keyedChildren(container);
    var keep = {};
    items.forEach(function (item, index) {
      var key = String(keyOf(item)), signature = String(signatureOf(item));
      var row = rows[key];
      if (!row || row.getAttribute("data-signature") !== signature) {
        var fresh = build(item);
        fresh.setAttribute("data-key", key);
        fresh.setAttribute("data-signature", signature);
        if (row) { container.replaceChild(fresh, row); }
        row = fresh;
        rows[key] = row;
      }
      keep[key] = true;
      var there = container.children[index];
      if (there !== row) { container.insertBefore(row, there || null); }
    });
    Array.prototype.slice.call(container.children).forEach(function (row) {
      if (!keep[row.getAttribute("data-key")]) { container.removeChild(row); }
    });
    focusAgain(container, was);
  }

  return { sync: sync };
})();
