// ccg pages: the little behaviour htmx does not give for free. Every page works without this
// file; it adds copy buttons, makes the live output and the timeline pleasant (follow the end,
// stop when the reader scrolls up, drop replays, keep the page small), merges the run page's live
// section updates by element id, and shows why an htmx form was refused.
(function () {
  'use strict';

  // ---- copy buttons: hidden without JavaScript (the text is still there to select)
  function enhance(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll('button[data-copy]').forEach(function (button) {
      if (navigator.clipboard && document.querySelector(button.getAttribute('data-copy'))) button.hidden = false;
    });
  }
  enhance(document);
  document.addEventListener('htmx:load', function (evt) { enhance(evt.target); });
  document.addEventListener('click', function (evt) {
    var button = evt.target && evt.target.closest ? evt.target.closest('button[data-copy]') : null;
    if (!button) return;
    var target = document.querySelector(button.getAttribute('data-copy'));
    if (!target || !navigator.clipboard) return;
    var label = button.textContent;
    navigator.clipboard.writeText(target.value !== undefined ? target.value : target.textContent).then(
      function () {
        button.textContent = 'Copied';
        setTimeout(function () { button.textContent = label; }, 2000);
      },
      function () {
        if (target.select) target.select();
      }
    );
  });

  // ---- a form that acts once (Create run, Start Claude): a second tap while the first post is on
  // its way sends nothing (the gateway answers a repeat of the form with the first answer too)
  document.addEventListener('submit', function (evt) {
    var form = evt.target;
    if (!form || !form.hasAttribute || !form.hasAttribute('data-once')) return;
    if (form.hasAttribute('data-sent')) {
      evt.preventDefault();
      return;
    }
    form.setAttribute('data-sent', '');
    form.setAttribute('aria-busy', 'true');
    // Stop pressed on a stalled post leaves the page as it was: it may be sent again later
    // (the gateway still answers a repeat of the same form with the first answer).
    setTimeout(function () { sendable(form); }, 15000);
  });
  function sendable(form) {
    form.removeAttribute('data-sent');
    form.removeAttribute('aria-busy');
  }
  // Back to the page (the browser's back button keeps it as it was): it may be sent again.
  window.addEventListener('pageshow', function () {
    document.querySelectorAll('form[data-sent]').forEach(sendable);
  });

  // ---- typing in a field picks its choice ("Run created": a prompt or a command); runs before
  // htmx reads the form, which it does after its trigger's delay
  document.addEventListener('input', function (evt) {
    var id = evt.target && evt.target.getAttribute ? evt.target.getAttribute('data-pick') : null;
    var radio = id ? document.getElementById(id) : null;
    if (radio) radio.checked = true;
  });

  // ---- an htmx form the gateway refused: say why, next to the form (htmx does not swap errors)
  function formNote(elt, text) {
    var form = elt && elt.closest ? elt.closest('form') || elt : elt;
    if (!form || !form.parentNode) return;
    var note = form.nextElementSibling && form.nextElementSibling.hasAttribute('data-js-error') ? form.nextElementSibling : null;
    if (!note) {
      note = document.createElement('p');
      note.className = 'error';
      note.setAttribute('role', 'alert');
      note.setAttribute('data-js-error', '');
      form.parentNode.insertBefore(note, form.nextSibling);
    }
    note.textContent = text;
  }
  document.addEventListener('htmx:responseError', function (evt) {
    var xhr = evt.detail.xhr;
    var text = 'That did not work (HTTP ' + xhr.status + ').';
    try {
      var lead = new DOMParser().parseFromString(xhr.responseText || '', 'text/html').querySelector('.lead');
      if (lead && lead.textContent) text = lead.textContent;
    } catch (e) { /* keep the generic text */ }
    formNote(evt.detail.elt, text);
  });
  document.addEventListener('htmx:sendError', function (evt) {
    formNote(evt.detail.elt, 'The gateway could not be reached. Check the connection and try again.');
  });

  // ---- scroll boxes that follow their end: only the reader scrolling up stops the following
  // (new content and trimming move the scroll position too); reaching the end again, by hand or
  // with the jump button, resumes it.
  function follower(box, jump) {
    var follow = true;
    var lastTop = 0;
    function atEnd() { return box.scrollHeight - box.scrollTop - box.clientHeight < 32; }
    function toEnd() {
      box.scrollTop = box.scrollHeight;
      lastTop = box.scrollTop;
    }
    function note() {
      var top = box.scrollTop;
      if (top < lastTop - 2) follow = false;
      else if (atEnd()) follow = true;
      lastTop = top;
      if (jump) jump.hidden = follow;
    }
    box.addEventListener('scroll', note, { passive: true });
    if (jump) {
      jump.addEventListener('click', function () {
        follow = true;
        jump.hidden = true;
        toEnd();
        box.focus({ preventScroll: true });
      });
    }
    toEnd();
    return {
      following: function () { return follow; },
      // After new content: a scroll the browser has not reported yet still counts.
      added: function (beforeEnd) {
        note();
        if (follow) {
          if (beforeEnd) beforeEnd();
          toEnd();
        } else if (jump) {
          jump.hidden = false;
        }
      }
    };
  }

  // ---- live section updates (data-merge containers on the run page). Section events carry no
  // id and may arrive twice after a reconnect, so they are merged, never blindly appended:
  //  upsert: an element with an id replaces the one with that id (unless that one is marked
  //          data-keep), or is appended (put first with data-order="newest-first"); one with data-into="ID" data-seq="N" is appended into
  //          element ID only if N is past that element's data-last.
  //  sync:   the message is the whole list: children not in it go, changed ones (data-v) are
  //          replaced, new ones added, so a half-typed message in an unchanged card survives.
  var followers = {};
  function byId(box, id) {
    var el = document.getElementById(id);
    return el && box.contains(el) ? el : null;
  }
  function processNew(el) {
    if (window.htmx) window.htmx.process(el);
    enhance(el);
  }
  function merge(box, mode, html) {
    var tpl = document.createElement('template');
    tpl.innerHTML = html;
    var incoming = Array.prototype.slice.call(tpl.content.children);
    if (mode === 'sync') {
      var want = {};
      incoming.forEach(function (el) { if (el.id) want[el.id] = true; });
      Array.prototype.slice.call(box.children).forEach(function (c) { if (!c.id || !want[c.id]) box.removeChild(c); });
      incoming.forEach(function (el, i) {
        var cur = el.id ? byId(box, el.id) : null;
        if (cur && cur.getAttribute('data-v') === el.getAttribute('data-v')) {
          if (box.children[i] !== cur) box.insertBefore(cur, box.children[i] || null);
          return;
        }
        if (cur) box.removeChild(cur);
        box.insertBefore(el, box.children[i] || null);
        processNew(el);
      });
      return;
    }
    // data-order="newest-first": new elements go on top, and the oldest (at the bottom) go first.
    var newestFirst = box.getAttribute('data-order') === 'newest-first';
    incoming.forEach(function (el) {
      var into = el.getAttribute('data-into');
      if (into) {
        var target = byId(box, into);
        var seq = Number(el.getAttribute('data-seq'));
        if (!target || !(seq > (Number(target.getAttribute('data-last')) || 0))) return;
        var atEnd = target.scrollHeight - target.scrollTop - target.clientHeight < 32;
        target.appendChild(el);
        target.setAttribute('data-last', String(seq));
        if (atEnd) target.scrollTop = target.scrollHeight;
        return;
      }
      var existing = el.id ? byId(box, el.id) : null;
      if (existing) {
        if (existing.hasAttribute('data-keep')) return;
        existing.parentNode.replaceChild(el, existing);
      } else if (newestFirst) {
        box.insertBefore(el, box.firstElementChild);
      } else {
        box.appendChild(el);
      }
      processNew(el);
    });
    var max = Number(box.getAttribute('data-max'));
    if (max) while (box.children.length > max) box.removeChild(newestFirst ? box.lastElementChild : box.firstElementChild);
  }
  // The assist body never goes back in time: a form's answer rendered before the runner's newer
  // report (which the live stream may deliver first) must not replace that report.
  function assistAt(html) {
    var m = /data-assist-at="(\d+)"/.exec(html || '');
    return m ? Number(m[1]) : null;
  }
  function staleAssist(target, html) {
    if (!target || target.id !== 'assist-body') return false;
    var incoming = assistAt(html);
    var current = assistAt(target.innerHTML);
    return incoming !== null && current !== null && incoming < current;
  }
  document.addEventListener('htmx:beforeSwap', function (evt) {
    if (staleAssist(evt.detail.target, evt.detail.serverResponse)) evt.detail.shouldSwap = false;
  });
  document.addEventListener('htmx:sseBeforeMessage', function (evt) {
    if (staleAssist(evt.target, evt.detail.data)) {
      evt.preventDefault();
      return;
    }
    var box = evt.target;
    var mode = box && box.getAttribute ? box.getAttribute('data-merge') : null;
    if (!mode) return;
    evt.preventDefault();
    merge(box, mode, evt.detail.data);
    if (followers[box.id]) followers[box.id].added();
    var empty = box.getAttribute('data-empty') ? document.getElementById(box.getAttribute('data-empty')) : null;
    if (empty && box.children.length) empty.remove();
  });
  document.querySelectorAll('[data-follow]').forEach(function (box) {
    followers[box.id] = follower(box, document.getElementById(box.getAttribute('data-follow')));
  });

  // ---- the run page's live state
  var page = document.getElementById('run');
  var state = document.getElementById('live-state');
  function setState(text, cls) {
    if (!state) return;
    state.textContent = text;
    state.className = 'live-dot ' + (cls || '');
  }
  if (page) {
    page.addEventListener('htmx:sseOpen', function () { setState('live', 'on'); });
    page.addEventListener('htmx:sseError', function () { setState('reconnecting…', 'off'); });
    page.addEventListener('htmx:sseClose', function () { setState('ended', 'done'); });
  }
  var reset = document.getElementById('reset');
  if (reset) {
    // Too far behind to replay, or the run turned out to be a Claude run: show the page afresh.
    reset.addEventListener('htmx:sseMessage', function () { window.location.reload(); });
  }

  // ---- the raw output
  var out = document.getElementById('output');
  if (!out) return;
  var jump = document.getElementById('jump');
  var lastSeq = Number(out.getAttribute('data-last')) || 0;
  var outFollow = follower(out, jump);
  var MAX_BLOCKS = 1500;
  var KEEP_BLOCKS = 1200;

  // Each output event's id is the last sequence number it covers. Anything not past what is on
  // the page already is a replay (a reconnect that raced) and is dropped, so no line shows twice.
  out.addEventListener('htmx:sseBeforeMessage', function (evt) {
    var id = Number(evt.detail.lastEventId);
    if (!(id > lastSeq)) {
      evt.preventDefault();
      return;
    }
    lastSeq = id;
    // A reconnect made by htmx (rather than the browser, which sends Last-Event-ID) opens the
    // sse-connect URL again: keep its resume point current.
    if (page && page.hasAttribute('sse-connect')) {
      page.setAttribute('sse-connect', page.getAttribute('sse-connect').replace(/after=\d+/, 'after=' + id));
    }
  });
  out.addEventListener('htmx:sseMessage', function () { outFollow.added(trim); });

  // A long-running page keeps the newest output only; "Show earlier output" brings back the rest.
  function trim() {
    var n = out.children.length;
    if (n <= MAX_BLOCKS) return;
    for (var i = 0; i < n - KEEP_BLOCKS; i++) out.removeChild(out.firstElementChild);
    var first = out.firstElementChild && out.firstElementChild.getAttribute('data-seq');
    var earlier = document.getElementById('earlier');
    var runId = page && page.getAttribute('sse-connect') && page.getAttribute('sse-connect').split('/')[2];
    if (!first || !earlier || !runId || !window.htmx) return;
    var link = document.createElement('a');
    link.className = 'button secondary small';
    link.textContent = 'Show earlier output';
    link.href = '/runs/' + runId + '?before=' + first;
    link.setAttribute('hx-get', '/runs/' + runId + '/output?before=' + first);
    link.setAttribute('hx-target', '#earlier');
    link.setAttribute('hx-swap', 'outerHTML');
    earlier.replaceChildren(link);
    window.htmx.process(earlier);
  }
})();
