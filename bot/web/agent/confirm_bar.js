/*
 * The desk's confirm bars (结束并交还机器人, 退出): a role=alertdialog row under the button that asked.
 * Opening one puts the focus on the safe choice; Escape takes the safe choice too; cancelling gives
 * the focus back to the button that opened the bar, so a keyboard or screen-reader agent keeps their
 * place instead of landing at the top of the page (accessibility audit, WCAG 2.1.1 / 2.4.3).
 */
window.kefuConfirmBar = (function () {
  "use strict";

  var openers = new WeakMap();

  /** Shows ``bar``, focusing ``safe``; ``opener`` gets the focus back when the bar is cancelled. */
  function open(bar, safe, opener) {
    openers.set(bar, opener || null);
    bar.hidden = false;
    safe.focus();
  }
  /** Hides ``bar``; ``focusTarget`` (if any, and shown) gets the focus. */
  function close(bar, focusTarget) {
    openers.delete(bar);
    bar.hidden = true;
    if (focusTarget && focusTarget.getClientRects().length) { focusTarget.focus(); }
  }
  /** ``safe`` (the "keep going" button) and Escape anywhere in the bar cancel it. */
  function cancelWith(bar, safe) {
    function cancel() { close(bar, openers.get(bar)); }
    safe.addEventListener("click", cancel);
    bar.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !bar.hidden) { event.preventDefault(); event.stopPropagation(); cancel(); }
    });
  }

  return { open: open, close: close, cancelWith: cancelWith };
})();
