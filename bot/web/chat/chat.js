/*
 * Kefu web chat. No build step; the one third-party script is socket.io-client's prebuilt browser
 * build (vendor/socket.io.min.js, loaded first: the global ``io``; vendor/README.md).
 *
 * Transport: Socket.IO over WebSocket only (the workers of one machine share a port without
 * stickiness: long-polling would reach a worker that does not know the session; README).
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
  var ACTIVE_KEY = "kefu.webchat.active_at"; // when the customer last wrote or asked to stay (ms, this tab's clock)
  var HISTORY_LIMIT = 200;
  var TYPING_TIMEOUT_MS = 30000;
  var messageLimit = 2000;            // the webchat channel's max_message_chars (credentials.yml): message_limit
  var QUOTE_LIMIT = 30;               // characters of a message quoted back in a notice
  var PRESENCE_INTERVAL_MS = 20000;   // tells the waiting room this tab is still open
  var SENDING_NOTE_AFTER_MS = 1500;   // an ack slower than this shows "sending" under the bubble
  var EXPIRY_CHECK_MS = 1000;         // how often the page looks at the session's idle time
  // Refused for its network's limit (too many connections or new sessions from one address, README
  // "Channels"), the page tries again after 5 to 15 s, at random so that the pages refused together
  // do not all come back together.
  var REFUSED_RETRY_MS = [5000, 15000];

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
      [SESSION_KEY, HISTORY_KEY, SEEN_KEY, PENDING_KEY, ACTIVE_KEY].forEach(function (key) { window.localStorage.removeItem(key); });
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
        button.setAttribute("data-payload", String(reply.payload || reply.title || ""));
        button.addEventListener("click", function () {
          send(String(reply.payload || reply.title || ""), String(reply.title || reply.payload || ""));
          // The pressed button is spent (disabled): focus would fall to the page's body, and a keyboard or
          // screen-reader user would have to find their way back (accessibility audit, WCAG 2.4.3).
          input.focus();
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
      // not_handled quotes the message set aside (bot/channels/webchat_inflight.py), shortened
      var said = typeof custom.message === "string" ? custom.message : "";
      if (said.length > QUOTE_LIMIT) { said = cutAt(said, QUOTE_LIMIT) + "…"; }
      log.appendChild(el("div", "notice", t("notice_" + String(custom.reason || ""),
        { limit: messageLimit, message: said })));
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
    // Never left to the library's send buffer: the outbox above resends it once the session is confirmed.
    if (!ready || !socket.connected) { markState(item.id, "retrying"); return; }
    socket.timeout(ackTimeoutMs).emit("user_uttered",
      { message: payload, session_id: sessionId, client_id: item.id },
      function (error, reply) {
        if (error) {  // disconnected meanwhile, or no ack in time although "connected": reconnect
          markState(item.id, "retrying");
          if (socket.connected) { reconnectNow(); }
        } else if (reply && reply.ok === false && reply.reason === "no_session") { markState(item.id, "retrying"); }
        else { settle(item.id); delete secrets[item.id]; }  // taken, taken before, or refused for good (the page was told why)
      });
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
  // The first `limit` UTF-16 units of `text`, one fewer when the last would be the first half of an
  // emoji: half a pair, sent alone, failed the customer's turn (bot/channels/intake.py).
  function cutAt(text, limit) {
    if (text.length <= limit) { return text; }
    var last = text.charCodeAt(limit - 1);
    return text.slice(0, last >= 0xD800 && last <= 0xDBFF ? limit - 1 : limit);
  }
  // The server says its limit with every session (bot/channels/webchat.py); 2000 until then.
  function onMessageLimit(data) {
    var limit = Number(data && data.max_message_chars);
    if (!(limit > 0) || Math.floor(limit) !== limit) { return; }
    messageLimit = limit;
    enforceLimit();  // a draft typed while offline
  }
  function enforceLimit() {
    if (input.value.length > messageLimit) {
      input.value = cutAt(input.value, messageLimit);
      draftWasCut = true;
      showNote(t("notice_cut_draft", { limit: messageLimit }));
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

  // ---- the session's idle expiry -------------------------------------------------
  // The server ends a conversation's session (verification, a half-done request) idle_s after the
  // customer's last message and says so in session_timing (bot/channels/webchat.py). warn_s before
  // that the log (the page's live region, so a screen reader reads it) says so and offers a button to
  // stay, which asks the server to keep the session (session_keep); any message keeps it too.
  // Found by an accessibility audit: a slow reader lost their place without a word.
  var timing = null;         // {idleMs, warnMs} from the server; null: sessions never end
  var expiryNotice = null;   // the warning and its button row, while shown
  function onSessionTiming(data) {
    var idle = Number(data && data.idle_s), warn = Number(data && data.warn_s);
    timing = idle > 0 ? { idleMs: idle * 1000, warnMs: warn > 0 ? warn * 1000 : 0 } : null;
    checkExpiry();
  }
  function customerActive() {
    save(ACTIVE_KEY, Date.now());
    dropExpiryWarning();
  }
  function dropExpiryWarning() {
    if (!expiryNotice) { return; }
    expiryNotice.forEach(function (node) { if (node.parentNode) { node.parentNode.removeChild(node); } });
    expiryNotice = null;
  }
  function logNotice(text) {
    log.appendChild(el("div", "notice expiry", text));
    scrollDown();
  }
  function checkExpiry() {
    var at = load(ACTIVE_KEY, null);
    if (!timing || typeof at !== "number") { return; }
    var left = at + timing.idleMs - Date.now();
    if (left <= 0) {
      dropExpiryWarning();
      save(ACTIVE_KEY, null);  // said once; the next message starts a new session on the server
      logNotice(t("expiry_ended"));
    } else if (left <= timing.warnMs && !expiryNotice) {
      var notice = el("div", "notice expiry", t("expiry_warning", { minutes: Math.max(1, Math.ceil(left / 60000)) }));
      var row = el("div", "replies expiry-actions");
      var button = el("button", "reply-button", t("expiry_keep"));
      button.type = "button";
      button.addEventListener("click", function () { stay(button); });
      row.appendChild(button);
      log.appendChild(notice);
      log.appendChild(row);
      expiryNotice = [notice, row];
      scrollDown();
    }
  }
  function stay(button) {
    if (!ready || !socket.connected) { return; }  // offline: the header says so; the button stays
    button.disabled = true;
    socket.timeout(ackTimeoutMs).emit("session_keep", { session_id: sessionId }, function (error, reply) {
      if (error || !reply || !reply.ok) { button.disabled = false; return; }
      customerActive();
      logNotice(t("expiry_kept"));
      input.focus();  // the button is gone: focus back where the conversation goes on (WCAG 2.4.3)
    });
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
  // Sent with every connection of this page load (not stored: a duplicated tab is another page). A page
  // back from a lost network takes its old connection's place in its network's count at once, rather than
  // counting twice until the server's heartbeat gives up on the old one (bot/channels/webchat_addresses.py).
  var pageId = newId();
  forgetLegacyStorage();
  var sessionId = load(SESSION_KEY, null);
  // The server acks a message as soon as it is accepted (before the assistant's turn), so an ack later
  // than the heartbeat's timeout (KEFU_WEBCHAT_PING_TIMEOUT_S, from each connection's Engine.IO
  // handshake) means a connection that only looks open: the page leaves it and reconnects, rather than
  // wait for the heartbeat's interval + timeout.
  var ackTimeoutMs = 20000;

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
    customerActive();
    renderUser(shown, item.id);
    remember({ who: "user", text: shown, id: item.id });
    save(PENDING_KEY, pendingList().concat([item]));
    deliver(item);
    showTyping();
    scrollDown();
  }

  function onConnect() {
    ready = false;
    onState("online");
    askSession();
  }

  function askSession() {
    // The server sends again what was said after seen_at: while the page was closed, or offline.
    socket.emit("session_request", { session_id: sessionId, seen_at: sessionId ? load(SEEN_KEY, null) : null });
  }

  function onSessionConfirm(data) {
    var confirmed = typeof data === "string" ? data : (data && data.session_id);
    if (confirmed && confirmed !== sessionId) {
      if (sessionId) { save(HISTORY_KEY, []); save(PENDING_KEY, []); save(ACTIVE_KEY, null); expiryNotice = null; clearLog(); greet(); }
      sessionId = confirmed;
      save(SESSION_KEY, sessionId);
      save(SEEN_KEY, 0);
    }
    ready = true;
    onState("online");  // after a refusal the header said why
    deliverPending();  // what was typed while the connection was down, or never acknowledged
  }

  function onBotUttered(data) {
    hideTyping();
    noteAgent(data);
    proofInput(Boolean(data && data.input === "proof"));
    renderBot(data, true);
    remember({ who: "bot", message: data });
    if (data && typeof data.timestamp === "number" && data.timestamp > load(SEEN_KEY, 0)) { save(SEEN_KEY, data.timestamp); }
    scrollDown();
  }

  /** The customer's message typed in another tab of this conversation (a duplicated tab), or replayed
   *  to this one resuming (it has a ``timestamp`` then): their bubble, once; this tab's own messages are
   *  in its history by their id already. A button's payload shows as the button's title, as in the tab
   *  where it was pressed (the buttons reach every tab). */
  function onUserUttered(data) {
    var text = data && typeof data.message === "string" ? data.message : "";
    var id = data && typeof data.client_id === "string" ? data.client_id : null;
    if (!text || (id && load(HISTORY_KEY, []).some(function (e) { return e.who === "user" && e.id === id; }))) { return; }
    var live = !(data && typeof data.timestamp === "number");
    var pressed = Array.prototype.filter.call(log.querySelectorAll(".reply-button"), function (b) {
      return b.getAttribute("data-payload") === text;
    }).pop();
    var shown = pressed ? pressed.textContent : text;
    disableOldReplies();
    proofInput(false);
    renderUser(shown, id);
    remember({ who: "user", text: shown, id: id });
    if (live) { customerActive(); showTyping(); }
    scrollDown();
  }

  /** A connection that only looks open (a message's ack is overdue): close it; the library then
   *  reconnects as after any loss (its back-off), and the outbox resends. */
  function reconnectNow() {
    if (socket.io.engine) { socket.io.engine.close(); }
  }

  /** Takes ackTimeoutMs from the handshake of the Engine.IO socket just opened (one per connection). */
  function learnAckTimeout() {
    var engine = socket.io.engine;
    if (!engine) { return; }
    engine.once("handshake", function (handshake) {
      if (handshake && handshake.pingTimeout > 0) { ackTimeoutMs = handshake.pingTimeout; }
    });
  }

  /** The socket and its events. A phone whose WebSocket stays "open" after the server closed its end
   *  (a lift, a tunnel: mobile tester, finding 1) is counted dead by the library when the server's
   *  pings stop for pingInterval + pingTimeout (KEFU_WEBCHAT_PING_*, from Engine.IO's handshake). */
  function openSocket() {
    socket = window.io({ transports: ["websocket"], auth: { page: pageId } });
    learnAckTimeout();
    // Each attempt opens a new Engine.IO socket, just after this event: its handshake comes later.
    socket.io.on("reconnect_attempt", function () { window.Promise.resolve().then(learnAckTimeout); });
    socket.on("connect", onConnect);
    socket.on("disconnect", function (reason) {
      onState("offline");
      // The library reconnects by itself after any loss except a disconnect the server asked for.
      if (reason === "io server disconnect") { socket.connect(); learnAckTimeout(); }
    });
    socket.on("connect_error", function (error) {
      if (socket.active) { onState("offline"); return; }  // each failed attempt; the library retries
      // Refused by the server (its network has too many open): the library does not try again.
      onState("refused", error && error.message);
      afterRefusal(function () { if (!socket.connected) { socket.connect(); learnAckTimeout(); } });
    });
    socket.on("session_refused", function (data) {  // too many new sessions from its network
      onState("refused", data && data.reason);
      afterRefusal(function () { if (socket.connected && !ready) { askSession(); } });  // the header says why meanwhile
    });
    socket.on("session_confirm", onSessionConfirm);
    socket.on("bot_uttered", onBotUttered);
    socket.on("user_uttered", onUserUttered);
    socket.on("session_timing", onSessionTiming);
    socket.on("message_limit", onMessageLimit);
  }

  /** One wait at a time: a page refused again meanwhile (it reconnected, or asked on New conversation) had a second
   *  wait running beside the first, and asked twice per wait, once more with each reconnection. */
  var refusedRetry = null;
  function afterRefusal(retry) {
    var range = REFUSED_RETRY_MS;
    window.clearTimeout(refusedRetry);
    refusedRetry = window.setTimeout(function () { refusedRetry = null; retry(); },
      range[0] + Math.random() * (range[1] - range[0]));
  }

  /** The header's live region: online, offline (reconnecting), or refused for ``reason`` (its words are
   *  ``status_<reason>``; one the strings do not name reads as offline). */
  function onState(state, reason) {
    if (state !== "online") {
      ready = false;
      pendingList().forEach(function (item) { markState(item.id, "retrying"); });
    }
    var key = state === "online" ? "status_online" : "status_offline";
    if (state === "refused" && Object.prototype.hasOwnProperty.call(strings, "status_" + reason)) {
      key = "status_" + reason;
    }
    if (statusEl.getAttribute("data-state") === state && statusEl.textContent === t(key)) { return; }  // announced once per change
    statusEl.setAttribute("data-state", state);
    statusEl.textContent = t(key);
  }

  function newConversation() {
    confirmBar(false);
    save(HISTORY_KEY, []);
    save(SESSION_KEY, null);
    save(SEEN_KEY, null);
    save(PENDING_KEY, []);
    save(ACTIVE_KEY, null);
    expiryNotice = null;
    agentHolds = false;
    sessionId = null;
    clearLog();
    showNote("");
    greet();
    // Offline, the next connection asks for a new session by itself (sessionId is null now).
    // Nothing goes out until the new session is confirmed: the server runs a socket's events side by
    // side, and a message sent meanwhile went into the conversation just wiped (the last customer's,
    // verified, at a shared PC). It waits in the outbox and goes once confirmed.
    ready = false;
    if (socket.connected) { socket.emit("session_request", { session_id: null }); }
  }

  /** The new-conversation bar: opened with focus on its safe choice; closed (a choice, or Escape: the safe one),
   *  focus goes back to the button that opened it, not to the page's body (accessibility audit). */
  function confirmBar(show) {
    var bar = document.getElementById("confirm-new");
    bar.hidden = !show;
    if (show) { document.getElementById("confirm-new-no").focus(); }
    else { document.getElementById("new-conversation").focus(); }
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
      if (input.value.length > messageLimit) { enforceLimit(); }
      else if (!input.value) { showNote(""); draftWasCut = false; }
    });
    document.getElementById("new-conversation").addEventListener("click", function () {
      // Nothing to lose in an untouched conversation; otherwise ask first.
      if (load(HISTORY_KEY, []).some(function (e) { return e.who === "user"; })) { confirmBar(true); }
      else { newConversation(); }
    });
    document.getElementById("confirm-new-yes").addEventListener("click", function () {
      newConversation();
      input.focus();  // a new conversation starts by typing
    });
    document.getElementById("confirm-new").addEventListener("keydown", function (event) {
      if (event.key === "Escape") { event.preventDefault(); confirmBar(false); }
    });
    document.getElementById("confirm-new-no").addEventListener("click", function () { confirmBar(false); });
    if (!replayHistory()) { greet(); }
    openSocket();
    window.setInterval(function () {  // not buffered while offline: the next connection says so anyway
      if (sessionId && socket.connected) { socket.emit("session_alive", { session_id: sessionId }); }
    }, PRESENCE_INTERVAL_MS);
    window.setInterval(checkExpiry, EXPIRY_CHECK_MS);
    // Tests and embedders can feed a message through the same renderer the socket uses.
    window.kefuChat = { receive: onBotUttered, session: function () { return sessionId; } };
  }

  // The page starts only with its words: a request for them that fails is tried again (1 s, 2 s, ... up to every
  // 10 s). Found in a review: a reload at once cut the request off (net::ERR_ABORTED) in the page being left,
  // which went on with no words, greeted with the key "greeting" and kept that in the tab's history, so the
  // reloaded page showed the key too.
  var STRINGS_RETRY_MS = [1000, 10000];
  function loadStrings(wait) {
    fetch("/chat/ui/webchat.zh.json", { cache: "no-cache" })
      .then(function (r) { if (!r.ok) { throw new Error("strings " + r.status); } return r.json(); })
      .then(function (loaded) {
        strings = loaded && typeof loaded === "object" ? loaded : {};
        applyStrings();
        if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
        else { start(); }
      }, function () {
        window.setTimeout(function () { loadStrings(Math.min(wait * 2, STRINGS_RETRY_MS[1])); }, wait);
      });
  }
  loadStrings(STRINGS_RETRY_MS[0]);
})();
