/*
 * The customer at a glance (screen pop) on the agent desk: plan, balance and bills, open ledger
 * items, recent contacts on every channel, VIP tier and contact details, for the conversation on
 * screen (learnt from the desk's "kefu:conversation" event). Numbers arrive masked from the
 * server; an agent can correct the callback number or the address, which the server records with
 * who and when. Strings from /agent/ui/agent_desk.zh.json; server values go in with textContent.
 */
(function () {
  "use strict";

  var common = window.kefuDeskCommon, t = common.t, el = common.el, api = common.api;
  var FIELDS = ["callback_phone", "address"];
  var panel = null, conversation = null;

  function yuan(cents) { return (Number(cents) / 100).toFixed(2); }
  var when = common.when;
  function section(titleKey, className) {
    var box = el("div", "glance-section " + className);
    box.appendChild(el("h4", null, t(titleKey)));
    panel.appendChild(box);
    return box;
  }
  function list(box, items, emptyKey, render) {
    if (!items.length) { box.appendChild(el("p", "glance-empty", t(emptyKey))); return; }
    var ul = el("ul");
    items.forEach(function (item) { ul.appendChild(render(item)); });
    box.appendChild(ul);
  }

  function load() {
    var id = conversation;
    if (!id) { panel.hidden = true; return; }
    panel.hidden = false;
    common.clear(panel);
    panel.appendChild(el("p", "glance-empty", t("glance_loading")));
    api("GET", "conversations/" + encodeURIComponent(id) + "/customer")
      .then(function (data) { if (id === conversation) { render(data); } })
      .catch(function (e) { if (id === conversation) { common.clear(panel); panel.appendChild(el("p", "error", t(e.code))); } });
  }

  function render(data, notice) {
    common.clear(panel);
    var head = el("h3", "glance-head", t("glance_title"));
    panel.appendChild(head);
    if (!data.verified) {
      panel.setAttribute("data-verified", "0");
      panel.appendChild(el("p", "glance-unverified", data.phone ? t("glance_unverified_phone", { phone: data.phone })
        : data.claimed_phone ? t("glance_unverified_claimed_phone", { phone: data.claimed_phone }) : t("glance_unverified")));
      return;
    }
    panel.setAttribute("data-verified", "1");
    var c = data.customer;
    var tier = el("span", "glance-vip tier-" + c.vip_tier, c.vip_tier > 0 ? t("glance_vip", { tier: c.vip_tier }) : t("glance_vip_0"));
    head.appendChild(document.createTextNode(" " + c.name + " "));
    head.appendChild(tier);
    if (notice) { panel.appendChild(el("p", "glance-notice", notice)); }

    var facts = el("dl", "glance-facts");
    [["glance_phone", c.phone, "phone"], ["glance_account", c.account_number, "account"],
     ["glance_plan", data.plan ? t(data.plan.end_date ? "glance_plan_value_ends" : "glance_plan_value", { name: data.plan.name, fee: yuan(data.plan.monthly_fee_cents), end: data.plan.end_date }) : t("glance_no_plan"), "plan"],
     ["glance_balance", c.balance_cents < 0 ? t("glance_arrears", { amount: yuan(-c.balance_cents) }) : t("glance_balance_value", { amount: yuan(c.balance_cents) }), c.balance_cents < 0 ? "balance arrears" : "balance"]
    ].forEach(function (row) {
      facts.appendChild(el("dt", null, t(row[0])));
      var dd = el("dd", "glance-" + row[2], row[1]);
      facts.appendChild(dd);
    });
    panel.appendChild(facts);

    list(section("glance_bills", "glance-bills"), data.bills, "glance_no_bills", function (b) {
      return el("li", "bill " + b.status, t("glance_bill", { period: b.period, amount: yuan(b.amount_cents), status: t("glance_bill_" + b.status), due: b.due_date }));
    });
    var steps = data.step_labels || {};
    list(section("glance_ledger", "glance-ledger"), data.ledger, "glance_no_ledger", function (i) {
      var li = el("li", "ledger-item" + (i.overdue ? " overdue" : ""), t("glance_ledger_item", {
        ticket_id: i.ticket_id, kind: t("ticket_kind_" + i.kind), summary: i.summary, step: steps[i.step] || i.step,
        next: steps[i.next_step] || i.next_step, due: i.due_at ? t("glance_due", { time: when(i.due_at) }) : "" }));
      li.setAttribute("data-ticket-id", i.ticket_id);
      if (i.overdue) { li.appendChild(el("span", "flag overdue", t("glance_overdue"))); }
      if (i.repeat) { li.appendChild(el("span", "flag repeat", t("glance_repeat"))); }
      if (i.visit_time) { li.appendChild(el("span", "visit-time", t("visit_time", { when: i.visit_time }))); }
      return li;
    });
    list(section("glance_contacts", "glance-contacts"), data.contacts, "glance_no_contacts", function (k) {
      var outcome = t("glance_outcome_" + (k.outcome || ""));
      if (k.disposition) { outcome = t("glance_outcome_disposition", { outcome: outcome, disposition: t("disposition_" + k.disposition) }); }
      var li = el("li", "contact" + (k.current ? " current" : ""), t("glance_contact", { time: when(k.last_at), channel: t("channel_" + k.channel), outcome: outcome }));
      if (k.current) { li.appendChild(document.createTextNode(t("glance_contact_current"))); }
      return li;
    });
    renderContactDetails(section("glance_contact_details", "glance-contact-details"), data);
  }

  function renderContactDetails(box, data) {
    var dl = el("dl", "glance-facts");
    FIELDS.forEach(function (field) {
      var detail = data.contact[field] || {};
      dl.appendChild(el("dt", null, t("glance_field_" + field)));
      var dd = el("dd");
      dd.setAttribute("data-contact-field", field);
      dd.appendChild(el("span", "value", detail.value || "-"));
      if (detail.corrected_by) { dd.appendChild(el("span", "corrected", t("glance_corrected", { by: detail.corrected_by, time: when(detail.corrected_at) }))); }
      var edit = el("button", "glance-correct", t("glance_correct"));
      edit.type = "button";
      edit.addEventListener("click", function () { editField(dd, field); });
      dd.appendChild(edit);
      dl.appendChild(dd);
    });
    box.appendChild(dl);
    if (data.contact_history.length) {
      var history = el("details", "glance-history");
      history.appendChild(el("summary", null, t("glance_history")));
      var ul = el("ul");
      data.contact_history.forEach(function (h) {
        ul.appendChild(el("li", null, t("glance_history_item", { time: when(h.at), by: h.by, field: t("glance_field_" + h.field), old: h.old || "-", "new": h.new })));
      });
      history.appendChild(ul);
      box.appendChild(history);
    }
  }

  function editField(dd, field) {
    var form = el("form", "glance-edit");
    form.setAttribute("autocomplete", "off");
    var input = el("input");
    input.name = field; input.maxLength = field === "address" ? 200 : 20;
    input.setAttribute("aria-label", t("glance_field_" + field));
    var save = el("button", "primary", t("glance_save")); save.type = "submit";
    var cancel = el("button", null, t("glance_cancel")); cancel.type = "button";
    var problem = el("span", "error");
    form.appendChild(input); form.appendChild(save); form.appendChild(cancel); form.appendChild(problem);
    cancel.addEventListener("click", function () { form.remove(); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var id = conversation;
      api("POST", "conversations/" + encodeURIComponent(id) + "/customer/contact", { field: field, value: input.value })
        .then(function (data) { if (id === conversation) { render(data, t("glance_saved", { field: t("glance_field_" + field) })); } })
        .catch(function (e) { problem.textContent = t(e.code); });
    });
    dd.appendChild(form);
    input.focus();
  }

  function start() {
    panel = document.getElementById("glance");
    if (!panel) { return; }
    document.addEventListener("kefu:conversation", function (event) { conversation = event.detail || null; load(); });
    document.addEventListener("kefu:customer-verified", function (event) { if (event.detail === conversation) { load(); } });
  }

  common.loadStrings().then(function () { common.whenReady(start); });
})();
