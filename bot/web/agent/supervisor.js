/*
 * Kefu supervisor view: agents and their states, queues per skill with the longest wait,
 * removing a stale entry and putting a served conversation back in its queue. Strings from /agent/ui/agent_desk.zh.json; values inserted as text.
 */
(function () {
  "use strict";

  var common = window.kefuDeskCommon, t = common.t, el = common.el, minutes = common.minutes;
  var skills = {};
  function $(id) { return document.getElementById(id); }
  var api = common.api;
  common.signedOut = function () { window.location.href = "/agent/"; };
  function row(cells) {
    var tr = el("tr");
    cells.forEach(function (c) { var td = el("td"); if (c instanceof Node) { td.appendChild(c); } else { td.textContent = c; } tr.appendChild(td); });
    return tr;
  }

  function grants(a) {  // the skill groups the agent may serve: only a supervisor sets them
    var box = el("span", "grants");
    Object.keys(skills).forEach(function (skill) {
      var label = el("label"), input = document.createElement("input");
      input.type = "checkbox"; input.value = skill; input.checked = a.granted_skills.indexOf(skill) >= 0;
      input.addEventListener("change", function () {
        var chosen = Array.prototype.filter.call(box.querySelectorAll("input"), function (b) { return b.checked; }).map(function (b) { return b.value; });
        api("POST", "supervisor/agents/" + encodeURIComponent(a.agent_id) + "/skills", { skills: chosen }).then(refresh).catch(showError);
      });
      label.appendChild(input); label.appendChild(document.createTextNode(skills[skill]));
      box.appendChild(label);
    });
    return box;
  }

  function serving(a) {  // what the agent holds; a supervisor can put one back in its queue (the customer is told)
    var list = el("ul", "serving");
    a.serving.forEach(function (id) {
      var item = el("li", null, id.slice(0, 8) + " "), back = el("button", "requeue", t("requeue_served"));
      back.type = "button";
      back.addEventListener("click", function () {
        if (!window.confirm(t("requeue_confirm"))) { return; }
        api("POST", "supervisor/serving/" + encodeURIComponent(id) + "/requeue").then(refresh).catch(showError);
      });
      item.setAttribute("data-conversation", id);
      item.appendChild(back); list.appendChild(item);
    });
    return list;
  }

  function render(data) {
    $("error").textContent = "";
    var body = $("agents").querySelector("tbody");
    while (body.firstChild) { body.removeChild(body.firstChild); }
    data.agents.forEach(function (a) {
      var state = el("span", "state-" + a.state, t("state_" + a.state));
      var tr = row([a.name + " (" + a.agent_id + ")", state, grants(a), a.active + "/" + a.capacity, serving(a)]);
      tr.setAttribute("data-agent", a.agent_id);
      body.appendChild(tr);
    });
    var box = $("queues");
    while (box.firstChild) { box.removeChild(box.firstChild); }
    data.queues.forEach(function (q) {
      var table = el("table", "queue-table");
      table.setAttribute("data-skill", q.skill);
      var head = el("tr");
      [["col_skill", q.label], ["col_waiting", q.waiting], ["col_longest", q.waiting ? minutes(q.longest_wait_s) : "-"], ["col_capacity", q.available_capacity]].forEach(function (p) {
        head.appendChild(el("th", null, t(p[0]) + "：" + p[1]));
      });
      table.appendChild(head);
      q.entries.forEach(function (e) {
        var remove = el("button", "remove", t("remove_entry"));
        remove.type = "button";
        remove.addEventListener("click", function () {
          if (!window.confirm(t("remove_confirm"))) { return; }
          api("POST", "supervisor/queue/" + encodeURIComponent(e.conversation_id) + "/remove").then(refresh).catch(showError);
        });
        // A callback's page says nothing (the customer may close it, the agent rings them): no silence shown.
        var presence = e.gone ? t("col_gone") : e.callback ? t("col_callback") : e.silent_s === null ? "-"
          : t("col_silent") + " " + t("silent_ago", { time: minutes(e.silent_s) });
        var tr = row([t("col_position") + " " + e.position, t("channel_" + e.channel), t("col_waited") + " " + minutes(e.waited_s),
          presence, remove]);
        tr.setAttribute("data-conversation", e.conversation_id);
        table.appendChild(tr);
      });
      box.appendChild(table);
    });
  }
  var timer = null;
  function showError(e) {
    $("error").textContent = t(e.code || "error_unknown");
    if (e.code === "error_not_supervisor") {  // a plain agent: nothing to show, nothing to refresh
      document.querySelector("main.supervisor").hidden = true;
      window.clearInterval(timer);
    }
  }
  function refresh() { return api("GET", "supervisor").then(render); }

  common.loadStrings()
    .then(function () {
      common.applyStrings("supervisor_title");
      return api("GET", "overview").then(function (o) { skills = o.skills || {}; });
    })
    .then(refresh)
    .then(function () { timer = window.setInterval(function () { refresh().catch(showError); }, 3000); })
    .catch(showError);
})();
