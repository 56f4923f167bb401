/*
 * The ledger page of the agent desk: every open ticket's step, due time, owner and flags; filters
 * for supervisors; one button per row closes the next step. Strings from /agent/ui/ledger.zh.json,
 * helpers from desk_common.js;
 * server values go in with textContent only.
 */
(function () {
  "use strict";

  var common = window.kefuDeskCommon, el = common.el, api = common.api;
  var t = common.translator({});
  var latest = 0;  // only the answer to the latest request is shown, whatever order answers arrive in
  var historyOpen = {};  // tickets whose history the agent opened: kept open across the refresh

  function $(id) { return document.getElementById(id); }
  function showError(e) { $("ledger-error").textContent = e ? t(e.code || "error_unknown") : ""; }
  var when = common.when;

  function load() {
    var query = "flag=" + encodeURIComponent($("filter-flag").value) +
      "&owner=" + encodeURIComponent($("filter-owner").value.trim()) +
      "&kind=" + encodeURIComponent($("filter-kind").value.trim()) + ($("filter-all").checked ? "&all=1" : "");
    var mine = ++latest;
    return api("GET", "ledger?" + query).then(function (data) {
      if (mine === latest) { showError(null); common.setZone(data.timezone); render(data); }
    }).catch(showError);
  }
  function render(data) {
    var rows = $("ledger-rows");
    common.clear(rows);
    var steps = data.step_labels || {}, flags = data.flag_labels || {};
    data.items.forEach(function (item) {
      var row = el("tr", item.overdue ? "overdue" : null);
      row.setAttribute("data-ticket-id", item.ticket_id);
      // The dispatch system's job number beside Kefu's (bot/dispatch/): the one the engineer quotes.
      row.appendChild(el("td", null, item.external_ref ? item.ticket_id + " / " + item.external_ref : item.ticket_id));
      row.appendChild(el("td", null, t("kind_" + item.kind)));
      var summary = el("td", null, item.summary);
      if (item.history && item.history.length) { summary.appendChild(historyOf(item)); }
      row.appendChild(summary);
      row.appendChild(el("td", "step", steps[item.step] || item.step));
      row.appendChild(el("td", null, when(item.due_at)));
      row.appendChild(el("td", "owner", item.owner || "-"));
      var marks = el("td", "flags");
      if (item.overdue) { marks.appendChild(el("span", "flag overdue", flags.overdue || "overdue")); }
      if (item.repeat_of.length) { marks.appendChild(el("span", "flag repeat", t("repeat_of", { tickets: item.repeat_of.join(", ") }))); }
      row.appendChild(marks);
      row.appendChild(followupCell(item, (data.followups || {})[item.ticket_id]));
      var action = el("td");
      if (item.next_step) {
        var note = el("input"); note.maxLength = 500; note.setAttribute("placeholder", t("note_placeholder"));
        var close = el("button", "close-step", t("close_step", { step: steps[item.next_step] || item.next_step }));
        close.type = "button";
        close.addEventListener("click", function () {
          api("POST", "ledger/" + encodeURIComponent(item.ticket_id) + "/done", { note: note.value }).then(load).catch(showError);
        });
        action.appendChild(note); action.appendChild(close);
      }
      row.appendChild(action);
      rows.appendChild(row);
    });
    $("ledger-count").textContent = data.items.length ? t("count", {
      count: data.items.length,
      overdue: data.items.filter(function (i) { return i.overdue; }).length,
      repeat: data.items.filter(function (i) { return i.repeat_of.length; }).length }) : t("empty");
  }

  // The ticket's notes (a chase, a visit moved, a step closed), each in the agents' words as the server
  // wrote the line (content/labels.yml ticket_history); the customer's words in it go in as text only.
  function historyOf(item) {
    var box = el("details", "history");
    box.open = !!historyOpen[item.ticket_id];
    box.addEventListener("toggle", function () { historyOpen[item.ticket_id] = box.open; });
    box.appendChild(el("summary", null, t("history", { count: item.history.length })));
    var list = el("ol");
    item.history.forEach(function (h) { list.appendChild(el("li", null, t("history_item", { time: when(h.at), line: h.line }))); });
    box.appendChild(list);
    return box;
  }

  // The ticket's follow-up contact (bot/contacts/): where it stands, and "call now" while it waits.
  function followupCell(item, contact) {
    var cell = el("td", "followup");
    if (!contact) return cell;
    var result = contact.result ? t("result_" + contact.result) : "";
    var text = contact.status === "scheduled" ? (contact.attempts ? t("followup_retry", { due: when(contact.due_at), result: result })
        : contact.result ? t("followup_waiting", { due: when(contact.due_at), result: result })
        : t("followup_scheduled", { due: when(contact.due_at) }))
      : t("followup_" + contact.status, { result: result });
    cell.appendChild(el("span", "followup-state", text));
    if (contact.status === "scheduled") {
      var now = el("button", "followup-now", t("followup_now"));
      now.type = "button";
      now.addEventListener("click", function () {
        api("POST", "ledger/" + encodeURIComponent(item.ticket_id) + "/followup-now", {}).then(load).catch(showError);
      });
      cell.appendChild(now);
    }
    return cell;
  }
  // Refresh every few seconds so a follow-up call's progress shows, unless the agent is typing a note.
  function refresh() {
    var typing = Array.prototype.some.call(document.querySelectorAll("#ledger-rows input"), function (input) {
      return input.value || input === document.activeElement;
    });
    if (!typing) load();
  }

  function start() {
    common.applyStrings("page_title", t);
    $("ledger-filter").addEventListener("submit", function (event) { event.preventDefault(); load(); });
    load();
    window.setInterval(refresh, 5000);
  }

  common.loadLabels("/agent/ui/ledger.zh.json").then(function (loaded) { t = loaded; common.whenReady(start); });
})();
