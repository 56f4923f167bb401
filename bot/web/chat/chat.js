/*
 * Kefu web chat. No build step, no third-party code.
 *
 * Transport: socket.js (a minimal Socket.IO v5 client, loaded first).
 * Protocol: the Rasa web-chat one (session_request/session_confirm, user_uttered/bot_uttered).
 * Every string shown to people comes from /chat/ui/webchat.zh.json; every message text is
 * inserted with textContent, never as HTML.
 */
(function () {
  "use strict";

  var SESSION_KEY = "kefu.webchat.session";
  var HISTORY_KEY = "kefu.webchat.history";
  var SEEN_KEY = "kefu.webchat.seen_at";   // the latest server message's timestamp this page received
  var PENDING_KEY = "kefu.webchat.pending"; // sent, not yet acknowledged: [{id, payload}] (webchat_delivery.py)
  var HISTORY_LIMIT = 200;
  var TYPING_TIMEOUT_MS = 30000;
  var MESSAGE_LIMIT = 2000;           // the webchat channel's max_message_chars (credentials.yml)
  var PRESENCE_INTERVAL_MS = 20000;   // tells the waiting room this tab is still open
  var SENDING_NOTE_AFTER_MS = 1500;   // an ack slower than this shows "sending" under the bubble

  var strings = {};
  var log, typing, statusEl, input;
  var typingTimer = null;

  // ---- strings ------------------------------------------------------------
  function list(key) {
    var value = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : null;
    return Array.isArray(value) ? value : [];
  }

  function t(key, values) {
    var text = Object.prototype.hasOwnProperty.call(strings, key) ? String(strings[key]) : key;
    if (values) {
      text = text.replace(/\{(\w+)\}/g, function (whole, name) {
        return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
      });
    }
    return text;
  }

  function applyStrings() {
    document.title = t("page_title");
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (el) {
      el.textContent = t(el.getAttribute("data-i18n"));
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-placeholder]"), function (el) {
      el.setAttribute("placeholder", t(el.getAttribute("data-i18n-placeholder")));
    });
  }

  // ---- storage ------------------------------------------------------------
  // The conversation (session id, what was said) lives in this tab's sessionStorage: a reload or a
  // visit to another page in the same tab keeps it, closing the tab or the browser forgets it. It was
  // in localStorage, where the next person at a shared PC saw the previous customer's verified
  // balances and bills (found by a data-protection audit); what an older page left there is removed.
  function store() {
    try { return window.sessionStorage; } catch (e) { return null; }
  }
  function load(key, fallback) {
    try { var v = store().getItem(key); return v === null ? fallback : JSON.parse(v); }
    catch (e) { return fallback; }
  }
  function save(key, value) {
    try { store().setItem(key, JSON.stringify(value)); } catch (e) { /* private mode */ }
  }
  function forgetLegacyStorage() {
    try {
      [SESSION_KEY, HISTORY_KEY, SEEN_KEY, PENDING_KEY].forEach(function (key) { window.localStorage.removeItem(key); });
    } catch (e) { /* storage unavailable */ }
  }
  function remember(entry) {
    var history = load(HISTORY_KEY, []);
    history.push(entry);
    save(HISTORY_KEY, history.slice(-HISTORY_LIMIT));
  }

  // ---- rendering ----------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function safeUrl(url) {
    if (typeof url !== "string" || !url) { return null; }
    try {
      var parsed = new URL(url, window.location.href);
      return (parsed.protocol === "http:" || parsed.protocol === "https:") ? parsed.href : null;
    } catch (e) { return null; }
  }

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  // Who speaks, for screen readers: the log announces new messages but bubbles only differ in colour.
  // A visually hidden "you" / "bot" label goes before the first bubble of each turn (agents' bubbles
  // name their agent already). Beside the bubble, not in it, so a bubble's text stays what was said.
  var lastSpeaker = null;
  function speaker(who) {
    if (who === lastSpeaker) { return; }
    lastSpeaker = who;
    if (who !== "agent") { log.appendChild(el("span", "visually-hidden speaker", t(who === "user" ? "you" : "bot"))); }
  }
  function clearLog() { log.textContent = ""; lastSpeaker = null; }

  /** Buttons shown so far are spent; with ``keepAt`` (a message's timestamp), except those of that very
   *  message: the server sends a message's buttons and its custom part as two parts, buttons first. */
  function disableOldReplies(keepAt) {
    Array.prototype.forEach.call(log.querySelectorAll(".replies"), function (row) {
      if (keepAt !== undefined && row.getAttribute("data-at") === String(keepAt)) { return; }
      Array.prototype.forEach.call(row.querySelectorAll("button"), function (b) { b.disabled = true; });
    });
  }

  function renderReplies(replies, live, at) {
    var row = el("div", "replies");
    if (typeof at === "number") { row.setAttribute("data-at", String(at)); }
    replies.forEach(function (reply) {
      if (!reply || typeof reply !== "object") { return; }
      if (reply.type === "web_url") {
        var href = safeUrl(reply.url);
        if (!href) { return; }
        var link = el("a", "link-button", reply.title || href);
        link.href = href;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        link.title = t("link_hint");
        row.appendChild(link);
      } else {
        var button = el("button", "reply-button", reply.title || reply.payload);
        button.type = "button";
        button.disabled = !live;
        button.addEventListener("click", function () {
          send(String(reply.payload || reply.title || ""), String(reply.title || reply.payload || ""));
        });
        row.appendChild(button);
      }
    });
    if (row.childNodes.length) { log.appendChild(row); }
  }

  function renderAttachment(attachment) {
    var payload = (attachment && attachment.payload) || {};
    var src = safeUrl(payload.src || payload.url);
    if (!src) { return; }
    var figure = el("figure", "media");
    figure.style.margin = "0";
    if (attachment.type === "video") {
      var video = document.createElement("video");
      video.controls = true;
      video.preload = "metadata";
      video.setAttribute("playsinline", "");
      var poster = safeUrl(payload.poster);
      if (poster) { video.poster = poster; }
      video.src = src;
      var fallback = el("a", null, t("video_unsupported"));
      fallback.href = src;
      fallback.target = "_blank";
      fallback.rel = "noopener noreferrer";
      video.appendChild(fallback);
      video.setAttribute("aria-label", payload.title || t("video_label"));
      figure.appendChild(video);
    } else if (attachment.type === "image") {
      var img = document.createElement("img");
      img.src = src;
      img.alt = payload.title || t("image_label");
      img.loading = "lazy";
      figure.appendChild(img);
    } else {
      return;
    }
    // A video's title is the first line of the message it comes with: no caption repeating it.
    if (payload.title && attachment.type !== "video") { figure.appendChild(el("figcaption", null, payload.title)); }
    log.appendChild(figure);
  }

  function renderCustom(custom, at) {
    if (!custom || typeof custom !== "object") { return; }
    if (custom.kind === "queue_status" && custom.agents_available === false) {
      return; // the assistant's own words already say nobody is there; no made-up wait
    } else if (custom.kind === "queue_status") {
      var position = Number(custom.position), minutes = Number(custom.wait_minutes);
      log.appendChild(el("div", "notice queue", t("queue_status", {
        position: isFinite(position) ? position : "-", wait_minutes: isFinite(minutes) ? minutes : "-"
      })));
    } else if (custom.kind === "agent_message") {
      speaker("agent");
      var bubble = el("div", "msg agent");
      bubble.appendChild(el("span", "agent-name", t("agent_label", { agent_name: custom.agent_name || "" })));
      bubble.appendChild(el("span", "agent-text", custom.text || ""));
      log.appendChild(bubble);
    } else if (custom.kind === "agent_joined") {
      disableOldReplies(); // the waiting room's options (cancel, message, callback) are spent
    } else if (custom.kind === "queue_left") {
      // Out of the queue (a supervisor removed it, or it timed out): the waiting room's options are spent,
      // not what the same message offers now (booking a callback).
      disableOldReplies(typeof at === "number" ? at : undefined);
    } else if (custom.kind === "notice") {
      log.appendChild(el("div", "notice", t("notice_" + String(custom.reason || ""), { limit: MESSAGE_LIMIT })));
    }
  }

  /** Render one bot_uttered message; ``live`` is false when replaying history. */
  function renderBot(message, live) {
    if (!message || typeof message !== "object") { return; }
    if (typeof message.text === "string" && message.text) { speaker("bot"); log.appendChild(el("div", "msg bot", message.text)); }
    if (message.attachment) { renderAttachment(message.attachment); }
    if (message.image) { renderAttachment({ type: "image", payload: { src: message.image } }); }
    if (message.custom) { renderCustom(message.custom, message.timestamp); }
    var replies = message.quick_replies || message.buttons;
    if (Array.isArray(replies) && replies.length) { renderReplies(replies, live, message.timestamp); }
  }

  function renderUser(text, id) {
    speaker("user");
    var bubble = el("div", "msg user", text);
    if (id) { bubble.setAttribute("data-id", id); }
    log.appendChild(bubble);
  }

  // ---- delivery: each message is kept until the server acknowledges it ------
  // A message gets a random id; it stays in sessionStorage (PENDING_KEY) until the server's ack,
  // is sent again after every reconnect, and the server takes each id once (bot/channels/
  // webchat_delivery.py). Its bubble says "sending" while the ack is awaited and "not sent yet"
  // while the connection is down; nothing once it is through.
  function newId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function pendingList() { return load(PENDING_KEY, []); }
  function markState(id, state) {
    var old = log.querySelector('.msg-state[data-for="' + id + '"]');
    if (!state) { if (old) { old.parentNode.removeChild(old); } return; }
    if (old && old.getAttribute("data-state") === state) { return; }
    var bubble = log.querySelector('.msg.user[data-id="' + id + '"]');
    if (!bubble) { return; }
    var note = el("p", "msg-state", t(state === "sending" ? "message_sending" : "message_not_sent"));
    note.setAttribute("data-for", id);
    note.setAttribute("data-state", state);
    if (old) { old.parentNode.replaceChild(note, old); }
    else { bubble.parentNode.insertBefore(note, bubble.nextSibling); }
  }
  function settle(id) {
    save(PENDING_KEY, pendingList().filter(function (p) { return p.id !== id; }));
    markState(id, null);
  }
  var ready = false;  // this connection's session is confirmed: messages can go
  var secrets = {};   // id -> what was typed at a proof prompt: in memory only, never in sessionStorage
  function deliver(item) {
    var payload = item.secret ? secrets[item.id] : item.payload;
    if (typeof payload !== "string") { settle(item.id); return; }  // a secret lost with a reload: retyped
    var sent = ready && socket.emitWithAck("user_uttered",
      { message: payload, session_id: sessionId, client_id: item.id },
      function (error, reply) {
        if (error || (reply && reply.ok === false && reply.reason === "no_session")) { markState(item.id, "retrying"); }
        else { settle(item.id); delete secrets[item.id]; }  // taken, taken before, or refused for good (the page was told why)
      });
    if (!sent) { markState(item.id, "retrying"); return; }
    // "Sending" only when the ack is slow: a note on every message would flash, and the log (a live
    // region) would read it out each time.
    window.setTimeout(function () {
      var waiting = pendingList().some(function (p) { return p.id === item.id; });
      var note = log.querySelector('.msg-state[data-for="' + item.id + '"]');
      if (waiting && !note) { markState(item.id, "sending"); }
    }, SENDING_NOTE_AFTER_MS);
  }
  function deliverPending() { pendingList().forEach(deliver); }

  function agentJoined(message) {
    return Boolean(message && message.custom && message.custom.kind === "agent_joined");
  }

  function hasReplies(message) {
    var replies = message && (message.quick_replies || message.buttons);
    return Array.isArray(replies) && replies.some(function (r) { return r && r.type !== "web_url"; });
  }

  /** Replays the stored conversation; the latest quick replies stay usable if nothing was sent, and no
   *  agent joined, after them. */
  function replayHistory() {
    var history = load(HISTORY_KEY, []);
    var live = -1;
    history.forEach(function (entry, i) {
      if (entry.who === "user" || (entry.who === "bot" && agentJoined(entry.message))) { live = -1; }
      else if (entry.who === "bot" && hasReplies(entry.message)) { live = i; }
    });
    history.forEach(function (entry, i) {
      if (entry.who === "user") { renderUser(entry.text, entry.id); }
      else if (entry.who === "bot") { renderBot(entry.message, i === live); noteAgent(entry.message); }
    });
    pendingList().forEach(function (item) { markState(item.id, "retrying"); });
    var last = history.filter(function (e) { return e.who === "bot" || e.who === "user"; }).pop();
    proofInput(Boolean(last && last.who === "bot" && last.message && last.message.input === "proof"));
    scrollDown();
    return history.length;
  }

  /** A new conversation opens with a greeting and suggestions (UI strings, not a bot turn). */
  function greet() {
    var suggestions = list("greeting_suggestions").map(function (s) {
      return { content_type: "text", title: String(s.title || ""), payload: String(s.payload || s.title || "") };
    });
    var message = { text: t("greeting"), quick_replies: suggestions };
    renderBot(message, true);
    remember({ who: "bot", message: message });
  }

  // ---- the message length limit --------------------------------------------
  function showNote(text) {
    var note = document.getElementById("composer-note");
    note.textContent = text || "";
    note.hidden = !text;
  }
  var draftWasCut = false;
  function enforceLimit() {
    if (input.value.length > MESSAGE_LIMIT) {
      input.value = input.value.slice(0, MESSAGE_LIMIT);
      draftWasCut = true;
      showNote(t("notice_cut_draft", { limit: MESSAGE_LIMIT }));
    }
  }

  // ---- answers to a proof prompt ------------------------------------------------
  // A message asking for an SMS code or the service password says "input": "proof" (bot/channels/
  // webchat.py). The answer is then typed on a numeric keypad that offers the SMS code, and is shown
  // and stored masked: a 6-digit run, as the server blanks it in what it stores (bot/handoff/masking.py).
  var asksProof = false;
  function masked(text) {
    return String(text).replace(/(^|[^0-9])[0-9]{6}(?![0-9])/g, function (whole, before) { return before + "\u2022\u2022\u2022\u2022\u2022\u2022"; });
  }
  function proofInput(on) {
    asksProof = on;
    if (on) { input.setAttribute("inputmode", "numeric"); input.setAttribute("autocomplete", "one-time-code"); }
    else { input.removeAttribute("inputmode"); input.setAttribute("autocomplete", "off"); }
  }

  // ---- typing indicator ---------------------------------------------------
  // While a person serves, no assistant reply follows the customer's message: no typing dots.
  var agentHolds = false;
  function noteAgent(message) {
    var kind = message && message.custom && message.custom.kind;
    if (kind === "agent_joined" || kind === "agent_message") { agentHolds = true; }
    else if (kind === "agent_left" || kind === "queue_left" || kind === "queue_status") { agentHolds = false; }
  }
  function showTyping() {
    if (agentHolds) { return; }
    typing.hidden = false;
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(hideTyping, TYPING_TIMEOUT_MS);
    scrollDown();
  }
  function hideTyping() { typing.hidden = true; window.clearTimeout(typingTimer); }

  // ---- conversation -------------------------------------------------------
  var socket;
  forgetLegacyStorage();
  var sessionId = load(SESSION_KEY, null);

  function send(payload, shown) {
    payload = String(payload).trim();
    if (!payload) { return; }
    showNote("");
    disableOldReplies();
    var item = { id: newId(), payload: payload };
    shown = shown || payload;
    if (asksProof && masked(payload) !== payload) {  // an SMS code or the service password
      secrets[item.id] = payload;
      item = { id: item.id, payload: masked(payload), secret: true };
      shown = masked(shown);
    }
    proofInput(false);
    renderUser(shown, item.id);
    remember({ who: "user", text: shown, id: item.id });
    save(PENDING_KEY, pendingList().concat([item]));
    deliver(item);
    showTyping();
    scrollDown();
  }

  function onEvent(name, data) {
    if (name === "connect") {
      ready = false;
      // The server sends again what was said after seen_at: while the page was closed, or offline.
      socket.emit("session_request", { session_id: sessionId, seen_at: sessionId ? load(SEEN_KEY, null) : null });
    } else if (name === "session_confirm") {
      var confirmed = typeof data === "string" ? data : (data && data.session_id);
      if (confirmed && confirmed !== sessionId) {
        if (sessionId) { save(HISTORY_KEY, []); save(PENDING_KEY, []); clearLog(); greet(); }
        sessionId = confirmed;
        save(SESSION_KEY, sessionId);
        save(SEEN_KEY, 0);
      }
      ready = true;
      deliverPending();  // what was typed while the connection was down, or never acknowledged
    } else if (name === "bot_uttered") {
      hideTyping();
      noteAgent(data);
      proofInput(Boolean(data && data.input === "proof"));
      renderBot(data, true);
      remember({ who: "bot", message: data });
      if (data && typeof data.timestamp === "number" && data.timestamp > load(SEEN_KEY, 0)) { save(SEEN_KEY, data.timestamp); }
      scrollDown();
    }
  }

  function onState(state) {
    if (state !== "online") {
      ready = false;
      pendingList().forEach(function (item) { markState(item.id, "retrying"); });
    }
    if (statusEl.getAttribute("data-state") === state) { return; }  // announced once per change
    statusEl.setAttribute("data-state", state);
    statusEl.textContent = t(state === "online" ? "status_online" : "status_offline");
  }

  function newConversation() {
    confirmBar(false);
    save(HISTORY_KEY, []);
    save(SESSION_KEY, null);
    save(SEEN_KEY, null);
    save(PENDING_KEY, []);
    agentHolds = false;
    sessionId = null;
    clearLog();
    showNote("");
    greet();
    socket.emit("session_request", { session_id: null });
  }

  function confirmBar(show) {
    var bar = document.getElementById("confirm-new");
    bar.hidden = !show;
    if (show) { document.getElementById("confirm-new-no").focus(); }
  }

  function start() {
    log = document.getElementById("log");
    typing = document.getElementById("typing");
    statusEl = document.getElementById("status");
    input = document.getElementById("input");
    document.getElementById("composer").addEventListener("submit", function (event) {
      event.preventDefault();
      enforceLimit();
      var text = input.value, cut = draftWasCut;
      input.value = "";
      draftWasCut = false;
      send(text);
      if (cut && text.trim()) {       // the log keeps a note that what was sent is not all that was typed
        var notice = { custom: { kind: "notice", reason: "cut" } };
        renderBot(notice, true);
        remember({ who: "bot", message: notice });
        scrollDown();
      }
    });
    input.addEventListener("input", function () {
      if (input.value.length > MESSAGE_LIMIT) { enforceLimit(); }
      else if (!input.value) { showNote(""); draftWasCut = false; }
    });
    document.getElementById("new-conversation").addEventListener("click", function () {
      // Nothing to lose in an untouched conversation; otherwise ask first.
      if (load(HISTORY_KEY, []).some(function (e) { return e.who === "user"; })) { confirmBar(true); }
      else { newConversation(); }
    });
    document.getElementById("confirm-new-yes").addEventListener("click", newConversation);
    document.getElementById("confirm-new-no").addEventListener("click", function () { confirmBar(false); });
    if (!replayHistory()) { greet(); }
    socket = new window.KefuSocket(onEvent, onState);
    socket.open();
    window.setInterval(function () {
      if (sessionId) { socket.emit("session_alive", { session_id: sessionId }); }
    }, PRESENCE_INTERVAL_MS);
    // Tests and embedders can feed a message through the same renderer the socket uses.
    window.kefuChat = { receive: function (message) { onEvent("bot_uttered", message); }, session: function () { return sessionId; } };
  }

  fetch("/chat/ui/webchat.zh.json", { cache: "no-cache" })
    .then(function (r) { return r.ok ? r.json() : {}; })
    .catch(function () { return {}; })
    .then(function (loaded) {
      strings = loaded || {};
      applyStrings();
      if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
      else { start(); }
    });
})();
