/*
 * Kefu agent desk. No build step, no third-party code.
 * Every string shown comes from /agent/ui/agent_desk.zh.json; everything a customer typed (and
 * every value from the server) is inserted with textContent, never as HTML.
 */
(function () {
  "use strict";

  var common = window.kefuDeskCommon, t = common.t, el = common.el, minutes = common.minutes;
  var current = null;        // conversation id on screen
  var currentClaim = null;   // when the agent took it (the view's claimed_at): the close names the claim it ends
  var lastTurn = -1;         // index of the last transcript turn shown
  var partBytes = 0;         // WeChat: the most bytes of one message (a longer reply goes out in parts)
  var overviewTimer = null, messagesTimer = null;
  var stream = null;         // EventSource of the conversation on screen
  var skillLabels = {};
  var catalogueEntries = [], currentFault = null;  // the self-help an agent can send, and the fault on screen
  var triedSelfhelp = [], triedSlots = {};  // the self-help the customer was sent, and the faults named, on screen
  var claimRequest = null;   // request id of the 接入下一位 not answered yet (its retry sends it again)

  var clear = common.clear, api = common.api, keyedList = window.kefuKeyedList, confirmBar = window.kefuConfirmBar;
  function $(id) { return document.getElementById(id); }
  function intentLabel(name) { return name ? t("intent_" + name) : "-"; }
  /** A wrong name or password: the field says so to a screen reader too (aria-invalid, described by the error). */
  function markLoginInvalid(invalid) {
    ["login-name", "login-password"].forEach(function (id) {
      if (invalid) { $(id).setAttribute("aria-invalid", "true"); } else { $(id).removeAttribute("aria-invalid"); }
    });
  }
  /** A fresh id for one 接入下一位 (as the server takes them: letters and digits, up to 64). */
  function newRequestId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function showError(error) { $("desk-error").textContent = error ? t(error.code || "error_unknown") : ""; }

  // ---- sign in -------------------------------------------------------------
  // Signed out by the server (expired, or signed out elsewhere): the reason shows on the login form,
  // where the agent looks, not on the hidden desk; the conversation on screen stays and its stream
  // reopens once signed in again (found by a tester: new customer messages never appeared).
  function showLogin(reason) {
    window.clearInterval(overviewTimer); stopStream(); seenInQueue = null;
    $("login-error").textContent = reason ? t(reason) : "";
    $("desk").hidden = true; $("login").hidden = false;
  }
  function showDesk() {
    $("login").hidden = true; $("desk").hidden = false;
    showError(null);
    if (current) { pollMessages(); openStream(); }
    refreshOverview();
    window.clearInterval(overviewTimer);
    overviewTimer = window.setInterval(refreshOverview, 2000);
    api("GET", "selfhelp").then(fillCatalogue).catch(showError);
  }

  // ---- overview --------------------------------------------------------------
  function refreshOverview() {
    api("GET", "overview").then(renderOverview).catch(function (e) { if (e.code !== "error_signed_out") { showError(e); } });
  }
  function renderOverview(data) {
    common.setZone(data.timezone);
    $("agent-name").textContent = data.agent.name;
    $("supervisor-link").hidden = data.agent.role !== "supervisor";
    if (document.activeElement !== $("status-select")) { $("status-select").value = data.agent.status; }
    skillLabels = data.skills;
    relabelSkill();
    renderSkills(data.skills, data.agent.skills, data.agent.granted_skills);
    renderQueues(data.queues);
    // Each conversation as the waiting list shows an entry, with who it is (verified name, else masked number).
    data.serving_entries.forEach(function (entry) { if (entry.conversation_id === current) { showOffline(entry.customer_left_at, entry.channel); } });
    keyedList.sync($("serving"), data.serving_entries.map(servingRow), function (row) { return row.id; },
      function (row) { return JSON.stringify(row); }, buildServingRow);
    keyedList.sync($("work-items"), data.work_items, function (ticket) { return ticket.ticket_id; },
      function (ticket) { return JSON.stringify([ticket, revealedPhones[ticket.ticket_id] || null]); }, buildWorkItem);
    var transfer = $("transfer-skill");
    if (!transfer.options.length) {
      Object.keys(data.skills).forEach(function (skill) { var o = el("option", null, data.skills[skill]); o.value = skill; transfer.appendChild(o); });
    }
  }
  /** A conversation claimed before the first overview came shows its group's key ("general"): named now. */
  function relabelSkill() {
    var shown = document.querySelector('#profile dd[data-field="skill"]');
    if (shown && skillLabels[shown.textContent]) { shown.textContent = skillLabels[shown.textContent]; }
  }
  /** Each skill's queue as one block; a block is rebuilt only when what it says changes (waits are shown in minutes). */
  function renderQueues(queues) {
    keyedList.sync($("queues"), queues.map(queueView), function (view) { return view.skill; },
      function (view) { return JSON.stringify(view); }, buildQueue);
    announceNewcomers(queues);
  }
  function queueView(q) {
    return { skill: q.skill, head: t("queue_line", { label: q.label, waiting: q.waiting, wait_minutes: q.wait_minutes }) + (q.gone ? t("queue_line_gone", { gone: q.gone }) : ""),
      entries: q.entries.map(function (entry) {
        // A customer who closed the page keeps the place for a while but is not handed to anyone.
        return { late: !!(q.sla_s && entry.waited_s > q.sla_s), gone: !!entry.gone,
          text: t("queue_entry", { position: entry.position, channel: t("channel_" + entry.channel), priority: entry.priority, waited: minutes(entry.waited_s) }) + (entry.gone ? t("queue_entry_gone") : "") + (entry.callback ? t("queue_entry_callback") : "") };
      }) };
  }
  function buildQueue(view) {
    var box = el("div", "queue");
    box.setAttribute("data-skill", view.skill);
    box.appendChild(el("div", "queue-head", view.head));
    view.entries.forEach(function (entry) {
      box.appendChild(el("div", "entry" + (entry.late ? " late" : "") + (entry.gone ? " gone" : ""), entry.text));
    });
    return box;
  }
  // A customer starting to wait is told to a screen reader once (a polite status), not on every refresh;
  // the queues shown at sign-in are the starting point, not news. Entries seen stay seen until sign-out.
  var seenInQueue = null;
  function announceNewcomers(queues) {
    var first = !seenInQueue, news = [];
    seenInQueue = seenInQueue || {};
    queues.forEach(function (q) {
      q.entries.forEach(function (entry) {
        var key = q.skill + "@" + entry.enqueued_at;
        if (!first && !seenInQueue[key] && !entry.gone) {
          news.push(t("queue_news", { label: q.label, position: entry.position, channel: t("channel_" + entry.channel) }));
        }
        seenInQueue[key] = true;
      });
    });
    if (news.length) { $("queue-news").textContent = news.join("；"); }
  }
  function servingRow(entry) {
    var who = entry.customer_name || entry.phone_masked || t("serving_unknown_customer");
    return { id: entry.conversation_id, offline: !!entry.customer_left_at, current: entry.conversation_id === current,
      text: t("serving_entry", { who: who, channel: t("channel_" + entry.channel), priority: entry.priority, waited: minutes(entry.waited_s) }) + (entry.customer_left_at ? t(entry.channel === "ivr" ? "call_lost_mark" : "customer_offline_mark") : "") };
  }
  function buildServingRow(row) {
    var item = el("li"), open = el("button", "link" + (row.offline ? " offline" : ""), row.text);
    open.type = "button"; open.setAttribute("data-conversation", row.id); open.setAttribute("data-focus", "open");
    if (row.current) { open.setAttribute("aria-current", "true"); }
    open.addEventListener("click", function () { openConversation(row.id); });
    item.appendChild(open);
    return item;
  }
  function buildWorkItem(ticket) {
    var item = el("li", "work-item");
    item.appendChild(el("strong", "line", t("work_item", { ticket_id: ticket.ticket_id, kind: t("ticket_kind_" + ticket.kind), channel: t("channel_" + ticket.channel) })));
    if (ticket.phone) { item.appendChild(workItemPhone(ticket)); }
    if (ticket.callback_by) { item.appendChild(el("span", "line", t("work_item_by", { time: common.when(ticket.callback_by) }))); }
    if (ticket.audio_url) { renderVoiceMessage(item, ticket); }
    else if (ticket.message) { item.appendChild(el("span", "line", t("work_item_message", { text: ticket.message }))); }
    else if (ticket.customer_said && ticket.customer_said.length) { item.appendChild(el("span", "line", t("work_item_said", { text: ticket.customer_said.join(" / ") }))); }
    else if (ticket.summary) { item.appendChild(el("span", "line", ticket.summary)); }
    var done = el("button", null, t("work_item_done")); done.type = "button"; done.setAttribute("data-focus", "done");
    // Asked first, with an optional note kept in the ticket's history (found by a tester: one click closed it, unexplained).
    done.addEventListener("click", function () {
      var note = window.prompt(t("work_item_done_confirm", { ticket_id: ticket.ticket_id }), "");
      if (note === null) { return; }
      api("POST", "tickets/" + encodeURIComponent(ticket.ticket_id) + "/done", { note: note.trim() }).then(function () {
        $("desk-info").textContent = t("work_item_done_info", { ticket_id: ticket.ticket_id }); refreshOverview();
      }).catch(showError);
    });
    item.appendChild(done);
    return item;
  }
  /** The customer closed the page or lost the connection (time they left, or null while they are there). */
  // A web chat whose page closed, or a call whose line went with the process holding it (bot.ivr.held_calls).
  function showOffline(leftAt, channel) {
    $("customer-offline").hidden = !leftAt;
    $("customer-offline").textContent = leftAt ? t(channel === "ivr" ? "call_lost" : "customer_offline",
      { time: common.clock(new Date(leftAt * 1000)) }) : "";
  }
  // A work item's number arrives masked, like the packet's; 显示 opens it (recorded) and it stays open.
  var revealedPhones = {};
  function workItemPhone(ticket) {
    var line = el("span", "line phone", t("work_item_phone", { phone: revealedPhones[ticket.ticket_id] || ticket.phone }));
    if (revealedPhones[ticket.ticket_id]) { return line; }
    var reveal = el("button", "reveal", t("reveal")); reveal.type = "button"; reveal.setAttribute("data-focus", "reveal");
    reveal.addEventListener("click", function () {
      api("POST", "tickets/" + encodeURIComponent(ticket.ticket_id) + "/reveal", {}).then(function (r) {
        revealedPhones[ticket.ticket_id] = r.value; refreshOverview();
      }).catch(showError);
    });
    line.appendChild(reveal);
    return line;
  }
  /** A voice message: why a person must listen, what was heard (if anything) and the recording. */
  function renderVoiceMessage(item, ticket) {
    var key = "reason_voicemail_" + ticket.voice_reason;
    var reason = t(key) === key ? t("reason_voicemail") : t(key);
    item.appendChild(el("span", "line reason", t("work_item_reason", { reason: reason })));
    item.appendChild(el("span", "line voice-transcript", ticket.transcript ? t("work_item_transcript", { text: ticket.transcript }) : t("work_item_no_transcript")));
    item.appendChild(audioPlayer(ticket.audio_url, t("work_item_audio")));
  }
  /** A recording behind the desk's sign-in, fetched only when the agent plays it. */
  function audioPlayer(src, label) {
    var player = document.createElement("audio");
    player.controls = true; player.preload = "none"; player.src = src;
    player.setAttribute("aria-label", label);
    return player;
  }
  var shownGrant = null;
  function renderSkills(all, mine, granted) {  // only the groups a supervisor granted: the agent picks among them
    var box = $("skills");
    if (shownGrant === granted.join(",")) { return; }
    shownGrant = granted.join(","); clear(box);
    Object.keys(all).filter(function (skill) { return granted.indexOf(skill) >= 0; }).forEach(function (skill) {
      var label = el("label"); var box2 = document.createElement("input");
      box2.type = "checkbox"; box2.value = skill; box2.checked = mine.indexOf(skill) >= 0;
      box2.addEventListener("change", saveStatus);
      label.appendChild(box2); label.appendChild(document.createTextNode(all[skill])); box.appendChild(label);
    });
  }
  /** The status chosen, with the groups ticked; before the first overview drew the groups, none is ticked,
   *  and the groups taken stay as they are (found in a review: 在线 chosen right after signing in sent none,
   *  was refused, and the agent stayed 离开 while customers were told nobody was online). */
  function saveStatus() {
    var change = { status: $("status-select").value };
    if (shownGrant !== null) {
      change.skills = Array.prototype.filter.call($("skills").querySelectorAll("input"), function (b) { return b.checked; }).map(function (b) { return b.value; });
    }
    api("POST", "status", change).then(function () { showError(null); refreshOverview(); }).catch(showError);
  }
  /** The self-help list, the entries for the conversation's fault first (the first is the one chosen): found
   *  in a review, a broadband customer's agent had the TV entries on top and had to hunt for the right one. */
  function fillCatalogue(entries) {
    if (entries) { catalogueEntries = entries; }
    var select = $("selfhelp-select"); clear(select);
    var forFault = catalogueEntries.filter(function (e) { return currentFault && e.fault_type === currentFault; });
    var others = catalogueEntries.filter(function (e) { return forFault.indexOf(e) < 0; });
    forFault.concat(others).forEach(function (e) { var o = el("option", null, e.title); o.value = e.id; select.appendChild(o); });
  }

  // ---- one conversation --------------------------------------------------------
  // Every fault the customer named ("电视和宽带都不行了"): those self-help did not fix, the one in hand, those next.
  function faultsOf(slots) {
    slots = slots || {};
    var faults = (slots.faults_unfixed || []).concat([slots.fault_type], slots.faults_next || []);
    return faults.filter(function (f, i) { return f && faults.indexOf(f) === i; });
  }
  /** The self-help the customer was sent, as the summary lists it (bot/repair_faults.selfhelp_by_fault): with more
   *  than one fault in play each fault's own under its name, else one list. Each item links its entry's page, to
   *  open, and can be sent again; an item whose entry the catalogue no longer holds is its title alone. */
  function renderTried() {
    var box = $("selfhelp-tried"); clear(box);
    var groups = [], byFault = {};
    triedSelfhelp.forEach(function (s) {
      var fault = s.fault_type || "";
      if (!byFault.hasOwnProperty(fault)) { byFault[fault] = []; groups.push(fault); }
      byFault[fault].push(s);
    });
    var faults = faultsOf(triedSlots).concat(groups.filter(function (f) { return f; }));
    var grouped = faults.filter(function (f, i) { return faults.indexOf(f) === i; }).length >= 2;
    (grouped ? groups : [null]).forEach(function (fault) {
      if (fault) { box.appendChild(el("h4", "selfhelp-fault", t("fault_" + fault))); }
      var list = el("ul");
      (fault === null ? triedSelfhelp : byFault[fault]).forEach(function (s) { list.appendChild(triedItem(s)); });
      box.appendChild(list);
    });
  }
  function triedItem(s) {
    var item = el("li", "selfhelp-item");
    if (s.page && /^(https?:\/\/|\/)/.test(s.page)) {  // Kefu's own page, or the editor's web page
      var link = el("a", null, s.title); link.href = s.page; link.target = "_blank"; link.rel = "noopener";
      item.appendChild(link);
    } else {
      item.appendChild(document.createTextNode(s.title));
    }
    item.appendChild(document.createTextNode(t("selfhelp_answer", { answer: t("answer_" + (s.answer || "none")) })));
    if (s.page) {  // an entry the catalogue holds: the agent can send it again
      var again = el("button", "selfhelp-again", t("selfhelp_again")); again.type = "button";
      again.setAttribute("aria-label", t("selfhelp_again_label", { title: s.title }));
      again.addEventListener("click", function () { pushSelfhelp(s.id, s.title); });
      item.appendChild(again);
    }
    return item;
  }
  /** Sends an entry to the customer; the list shows it sent just now (the entry's own fault, its page). */
  function pushSelfhelp(entryId, title) {
    if (!current || !entryId) { return; }
    var id = current;
    api("POST", "conversations/" + encodeURIComponent(id) + "/selfhelp", { entry_id: entryId }).then(function () {
      if (id !== current) { return; }  // another conversation on screen by now: its own list stays
      var entry = catalogueEntries.filter(function (e) { return e.id === entryId; })[0] || {};
      var shown = triedSelfhelp.filter(function (s) { return s.id === entryId; })[0];
      if (!shown) {
        shown = { id: entryId, title: entry.title || title, fault_type: entry.fault_type, page: entry.page };
        triedSelfhelp.push(shown);
      }
      shown.answer = "pushed";
      renderTried();
      if (!stream) { pollMessages(); }
    }).catch(showError);
  }
  function openConversation(id) {
    return api("GET", "conversations/" + encodeURIComponent(id)).then(renderConversation).catch(showError);
  }
  // Why the customer is here, in words: a booked callback says so; a reason the desk has no words for
  // reads as 其他 (found by a tester: a callback showed the raw key reason_undefined).
  function reasonLabel(view) {
    var reason = view.reason || (view.callback ? "callback" : "");
    if (!reason) { return null; }
    var key = "reason_" + reason;
    return t(key) === key ? t("reason_other") : t(key);
  }
  function renderConversation(view) {
    if (!view) { return; }
    current = view.conversation_id; currentClaim = view.claimed_at; lastTurn = -1; $("opt-out-done").textContent = ""; $("proof-state").textContent = "";
    partBytes = view.part_bytes || 0; showParts();
    document.dispatchEvent(new CustomEvent("kefu:conversation", { detail: current }));
    $("conversation").hidden = false;
    $("conversation-channel").textContent = t("channel_" + view.channel);
    $("summary").textContent = view.summary || "";
    showOffline(view.customer_left_at, view.channel);
    var transfers = $("transfers"); clear(transfers);  // who handed the customer to this group, and why
    (view.transfers || []).forEach(function (h) {
      transfers.appendChild(el("li", null, t("transfer_item", { agent_name: h.agent_name || h.agent_id,
        from_skill: skillLabels[h.from_skill] || h.from_skill, time: common.when(h.at * 1000),
        note: h.note || t("transfer_no_note") })));
    });
    transfers.hidden = !transfers.firstChild;
    var profile = $("profile"); clear(profile);
    function faultNames(slots) {
      var named = faultsOf(slots);
      return named.length ? named.map(function (f) { return t("fault_" + f); }).join(t("list_separator")) : null;
    }
    var customer = view.customer || {};
    var keyed = (view.collected || {}).vars || {};
    var collected = Object.keys(keyed).map(function (k) { return k + "=" + keyed[k]; }).join(" ") || null;
    var callback = view.callback || {};  // a booked callback: the number to ring (masked until revealed) and its ticket
    [["callback_phone", callback.phone], ["callback_ticket", callback.ticket_id], ["name", customer.name], ["vip_tier", customer.vip_tier], ["phone", customer.phone || view.phone], ["claimed_phone", view.claimed_phone], ["account_number", customer.account_number], ["address", customer.address], ["reason", reasonLabel(view)], ["skill", skillLabels[view.skill] || view.skill], ["fault", faultNames(view.slots)], ["priority", view.priority], ["waited", minutes(view.wait_s)], ["collected", collected]].forEach(function (row) {
      if (row[0].indexOf("callback_") === 0 && !row[1]) { return; }  // not a callback: no such rows
      if (row[0] === "claimed_phone" && !row[1]) { return; }  // only claimed by a client: shown masked, never revealed
      // A callback on a number the customer only named (never proven theirs): the number to ring, not an account.
      var named = row[0] === "callback_phone" && callback.proven === false;
      profile.appendChild(el("dt", null, t(named ? "field_callback_phone_named" : "field_" + row[0])));
      var dd = el("dd", null, row[1] === undefined || row[1] === null ? "-" : row[1]);
      dd.setAttribute("data-field", row[0]);
      // A reveal only where something is masked: keyed values with no personal number show as they are.
      var masked = row[0] !== "collected" || String(row[1]).indexOf("*") >= 0;
      if ((row[0] === "phone" || row[0] === "account_number" || row[0] === "collected" || row[0] === "callback_phone") && row[1] && masked) {
        var reveal = el("button", "reveal", t("reveal")); reveal.type = "button";
        reveal.addEventListener("click", function () {
          api("POST", "conversations/" + encodeURIComponent(current) + "/reveal", { field: row[0] }).then(function (r) { dd.firstChild.textContent = typeof r.value === "object" && r.value ? Object.keys(r.value).map(function (k) { return k + "=" + r.value[k]; }).join(" ") : String(r.value); reveal.remove(); }).catch(showError);
        });
        dd.textContent = ""; dd.appendChild(document.createTextNode(String(row[1]))); dd.appendChild(reveal);
      }
      profile.appendChild(dd);
    });
    currentFault = (view.slots && view.slots.fault_type) || null; fillCatalogue(null);
    triedSelfhelp = (view.selfhelp || []).slice(); triedSlots = view.slots || {}; renderTried();
    var intents = $("intents"); clear(intents);
    (view.intents || []).forEach(function (i) {
      var pressed = /^[\/#]/.test(i.text || "");
      intents.appendChild(el("li", null, t(pressed ? "intent_item_button" : "intent_item", { intent: intentLabel(i.intent), confidence: Math.round(i.confidence * 100), text: i.text })));
    });
    var tickets = $("open-tickets"); clear(tickets);
    (view.open_tickets || []).forEach(function (k) {
      var line = el("li", null, t("ticket_item", { ticket_id: k.ticket_id, kind: t("ticket_kind_" + k.kind), status: k.status }));
      if (k.visit_time) { line.appendChild(el("span", "visit-time", t("visit_time", { when: k.visit_time }))); }  // the visit's promised time
      tickets.appendChild(line);
    });
    clear($("transcript"));
    $("close-confirm").hidden = true;
    openStream();
  }

  // New turns are pushed by the server (server-sent events); polling only if the browser has no EventSource.
  function openStream() {
    stopStream();
    if (!current) { return; }
    if (!window.EventSource) { pollMessages(); messagesTimer = window.setInterval(pollMessages, 3000); return; }
    var id = current;
    stream = new EventSource("/agent/api/conversations/" + encodeURIComponent(id) + "/stream?after=" + lastTurn);
    stream.onmessage = function (event) { if (id === current) { showTurns(JSON.parse(event.data)); } };
    stream.addEventListener("ended", function () { if (id === current) { endConversation(); } });
    stream.onerror = function () {
      // The server closes the stream when it restarts: check the conversation is still ours, then reconnect.
      if (stream) { stream.close(); stream = null; }
      reopenStream(id, 1000);
    };
  }
  /** Reopened only once a poll succeeds, tried again (up to every 10 s) while the server or Redis is still
   * coming back: found in a fault review, one try a second later gave up for good during a Redis restart and
   * the customer's later messages never showed. Signed out, the login form shows and the retries stop;
   * the conversation ended (or another opened), they stop too. */
  function reopenStream(id, delay) {
    window.setTimeout(function () {
      if (id !== current || stream) { return; }
      pollMessages().then(function (ok) {
        if (id !== current || stream) { return; }
        if (ok) { openStream(); } else if (!$("desk").hidden) { reopenStream(id, Math.min(delay * 2, 10000)); }
      });
    }, delay);
  }
  function stopStream() {
    if (stream) { stream.close(); stream = null; }
    window.clearInterval(messagesTimer);
  }
  /** Resolves to true when the conversation's new turns were fetched. */
  function pollMessages() {
    if (!current) { return Promise.resolve(false); }
    var id = current;
    return api("GET", "conversations/" + encodeURIComponent(id) + "/messages?after=" + lastTurn).then(function (data) {
      if (id === current) { showTurns(data); }
      return true;
    }).catch(function (e) {
      if (e.code === "error_not_serving") { endConversation(); }
      return false;
    });
  }
  function showTurns(data) {
    showDelivered(data.pending || []);
    data.turns.forEach(function (turn) {
      if (turn.index <= lastTurn) { return; }
      lastTurn = turn.index;
      $("transcript").appendChild(renderTurn(turn));
      if (turn.proof) { showProof(turn.proof === "passed" ? "verified" : "failed"); }
    });
    $("transcript").scrollTop = $("transcript").scrollHeight;
  }
  /** One turn as the customer saw it: button titles, video names and queue notices, never payloads. */
  function renderTurn(turn) {
    var row = el("div", "turn " + turn.who);
    row.dataset.index = turn.index;
    row.appendChild(el("span", "who", turn.who === "agent" ? t("who_agent", { agent_name: turn.agent_name || "" }) : t("who_" + turn.who) + (turn.voice ? t("voice_mark") : "")));
    var text = turn.text;
    if (turn.queue) { text = t("turn_queue", { position: turn.queue.position, wait_minutes: turn.queue.wait_minutes || "-" }); }
    row.appendChild(el("span", "text", text || (turn.pressed ? t("turn_pressed_unknown") : "")));
    if (turn.pressed) { row.appendChild(el("span", "pressed", t("turn_pressed"))); }
    if (turn.proof) { row.appendChild(el("span", "extra proof-" + turn.proof, t("turn_proof_" + turn.proof))); }
    if (turn.undelivered) { markUndelivered(row, turn.undelivered); }
    // A WeChat follower's picture or video: fetched by Kefu through WeChat's media API (no CDN
    // hotlink rules, only media this conversation names); else the picture's address on WeChat's servers.
    var mediaLink = null;
    if (turn.media && turn.media.id && current) {
      mediaLink = el("a", "extra", t(turn.media.kind === "image" ? "turn_image_open" : "turn_media_video"));
      mediaLink.href = "/agent/api/conversations/" + encodeURIComponent(current) + "/wechat_media/" + encodeURIComponent(turn.media.id);
    } else if (turn.image_url && /^https?:\/\//.test(turn.image_url)) {
      mediaLink = el("a", "extra", t("turn_image_open"));
      mediaLink.href = turn.image_url;
    }
    if (mediaLink) { mediaLink.target = "_blank"; mediaLink.rel = "noopener noreferrer"; row.appendChild(mediaLink); }
    if (turn.video) { row.appendChild(el("span", "extra", t("turn_video", { title: turn.video }))); }
    if (turn.buttons && turn.buttons.length) { row.appendChild(el("span", "extra", t("turn_buttons", { titles: turn.buttons.join(" | ") }))); }
    if (turn.clip) {  // a phone caller's words nobody transcribed: the agent listens instead
      row.appendChild(el("span", "extra clip", t("turn_clip", { seconds: turn.clip.seconds })));
      row.appendChild(audioPlayer("/agent/api/conversations/" + encodeURIComponent(current) + "/clips/" + encodeURIComponent(turn.clip.id), t("turn_clip_audio")));
    }
    return row;
  }
  /** Where a proof stands beside its button; once proven, the customer view reloads. */
  function showProof(state) {
    $("proof-state").textContent = t(state === "failed" ? "turn_proof_failed" : "proof_state_" + state);
    if (state === "verified") { document.dispatchEvent(new CustomEvent("kefu:customer-verified", { detail: current })); }
  }
  /** How many WeChat messages the reply being typed will become (about: it is cut where sentences end). */
  function showParts() {
    var bytes = partBytes && window.TextEncoder ? new TextEncoder().encode($("reply-input").value.trim()).length : 0;
    var parts = partBytes ? Math.ceil(bytes / partBytes) : 0;
    $("reply-parts").textContent = parts > 1 ? t("reply_parts", { n: parts }) : "";
  }
  /** An agent message the customer's channel refused (WeChat's 48-hour window...): never shown as sent. */
  function markUndelivered(row, reason) {
    if (row.querySelector(".undelivered")) { return; }
    row.classList.add("undelivered");
    if (reason === "held") { row.classList.add("undelivered-held"); }
    row.appendChild(el("span", "extra undelivered", t("undelivered_" + reason)));
  }
  /** Messages WeChat held for quota are sent when the customer writes again: then their mark goes.
   *  The server's list is the truth (an older update may have crossed the send's own answer). */
  function showDelivered(pending) {
    Array.prototype.forEach.call($("transcript").querySelectorAll(".turn"), function (row) {
      var held = pending.indexOf(Number(row.dataset.index)) !== -1;
      if (held) { markUndelivered(row, "held"); return; }
      if (!row.classList.contains("undelivered-held")) { return; }
      row.classList.remove("undelivered", "undelivered-held");
      var mark = row.querySelector(".extra.undelivered");
      if (mark) { mark.remove(); }
    });
  }
  function endConversation() {
    current = null; stopStream(); $("conversation").hidden = true; refreshOverview();
    document.dispatchEvent(new CustomEvent("kefu:conversation", { detail: null }));
  }
  function closeConversation() {
    var disposition = $("disposition").value;
    api("POST", "conversations/" + encodeURIComponent(current) + "/close", { disposition: disposition, skill: $("transfer-skill").value, note: $("close-note").value, phone: $("callback-phone").value, claimed_at: currentClaim })
      .then(function (result) {
        $("close-note").value = ""; $("callback-phone").value = ""; confirmBar.close($("close-confirm"), $("claim")); endConversation(); showError(null);
        // A retry of a close made before answers as that close (its disposition, which may not be the one chosen now).
        $("desk-info").textContent = closedInfo(result, result.disposition || disposition);
      }).catch(function (e) {
        showError(e);
        // the claim on screen ended (one closed before, the customer taken again since): its screen goes
        if (e.code === "error_not_serving") { confirmBar.close($("close-confirm"), $("claim")); endConversation(); }
      });
  }
  /** What the close came to, as its answer says: a lost call (its line went with the process holding it)
   *  is never worded as a web chat whose customer left, and its ticket number was heard by nobody. */
  function closedInfo(result, disposition) {
    var ticket = result.ticket_id && disposition !== "resolved";
    if (result.call_lost && disposition === "transfer") {  // lost before or as it was transferred: nobody waits
      return t("closed_transfer_call_lost");
    }
    if (result.call_lost) {  // nothing was said into the dead line: the ticket's number went by SMS, if it could
      if (ticket && result.notice_texted) {
        return t("closed_call_lost_ticket_texted", { ticket_id: result.ticket_id, phone: result.notice_texted });
      }
      if (ticket && result.notice_withheld) {  // the caller opted out of our texts, or is on the do-not-disturb list
        return t(result.notice_withheld === "dnd" ? "closed_call_lost_ticket_dnd" : "closed_call_lost_ticket_opted_out",
          { ticket_id: result.ticket_id });
      }
      return ticket ? t("closed_call_lost_ticket", { ticket_id: result.ticket_id })
        : t(result.customer_gone ? "closed_call_lost_unanswered" : "closed_call_lost");
    }
    if (result.customer_gone) {  // a follow-up ticket or callback the agent chose is still made: say its number
      return ticket ? t("closed_customer_gone_ticket", { ticket_id: result.ticket_id }) : t("closed_customer_gone");
    }
    return ticket ? t("closed_with_ticket", { ticket_id: result.ticket_id }) : t("closed_" + disposition);
  }

  function start() {
    // A late answer to a call made before signing out must not show the reason on a fresh login form.
    common.signedOut = function () { if ($("login").hidden) { showLogin("error_signed_out"); } };
    common.applyStrings("page_title");
    $("login-form").addEventListener("submit", function (event) {
      event.preventDefault();
      api("POST", "login", { name: $("login-name").value, password: $("login-password").value })
        .then(function () { $("login-error").textContent = ""; $("login-password").value = ""; markLoginInvalid(false); showDesk(); })
        .catch(function (e) { $("login-error").textContent = t(e.code); markLoginInvalid(e.code === "error_login"); });
    });
    $("login-password").addEventListener("input", function () { markLoginInvalid(false); });
    // Conversations still held go back to their queue when the agent signs out: asked first.
    function signOut() {
      confirmBar.close($("logout-confirm"), null);
      current = null; stopStream(); $("conversation").hidden = true;
      document.dispatchEvent(new CustomEvent("kefu:conversation", { detail: null }));
      // Signed out on purpose: the focus goes to the login form, where the agent's next step is.
      function shown() { showLogin(); $("login-name").focus(); }
      api("POST", "logout", {}).then(shown).catch(shown);
    }
    $("logout").addEventListener("click", function () {
      api("GET", "overview").then(function (data) {
        if (!data.serving.length) { signOut(); return; }
        $("logout-confirm-text").textContent = t("logout_confirm", { count: data.serving.length });
        confirmBar.open($("logout-confirm"), $("logout-confirm-no"), $("logout"));
      }).catch(showError);
    });
    $("logout-confirm-yes").addEventListener("click", signOut);
    confirmBar.cancelWith($("logout-confirm"), $("logout-confirm-no"));
    $("status-select").addEventListener("change", saveStatus);
    $("claim").addEventListener("click", function () {
      // A press with no answer (the network, a timeout, the server restarting) may have taken a customer: the
      // next press sends its request id again and gets that customer, not a second one. An answer spends it.
      var sent = claimRequest = claimRequest || newRequestId();
      api("POST", "claim", { request_id: sent }).then(function (r) {
        if (claimRequest === sent && "conversation" in r) { claimRequest = null; }  // else its body was cut off
        if (!r.conversation) { showError({ code: "queue_empty" }); return; }
        showError(null); renderConversation(r.conversation); refreshOverview();
        if (r.conversation.speech_not_transcribed) { $("desk-info").textContent = t("claim_not_transcribed"); }
      }).catch(function (e) {
        if (claimRequest === sent && e && e.status && e.status < 500) { claimRequest = null; }  // refused: nothing taken
        showError(e);
      });
    });
    $("reply-input").addEventListener("input", showParts);
    $("reply-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var text = $("reply-input").value.trim();
      if (!text || !current) { return; }
      api("POST", "conversations/" + encodeURIComponent(current) + "/messages", { text: text })
        .then(function () { $("reply-input").value = ""; showParts(); if (!stream) { pollMessages(); } })
        .catch(function (e) {
          showError(e);
          var reason = /^error_not_delivered_(\w+)$/.exec((e && e.code) || "");
          if (!reason) { return; }
          // Recorded but refused: mark it where it is already shown (the stream may have sent it first).
          var rows = $("transcript").querySelectorAll(".turn.agent");
          var last = rows.length ? rows[rows.length - 1] : null;
          if (last && last.querySelector(".text").textContent === text) { markUndelivered(last, reason[1]); }
          else if (!stream) { pollMessages(); }
        });
    });
    $("selfhelp-push").addEventListener("click", function () {
      var select = $("selfhelp-select"), title = select.options[select.selectedIndex] ? select.options[select.selectedIndex].textContent : "";
      pushSelfhelp(select.value, title);
    });
    // 客户要求不再联系: recorded at once (audited on the server), confirmed beside the button.
    $("opt-out").addEventListener("click", function () {
      if (!current) { return; }
      if (!window.confirm(t("opt_out_confirm"))) { return; }
      api("POST", "conversations/" + encodeURIComponent(current) + "/opt_out", {}).then(function (r) {
        $("opt-out-done").textContent = r.phone ? t("opt_out_done_phone", { phone: r.phone }) : t("opt_out_done");
      }).catch(showError);
    });
    // 请客户验证身份: the bot asks the customer for proof and checks it; the agent sees only the outcome.
    $("proof-ask").title = t("proof_ask_note");
    $("proof-ask").addEventListener("click", function () {
      if (!current) { return; }
      api("POST", "conversations/" + encodeURIComponent(current) + "/proof", {}).then(function (r) {
        showProof(r.state);
        if (!stream) { pollMessages(); }
      }).catch(showError);
    });
    $("close-submit").addEventListener("click", function () {
      if (!current) { return; }
      var disposition = $("disposition").value;
      $("close-confirm-text").textContent = t("close_confirm_" + disposition, { skill: skillLabels[$("transfer-skill").value] || "" });
      // The button says what it does: a transfer does not end the customer's service (found in a review).
      $("close-confirm-yes").textContent = t(disposition === "transfer" ? "close_confirm_yes_transfer" : "close_confirm_yes");
      confirmBar.open($("close-confirm"), $("close-confirm-no"), $("close-submit"));
    });
    // A callback, or a follow-up ticket for a customer nobody knows, needs a number: asked for here unless
    // the customer's is known (error_callback_number, error_ticket_number).
    $("disposition").addEventListener("change", function () {
      $("callback-phone").hidden = ["callback", "ticket"].indexOf($("disposition").value) < 0;
    });
    $("close-confirm-yes").addEventListener("click", function () { if (current) { closeConversation(); } });
    confirmBar.cancelWith($("close-confirm"), $("close-confirm-no"));
    api("GET", "overview").then(function () { showDesk(); }).catch(function () { showLogin(); });
  }

  common.loadStrings().then(function () { common.whenReady(start); });
})();
