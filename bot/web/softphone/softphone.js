// Kefu browser softphone: calls the IVR over the same Twilio-Media-Streams WebSocket a phone
// carrier uses (/webhooks/ivr/media). Microphone -> 8 kHz mu-law 20 ms frames -> JSON `media`;
// keypad -> `dtmf`; bot `media` is played as it arrives, `clear` stops it (barge-in), and each
// `mark` is echoed back once the audio before it has played, as Twilio does. With the demo carrier
// (bot/contacts/demo_carrier.py) it also receives Kefu's automated calls: ring, answer, decline.
(function () {
  "use strict";
  var RATE = 8000, FRAME = 160, BUSY = 1013;
  var state = { status: "idle", marks: [], clears: 0, framesIn: 0, framesOut: 0, keys: [], captions: [], seconds: 0 };
  var MAX_CAPTIONS = 6, typedAhead = [], timer = null;
  window.kefuPhone = state;
  var ws = null, ctx = null, mic = null, source = null, processor = null, streamSid = "", seq = 0, chunk = 0;
  var pending = new Float32Array(0), carry = 0, playAt = 0, playing = [], markTimers = [];
  var $ = function (id) { return document.getElementById(id); };

  function setStatus(text, status) { $("status").textContent = text; state.status = status; }
  function hex(n) { var a = new Uint8Array(n); crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join(""); }
  function send(message) { if (ws && ws.readyState === 1) { seq += 1; message.sequenceNumber = String(seq); ws.send(JSON.stringify(message)); } }

  // --- G.711 mu-law -------------------------------------------------------------------
  function muEncode(sample) {
    var s = Math.max(-32635, Math.min(32635, Math.round(sample * 32767)));
    var sign = s < 0 ? 0x80 : 0; if (sign) s = -s; s += 0x84;
    var exponent = 7; for (var mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
    var mantissa = (s >> (exponent + 3)) & 0x0f;
    return ~(sign | (exponent << 4) | mantissa) & 0xff;
  }
  function muDecode(byte) {
    byte = ~byte & 0xff; var sign = byte & 0x80, exponent = (byte >> 4) & 7, mantissa = byte & 0x0f;
    var s = (((mantissa << 3) + 0x84) << exponent) - 0x84; return (sign ? -s : s) / 32768;
  }
  function b64(bytes) { var text = ""; for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]); return btoa(text); }

  // --- microphone: low-pass by averaging, then pick samples at 8 kHz -----------------------
  function onAudio(event) {
    var input = event.inputBuffer.getChannelData(0), ratio = ctx.sampleRate / RATE, out = [];
    var position = carry;
    while (position < input.length) {
      var start = Math.floor(position), end = Math.min(input.length, Math.floor(position + ratio)), sum = 0;
      for (var i = start; i < end; i++) sum += input[i];
      out.push(end > start ? sum / (end - start) : input[start]);
      position += ratio;
    }
    carry = position - input.length;
    var merged = new Float32Array(pending.length + out.length); merged.set(pending); merged.set(out, pending.length);
    var offset = 0;
    for (; offset + FRAME <= merged.length; offset += FRAME) {
      var frame = new Uint8Array(FRAME);
      for (var j = 0; j < FRAME; j++) frame[j] = muEncode(merged[offset + j]);
      chunk += 1; state.framesOut += 1;
      send({ event: "media", streamSid: streamSid, media: { track: "inbound", chunk: String(chunk),
             timestamp: String(chunk * 20), payload: b64(frame) } });
    }
    pending = merged.slice(offset);
  }

  function silence(context) {  // an always-zero source: it drives onAudio at the microphone's pace
    var node = context.createConstantSource(); node.offset.value = 0; node.start(); return node;
  }

  // --- bot audio ------------------------------------------------------------------------
  function play(payload) {
    var bytes = atob(payload), buffer = ctx.createBuffer(1, bytes.length, RATE), data = buffer.getChannelData(0);
    for (var i = 0; i < bytes.length; i++) data[i] = muDecode(bytes.charCodeAt(i));
    var node = ctx.createBufferSource(); node.buffer = buffer; node.connect(ctx.destination);
    playAt = Math.max(playAt, ctx.currentTime + 0.06); node.start(playAt); playAt += buffer.duration;
    playing.push(node); node.onended = function () { playing.splice(playing.indexOf(node), 1); };
    state.framesIn += 1;
  }
  function echoMark(name) {
    state.marks.push(name); send({ event: "mark", streamSid: streamSid, mark: { name: name } });
    // Keys pressed before the call are dialled once the greeting has played and the menu listens.
    if (typedAhead.length) { window.setTimeout(function () { typedAhead.splice(0).forEach(sendKey); }, 300); }
  }
  function onMark(name) {
    var delay = Math.max(0, (playAt - ctx.currentTime) * 1000);
    var timer = setTimeout(function () { markTimers.splice(markTimers.indexOf(entry), 1); echoMark(name); }, delay);
    var entry = { timer: timer, name: name }; markTimers.push(entry);
  }
  function clearPlayback() {
    state.clears += 1;
    playing.slice().forEach(function (node) { try { node.stop(); } catch (e) { /* already ended */ } });
    playing = []; playAt = ctx.currentTime;
    markTimers.splice(0).forEach(function (entry) { clearTimeout(entry.timer); echoMark(entry.name); });
  }

  // --- call control ------------------------------------------------------------------------
  // An outgoing call dials the hotline (this page's own media stream); an incoming one, answered,
  // opens the stream the demo carrier read from the call's TwiML, with its <Parameter>s.
  function call() {
    var flow = new URLSearchParams(location.search).get("flow") || "";
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return connect(scheme + location.host + "/webhooks/ivr/media",
                   { from: $("caller").value.trim(), flow: flow }, "CA" + hex(16), "ACsoftphone");
  }
  async function connect(streamUrl, parameters, callSid, accountSid) {
    state.captions = []; $("captions").textContent = ""; state.keys = typedAhead.slice(); $("digits").textContent = state.keys.join("");
    $("call").disabled = true; setStatus(label("connecting"), "connecting");
    // No microphone, or the person refuses it: the call goes ahead in keys-only mode (accessibility
    // audit), sending silence where the voice would be, as a phone line does; the menus take keys.
    mic = null; state.keysOnly = false;
    try {
      mic = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, autoGainControl: false,
            noiseSuppression: false, echoCancellation: false } });
    } catch (error) { state.keysOnly = true; setStatus(label("no_microphone"), "connecting"); }
    ctx = new AudioContext(); await ctx.resume();
    source = mic ? ctx.createMediaStreamSource(mic) : silence(ctx);
    processor = ctx.createScriptProcessor(1024, 1, 1);
    processor.onaudioprocess = onAudio;
    source.connect(processor); processor.connect(ctx.destination);
    ws = new WebSocket(streamUrl);
    streamSid = "MZ" + hex(16); seq = 0; chunk = 0; state.streamSid = streamSid;
    var custom = Object.assign({}, parameters, { captions: "1" });
    ws.onopen = function () {
      send({ event: "connected", protocol: "Call", version: "1.0.0" });
      send({ event: "start", streamSid: streamSid, start: { streamSid: streamSid, accountSid: accountSid,
             callSid: callSid, tracks: ["inbound"], customParameters: custom,
             mediaFormat: { encoding: "audio/x-mulaw", sampleRate: RATE, channels: 1 } } });
      setStatus(label(state.keysOnly ? "in_call_keys_only" : "in_call"), "in_call"); $("hangup").disabled = false;
      startTimer();
    };
    ws.onmessage = function (event) {
      var message; try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.event === "media") play(message.media.payload);
      else if (message.event === "mark") onMark(message.mark.name);
      else if (message.event === "clear") clearPlayback();
      else if (message.event === "kefu_caption") showCaption(message.caption && message.caption.text);
    };
    // 1013 (try again later): the hotline had no place for the call, or gave its place to a carrier's call
    ws.onclose = function (event) {
      state.closeCode = event.code;  // what the hotline said as it ended the call (the tests name it when it surprises)
      finish(label(event.code === BUSY ? "line_busy" : "call_ended")); endIncoming();
    };
  }

  // --- incoming calls (the demo carrier; the page shows nothing when there is none) ---------
  var labels = {}, rings = null, incoming = null, ringTimer = null, ringTone = null, answered = null;
  var beforeRing = null;  // the status a ring replaced, shown again if the ring turns out not to be ours
  function label(key, values) {
    return (labels[key] || key).replace(/\{(\w+)\}/g, function (_, name) { return values && name in values ? values[name] : ""; });
  }
  function applyLabels() {  // the page's own words, from content/ui/softphone.zh.json as the other texts;
    // the page shows once they are in, so nothing moves under a click as they arrive
    document.title = label("page_title");
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (n) {
      if (n.id !== "status" || state.status === "idle") n.textContent = label(n.getAttribute("data-i18n"));
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-placeholder]"), function (n) {
      n.setAttribute("placeholder", label(n.getAttribute("data-i18n-placeholder")));
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-aria-label]"), function (n) {
      n.setAttribute("aria-label", label(n.getAttribute("data-i18n-aria-label")));
    });
    document.querySelector("main").hidden = false;
  }
  function carrier(sid, action) {
    return fetch("/ivr/phone/api/calls/" + encodeURIComponent(sid) + "/" + action,
                 { method: "POST", headers: { "X-Kefu-Softphone": "1" } });
  }
  function listen() {
    if (rings) rings.close();
    var number = $("caller").value.trim();
    if (incoming && number && incoming.to !== number) {  // rang while listening for every number: not this line's call
      stopRinging(); setStatus(beforeRing.text, beforeRing.status);
    }
    rings = new EventSource("/ivr/phone/api/rings?number=" + encodeURIComponent(number));
    rings.onopen = function () {
      var line = $("listening"); line.hidden = false;
      line.textContent = number ? label("listening_number", { number: number }) : label("listening_all");
    };
    rings.onerror = function () { if (rings.readyState === 2) $("listening").hidden = true; };  // no demo carrier
    rings.addEventListener("ring", function (event) { ring(JSON.parse(event.data)); });
    rings.addEventListener("ended", function (event) {
      var data = JSON.parse(event.data);
      if (incoming && incoming.sid === data.sid && data.status !== "in-progress") {
        stopRinging(); setStatus(label("missed"), "missed");
      } else if (incoming && incoming.sid === data.sid) stopRinging();
    });
  }
  function ring(call) {
    if (incoming || state.status === "connecting" || state.status === "in_call") return;  // one line
    incoming = call; state.incoming = call;
    beforeRing = { text: $("status").textContent, status: state.status };
    $("incoming-title").textContent = label("incoming_title");
    $("incoming-from").textContent = label("incoming_from", { from: call.from, to: call.to });
    $("incoming-hint").textContent = label("incoming_hint");
    $("answer").textContent = label("answer"); $("decline").textContent = label("decline");
    $("incoming").hidden = false; $("call").disabled = true;
    setStatus(label("ringing"), "ringing");
    ringTimer = window.setTimeout(function () { if (incoming === call) { stopRinging(); setStatus(label("missed"), "missed"); } },
                                  Math.max(0, call.ring_until * 1000 - Date.now()));
    startRingTone();
  }
  function stopRinging() {
    window.clearTimeout(ringTimer); ringTimer = null; stopRingTone();
    $("incoming").hidden = true; incoming = null; state.incoming = null;
    if (state.status !== "connecting" && state.status !== "in_call") $("call").disabled = false;
  }
  function startRingTone() {  // 450 Hz, one second in five, as Chinese phones ring
    try { ringTone = new AudioContext(); } catch (e) { return; }
    var beep = function () {
      if (!ringTone) return;
      var osc = ringTone.createOscillator(), gain = ringTone.createGain();
      osc.frequency.value = 450; gain.gain.value = 0.1; osc.connect(gain); gain.connect(ringTone.destination);
      osc.start(); osc.stop(ringTone.currentTime + 1);
    };
    beep(); ringTone.kefuTimer = window.setInterval(beep, 5000);
  }
  function stopRingTone() {
    if (!ringTone) return;
    window.clearInterval(ringTone.kefuTimer); ringTone.close(); ringTone = null;
  }
  async function answerIncoming() {
    var call = incoming; if (!call) return;
    stopRinging();
    var reply = await carrier(call.sid, "answer");
    if (!reply.ok) { setStatus(label("answer_failed"), "missed"); return; }
    var data = await reply.json();
    answered = data.call_sid;
    connect(data.stream_url, data.parameters, data.call_sid, data.account_sid);
  }
  function declineIncoming() {
    var call = incoming; if (!call) return;
    stopRinging(); setStatus(label("declined"), "declined");
    carrier(call.sid, "decline");
  }
  function endIncoming() {  // the answered call is over: the carrier sends `completed`
    if (answered) { carrier(answered, "hangup"); answered = null; }
  }

  function finish(text) {
    if (processor) { processor.disconnect(); processor.onaudioprocess = null; processor = null; }
    if (source) { source.disconnect(); if (source.stop) source.stop(); source = null; }
    if (mic) { mic.getTracks().forEach(function (track) { track.stop(); }); mic = null; }
    ws = null; setStatus(text, "ended"); $("call").disabled = false; $("hangup").disabled = true;
    window.clearInterval(timer); timer = null;
  }
  function startTimer() {
    var started = Date.now(); state.seconds = 0; $("timer").textContent = "00:00";
    window.clearInterval(timer);
    timer = window.setInterval(function () {
      state.seconds = Math.floor((Date.now() - started) / 1000);
      var m = Math.floor(state.seconds / 60), s = state.seconds % 60;
      $("timer").textContent = (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
    }, 250);
  }
  function showCaption(text) {
    if (!text) return;
    state.captions.push(text);
    var list = $("captions"), item = document.createElement("li");
    item.textContent = text;  // text only, never markup
    list.appendChild(item);
    while (list.children.length > MAX_CAPTIONS) list.removeChild(list.firstChild);
    list.scrollTop = list.scrollHeight;  // the newest caption in view: it says which key to press now (audit)
  }
  function hangup() {
    send({ event: "stop", streamSid: streamSid, stop: { accountSid: "ACsoftphone" } });
    if (ws) { ws.onclose = null; ws.close(); }  // its close would then say 通话已结束 over 已挂断
    finish(label("hung_up")); endIncoming();
  }
  function key(digit) {
    state.keys.push(digit);
    $("digits").textContent = state.keys.join("").slice(-24);
    if (ws && ws.readyState === 1 && state.status === "in_call") sendKey(digit);
    else typedAhead.push(digit);
  }
  function sendKey(digit) { send({ event: "dtmf", streamSid: streamSid, dtmf: { track: "inbound_track", digit: digit } }); }

  $("call").addEventListener("click", call);
  $("answer").addEventListener("click", answerIncoming);
  $("decline").addEventListener("click", declineIncoming);
  $("caller").addEventListener("change", listen);
  fetch("/ivr/phone/ui/softphone.zh.json").then(function (r) { return r.ok ? r.json() : {}; })
    .then(function (loaded) { labels = loaded; }, function () { /* labels stay keys */ }).then(applyLabels).then(listen);
  $("hangup").addEventListener("click", hangup);
  Array.prototype.forEach.call(document.querySelectorAll(".keypad button"), function (button) {
    button.addEventListener("click", function () { key(button.getAttribute("data-key")); });
    button.setAttribute("aria-keyshortcuts", button.getAttribute("data-key"));
  });
  // While a call is up, 0-9, * and # on the keyboard are the pad's keys (an accessibility audit: the
  // pad needed a pointer, or a Tab to each key). Not while typing in a field, nor with Ctrl/Alt/Meta
  // (the browser's own shortcuts); the pad's key lights up as when clicked.
  document.addEventListener("keydown", function (event) {
    if (state.status !== "in_call" || event.ctrlKey || event.altKey || event.metaKey || event.repeat) return;
    if (event.key.length !== 1 || "0123456789*#".indexOf(event.key) < 0) return;
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable)) return;
    event.preventDefault();
    key(event.key);
    var button = document.querySelector('.keypad button[data-key="' + event.key + '"]');
    if (button) {
      button.classList.add("pressed");
      window.setTimeout(function () { button.classList.remove("pressed"); }, 150);
    }
  });
})();
