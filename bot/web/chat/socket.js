/*
 * Kefu web chat's transport: a minimal Socket.IO v5 client over an Engine.IO v4 WebSocket
 * ("0" open, "40" namespace connect, "42[event,data]" events, "42<id>[...]" / "43<id>[...]" an event
 * asking for an ack and its ack, "2"/"3" ping/pong). No build step, no third-party code: the page
 * needs only this much of socket.io-client, plus what it offers as options (ack timeouts, resends)
 * kept across reloads in sessionStorage (chat.js "delivery"). Exposed as window.KefuSocket.
 */
(function () {
  "use strict";

  // A phone in a lift or a tunnel keeps its WebSocket "open" for minutes after the server has closed
  // its end: whatever is written meanwhile is lost (mobile tester, finding 1). As engine.io-client does,
  // the page counts the connection dead when the server's pings stop for pingInterval + pingTimeout
  // (both from the open packet: KEFU_WEBCHAT_PING_*), and when an emit that asked for an ack gets
  // none within pingTimeout (socket.io-client's timeout(ms).emit(...)); then it reconnects at once.
  function Socket(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.ws = null;
    this.connected = false;
    this.retry = 0;
    this.queue = [];
    this.acks = {};           // ack id -> {callback, timer}
    this.nextAck = 0;
    this.silenceMs = 45000;   // replaced by the server's pingInterval + pingTimeout
    this.ackTimeoutMs = 20000; // replaced by the server's pingTimeout
    this.watchdog = null;
  }
  Socket.prototype.open = function () {
    var self = this;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + window.location.host + "/socket.io/?EIO=4&transport=websocket");
    self.ws = ws;
    ws.onmessage = function (event) { if (self.ws === ws) { self.packet(String(event.data)); } };
    ws.onclose = function () { if (self.ws === ws) { self.closed(); } };
    ws.onerror = function () { try { ws.close(); } catch (e) { /* closing anyway */ } };
    self.heard();  // a connection that never opens counts as dead too
  };
  /** The connection is gone: fail the acks still awaited, say so, and reconnect. */
  Socket.prototype.closed = function () {
    var self = this;
    self.ws = null;
    self.connected = false;
    window.clearTimeout(self.watchdog);
    var acks = self.acks;
    self.acks = {};
    Object.keys(acks).forEach(function (id) { window.clearTimeout(acks[id].timer); acks[id].callback(new Error("disconnected")); });
    self.onState("offline");
    var delay = Math.min(10000, 500 * Math.pow(2, self.retry++));
    window.setTimeout(function () { self.open(); }, delay);
  };
  /** Dead although the browser has not noticed (no pings, no ack): leave it and reconnect now. */
  Socket.prototype.drop = function () {
    var ws = this.ws;
    if (!ws) { return; }
    ws.onmessage = ws.onclose = ws.onerror = null;
    try { ws.close(); } catch (e) { /* it is dead anyway */ }
    this.retry = 0;
    this.closed();
  };
  Socket.prototype.heard = function () {
    var self = this;
    window.clearTimeout(self.watchdog);
    self.watchdog = window.setTimeout(function () { self.drop(); }, self.silenceMs);
  };
  Socket.prototype.packet = function (data) {
    var type = data.charAt(0);
    this.heard();
    if (type === "0") {                                          // engine open -> connect "/"
      try {
        var open = JSON.parse(data.slice(1));
        if (open.pingInterval > 0 && open.pingTimeout > 0) {
          this.silenceMs = open.pingInterval + open.pingTimeout;
          this.ackTimeoutMs = open.pingTimeout;
          this.heard();
        }
      } catch (e) { /* keep the defaults */ }
      this.ws.send("40");
      return;
    }
    if (type === "2") { this.ws.send("3"); return; }             // ping -> pong
    if (type !== "4") { return; }
    var sioType = data.charAt(1);
    if (sioType === "0") {                                       // namespace connected
      this.connected = true;
      this.retry = 0;
      this.onState("online");
      this.onEvent("connect", null);
      while (this.queue.length) { this.ws.send(this.queue.shift()); }
    } else if (sioType === "2") {                                // event
      var body;
      try { body = JSON.parse(data.slice(2)); } catch (e) { return; }
      if (Array.isArray(body) && typeof body[0] === "string") { this.onEvent(body[0], body[1]); }
    } else if (sioType === "3") {                                // ack: "43<id>[args]"
      var match = /^43(\d+)(.*)$/.exec(data), args;
      if (!match) { return; }
      try { args = JSON.parse(match[2]); } catch (e) { args = []; }
      var pending = this.acks[match[1]];
      if (!pending) { return; }
      delete this.acks[match[1]];
      window.clearTimeout(pending.timer);
      pending.callback(null, Array.isArray(args) ? args[0] : undefined);
    } else if (sioType === "1" || sioType === "4") {             // disconnect / connect error
      this.ws.close();
    }
  };
  Socket.prototype.emit = function (event, payload) {
    var frame = "42" + JSON.stringify([event, payload]);
    if (this.connected && this.ws && this.ws.readyState === WebSocket.OPEN) { this.ws.send(frame); }
    else { this.queue.push(frame); }
  };
  /** Emit asking for an ack; ``callback(error, reply)``. Never buffered: false when not connected
   *  (the caller keeps the message and sends it again once connected). */
  Socket.prototype.emitWithAck = function (event, payload, callback) {
    if (!(this.connected && this.ws && this.ws.readyState === WebSocket.OPEN)) { return false; }
    var self = this, id = String(self.nextAck++);
    var timer = window.setTimeout(function () {
      if (!self.acks[id]) { return; }
      delete self.acks[id];
      callback(new Error("timeout"));
      self.drop();
    }, self.ackTimeoutMs);
    self.acks[id] = { callback: callback, timer: timer };
    self.ws.send("42" + id + JSON.stringify([event, payload]));
    return true;
  };

  window.KefuSocket = Socket;
})();
