// ccg pages: the terminal of a --pty run, drawn by xterm.js (served from node_modules beside this
// file). It starts from the gateway's latest screen snapshot and then applies the raw pty bytes
// (GET /runs/:id/term, server-sent events), so opening a long run costs one screen. Keystrokes
// (the key bar, the phone's keyboard, paste) go to POST /runs/:id/term/keys for whoever holds
// control; taking control (POST /runs/:id/term/size) sets the terminal's size to fit this phone,
// everyone else watches at that size, scaled down to fit.
(function () {
  'use strict';
  var box = document.getElementById('terminal');
  if (!box || typeof window.Terminal !== 'function') return;

  // ---- the strict CSP (no inline style) and xterm.js: xterm writes its CSS into <style>
  // elements and a few colours into style attributes. Both are refused under `style-src 'self'`,
  // so they are redirected to the CSSOM, which the policy allows: a <style> becomes an inert
  // element whose text is a constructed stylesheet, and a style attribute becomes style.cssText.
  // Only our own scripts run on this page (script-src 'self'); markup never takes this path.
  (function cspShims() {
    var createElement = document.createElement;
    document.createElement = function (tag, opts) {
      if (String(tag).toLowerCase() !== 'style') return createElement.call(this, tag, opts);
      var el = createElement.call(this, 'ccg-style');
      var sheet = new CSSStyleSheet();
      var text = '';
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
      var set = function (v) {
        text = String(v);
        try { sheet.replaceSync(text); } catch (e) { /* a rule the browser does not know */ }
      };
      Object.defineProperty(el, 'textContent', { get: function () { return text; }, set: set });
      Object.defineProperty(el, 'innerText', { get: function () { return text; }, set: set });
      var remove = el.remove;
      el.remove = function () {
        document.adoptedStyleSheets = document.adoptedStyleSheets.filter(function (s) { return s !== sheet; });
        remove.call(el);
      };
      return el;
    };
    var setAttribute = Element.prototype.setAttribute;
    Element.prototype.setAttribute = function (name, value) {
      if (String(name).toLowerCase() === 'style' && this.style) { this.style.cssText = String(value); return; }
      return setAttribute.call(this, name, value);
    };
  })();

  var runId = box.getAttribute('data-run');
  var me = box.getAttribute('data-user');
  var canType = box.getAttribute('data-can-type') === '1';
  var stage = document.getElementById('term-stage');
  var screenEl = document.getElementById('term-screen');
  var state = document.getElementById('term-state');
  var controlNote = document.getElementById('term-control');
  var keys = document.getElementById('term-keys');
  var actions = document.getElementById('term-actions');
  var takeBtn = document.getElementById('term-take');
  var plainBtn = document.getElementById('term-plain');
  var copyBtn = document.getElementById('term-copy');
  var textView = document.getElementById('term-text');
  var csrf = '';
  try { csrf = JSON.parse(document.body.getAttribute('hx-headers') || '{}')['X-CSRF-Token'] || ''; } catch (e) { /* no forms */ }

  var term = new window.Terminal({
    cols: 80,
    rows: 24,
    scrollback: 2000,
    fontSize: 13,
    fontFamily: 'ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace',
    disableStdin: !canType,
    cursorBlink: false,
    // OSC 8 links in runner output are not followed (no dialog, no navigation).
    linkHandler: { activate: function () {}, allowNonHttpProtocols: false },
  });
  term.open(screenEl);
  window.ccgTerminal = term; // for tests and the curious: read-only use
  actions.hidden = false;
  if (keys) keys.hidden = false;

  // ---- applying the stream in order: writes are parsed asynchronously by xterm, so a resize or
  // a snapshot waits for the writes before it.
  var ops = [];
  var busy = false;
  function run() {
    if (busy) return;
    var op = ops.shift();
    if (!op) { afterWrites(); return; }
    busy = true;
    op(function () { busy = false; run(); });
  }
  function enqueue(op) { ops.push(op); run(); }
  // In pieces: xterm.js yields to the page between writes, not inside one (a 256 KB batch of
  // hostile output would otherwise hold the page for as long as it takes to parse).
  function write(data) {
    for (var i = 0; i < data.length; i += 16384) {
      (function (piece) { enqueue(function (done) { term.write(piece, done); }); })(data.subarray(i, i + 16384));
    }
  }
  function resize(cols, rows) {
    enqueue(function (done) {
      if (cols !== term.cols || rows !== term.rows) term.resize(cols, rows);
      fit();
      done();
    });
  }

  function bytesOf(b64) {
    var s = atob(b64);
    var out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  // ---- fitting: a terminal wider than the phone is scaled down (never up)
  var scale = 1;
  function fit() {
    var natural = term.element ? term.element.offsetWidth + 4 : 0;
    var height = term.element ? term.element.offsetHeight + 4 : 0;
    var avail = stage.clientWidth;
    scale = natural > 0 && avail > 0 ? Math.min(1, avail / natural) : 1;
    screenEl.style.transform = scale < 1 ? 'scale(' + scale + ')' : '';
    stage.style.height = Math.ceil(height * scale) + 'px';
  }
  window.addEventListener('resize', fit);

  function cell() {
    var el = term.element && term.element.querySelector('.xterm-screen');
    var w = el ? el.offsetWidth / term.cols : 8;
    var h = el ? el.offsetHeight / term.rows : 16;
    return { w: w || 8, h: h || 16 };
  }

  // ---- who has control
  var control = null;
  function inControl() { return !!control && control.by === me; }
  function showControl() {
    var text;
    if (!control) text = canType ? 'Nobody has control. Take control to type and to size the terminal for this screen.' : 'You are watching.';
    else if (inControl()) text = 'You have control (' + control.cols + '×' + control.rows + ').';
    else text = control.by + ' has control (' + control.cols + '×' + control.rows + '); you are watching' + (scale < 1 ? ', scaled to fit.' : '.');
    controlNote.textContent = text;
    if (takeBtn) takeBtn.hidden = inControl();
    if (keys) keys.querySelectorAll('button').forEach(function (b) { b.disabled = !inControl(); });
    term.options.disableStdin = !canType || !inControl();
  }
  showControl();

  function post(path, body) {
    return fetch('/runs/' + runId + path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRF-Token': csrf },
      body: body,
    });
  }
  function problem(text) { controlNote.textContent = text; }

  if (takeBtn) takeBtn.addEventListener('click', function () {
    var c = cell();
    var height = (window.visualViewport ? window.visualViewport.height : window.innerHeight) * 0.62;
    var cols = Math.max(20, Math.min(300, Math.floor((stage.clientWidth - 6) / c.w)));
    var rows = Math.max(8, Math.min(200, Math.floor(height / c.h)));
    takeBtn.disabled = true;
    post('/term/size', 'cols=' + cols + '&rows=' + rows).then(function (r) {
      if (!r.ok) return problem('Could not take control (HTTP ' + r.status + ').');
      return r.json().then(function (j) { control = j.control; showControl(); term.focus(); });
    }, function () { problem('The gateway could not be reached.'); }).then(function () { takeBtn.disabled = false; });
  });

  // ---- typing: one request at a time, in order; what is typed meanwhile goes in the next one
  var pending = '';
  var sending = false;
  function send(data) {
    if (!canType || !inControl()) return problem('Take control to type.');
    pending += data;
    flush();
  }
  function flush() {
    if (sending || !pending) return;
    var n = Math.min(pending.length, 16000);
    var code = pending.charCodeAt(n - 1);
    if (n < pending.length && code >= 0xd800 && code <= 0xdbff) n--; // keep a surrogate pair together
    var chunk = pending.slice(0, n);
    pending = pending.slice(n);
    sending = true;
    post('/term/keys', 'data=' + encodeURIComponent(chunk)).then(function (r) {
      if (!r.ok) problem(r.status === 409 || r.status === 503 ? 'The runner is not connected; keys were not sent.' : 'Keys were not sent (HTTP ' + r.status + ').');
    }, function () { problem('The gateway could not be reached; keys were not sent.'); }).then(function () {
      sending = false;
      flush();
    });
  }

  var ctrlArmed = false;
  var ctrlBtn = keys ? keys.querySelector('[data-key="ctrl"]') : null;
  function armCtrl(on) {
    ctrlArmed = on;
    if (ctrlBtn) ctrlBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
  }
  term.onData(function (data) {
    if (ctrlArmed && data.length === 1) {
      var c = data.toUpperCase().charCodeAt(0);
      if (c >= 64 && c <= 95) data = String.fromCharCode(c & 31);
      armCtrl(false);
    }
    send(data);
  });

  function arrow(letter) { return (term.modes.applicationCursorKeysMode ? '\u001bO' : '\u001b[') + letter; }
  var KEYS = {
    esc: function () { return '\u001b'; },
    tab: function () { return '\t'; },
    enter: function () { return '\r'; },
    'ctrl-c': function () { return '\u0003'; },
    up: function () { return arrow('A'); },
    down: function () { return arrow('B'); },
    right: function () { return arrow('C'); },
    left: function () { return arrow('D'); },
  };
  if (keys) {
    // The key bar must not take the focus from the terminal (that would close the phone's keyboard).
    keys.addEventListener('pointerdown', function (evt) { if (evt.target.closest('button')) evt.preventDefault(); });
    keys.addEventListener('click', function (evt) {
      var b = evt.target.closest('button[data-key]');
      if (!b || b.disabled) return;
      var k = b.getAttribute('data-key');
      if (k === 'ctrl') return armCtrl(!ctrlArmed);
      if (k === 'keyboard') return term.focus();
      if (k === 'paste') {
        if (!navigator.clipboard || !navigator.clipboard.readText) { term.focus(); return problem('Long-press the terminal and choose Paste.'); }
        navigator.clipboard.readText().then(function (text) { if (text) term.paste(text); }, function () { term.focus(); problem('Long-press the terminal and choose Paste.'); });
        return;
      }
      if (KEYS[k]) {
        var data = KEYS[k]();
        if (ctrlArmed && k === 'tab') data = '\u001b[Z'; // Ctrl+Tab: back-tab
        armCtrl(false);
        send(data);
      }
    });
  }

  // ---- scrollback by touch (xterm scrolls with a wheel; a finger drag becomes lines here)
  var touchY = null;
  var touchRest = 0;
  stage.addEventListener('touchstart', function (evt) { touchY = evt.touches.length === 1 ? evt.touches[0].clientY : null; touchRest = 0; }, { passive: true });
  stage.addEventListener('touchmove', function (evt) {
    if (touchY === null || evt.touches.length !== 1) return;
    var y = evt.touches[0].clientY;
    touchRest += touchY - y;
    touchY = y;
    var h = cell().h * scale;
    var lines = touchRest > 0 ? Math.floor(touchRest / h) : Math.ceil(touchRest / h);
    if (!lines) return;
    touchRest -= lines * h;
    var buf = term.buffer.active;
    var canScroll = lines < 0 ? buf.viewportY > 0 : buf.viewportY < buf.baseY;
    if (!canScroll) return; // at an end: the page scrolls instead
    evt.preventDefault();
    term.scrollLines(lines);
  }, { passive: false });
  stage.addEventListener('touchend', function () { touchY = null; });

  // ---- plain text: the same screen and scrollback as text, for screen readers, search and copying
  function plainText() {
    var buf = term.buffer.active;
    var lines = [];
    for (var i = 0; i < buf.length; i++) {
      var line = buf.getLine(i);
      if (!line) continue;
      var text = line.translateToString(true);
      if (line.isWrapped && lines.length) lines[lines.length - 1] += text;
      else lines.push(text);
    }
    while (lines.length && !lines[lines.length - 1]) lines.pop();
    return lines.join('\n');
  }
  var textTimer = null;
  function afterWrites() {
    if (textView.hidden || textTimer) return;
    textTimer = setTimeout(function () { textTimer = null; textView.textContent = plainText(); }, 500);
  }
  plainBtn.addEventListener('click', function () {
    var show = textView.hidden;
    textView.hidden = !show;
    plainBtn.setAttribute('aria-pressed', show ? 'true' : 'false');
    if (show) { textView.textContent = plainText(); textView.focus(); }
  });
  copyBtn.addEventListener('click', function () {
    var text = term.getSelection() || plainText();
    var label = copyBtn.textContent;
    var done = function (ok) {
      copyBtn.textContent = ok ? 'Copied' : 'Select and copy below';
      setTimeout(function () { copyBtn.textContent = label; }, 2000);
    };
    if (!navigator.clipboard) {
      textView.hidden = false;
      textView.textContent = text;
      return done(false);
    }
    navigator.clipboard.writeText(text).then(function () { done(true); }, function () {
      textView.hidden = false;
      textView.textContent = text;
      done(false);
    });
  });

  // ---- the stream
  var source = new EventSource('/runs/' + runId + '/term');
  var setState = function (t) { state.textContent = t; };
  source.addEventListener('open', function () { setState('live'); });
  source.addEventListener('error', function () { if (source.readyState !== 2) setState('reconnecting'); });
  source.addEventListener('snapshot', function (evt) {
    var s = JSON.parse(evt.data);
    enqueue(function (done) {
      term.reset();
      if (s.cols !== term.cols || s.rows !== term.rows) term.resize(s.cols, s.rows);
      fit();
      done();
    });
    // In pieces, as output is: a runner's big screen of coloured cells is a snapshot of megabytes.
    for (var i = 0; i < s.data.length; i += 16384) {
      (function (piece) { enqueue(function (done) { term.write(piece, done); }); })(s.data.slice(i, i + 16384));
    }
  });
  source.addEventListener('out', function (evt) { write(bytesOf(evt.data)); });
  source.addEventListener('size', function (evt) {
    var s = JSON.parse(evt.data);
    resize(s.cols, s.rows);
  });
  source.addEventListener('control', function (evt) {
    control = JSON.parse(evt.data);
    showControl();
  });
  source.addEventListener('end', function () {
    source.close();
    setState('ended');
    canType = false;
    if (keys) keys.hidden = true;
    if (takeBtn) takeBtn.hidden = true;
    controlNote.textContent = 'The run has ended.';
    term.options.disableStdin = true;
  });
  fit();
})();
