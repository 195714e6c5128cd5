// ccg pages: the little behaviour htmx does not give for free. Every page works without this
// file; it adds copy buttons and makes the live output pleasant (follow the end, stop when the
// reader scrolls up, drop replays, keep the page small).
(function () {
  'use strict';

  // Copy buttons start hidden: without JavaScript the text is still there to select.
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    var target = document.querySelector(button.getAttribute('data-copy'));
    if (!target || !navigator.clipboard) return;
    button.hidden = false;
    var label = button.textContent;
    button.addEventListener('click', function () {
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
  });

  var out = document.getElementById('output');
  if (!out) return;
  var page = document.getElementById('run');
  var jump = document.getElementById('jump');
  var state = document.getElementById('live-state');
  var lastSeq = Number(out.getAttribute('data-last')) || 0;
  var follow = true;
  var MAX_BLOCKS = 1500;
  var KEEP_BLOCKS = 1200;

  function atEnd() {
    return out.scrollHeight - out.scrollTop - out.clientHeight < 32;
  }
  function toEnd() {
    out.scrollTop = out.scrollHeight;
  }
  function setState(text, cls) {
    if (!state) return;
    state.textContent = text;
    state.className = 'live-dot ' + (cls || '');
  }

  // Only the reader scrolling up stops the following (new output and trimming move the
  // scroll position too); reaching the end again, by hand or with the button, resumes it.
  var lastTop = 0;
  function toEndNow() {
    toEnd();
    lastTop = out.scrollTop;
  }
  toEndNow();
  function noteScroll() {
    var top = out.scrollTop;
    if (top < lastTop - 2) follow = false;
    else if (atEnd()) follow = true;
    lastTop = top;
    if (jump) jump.hidden = follow;
  }
  out.addEventListener('scroll', noteScroll, { passive: true });
  if (jump) {
    jump.addEventListener('click', function () {
      follow = true;
      jump.hidden = true;
      toEndNow();
      out.focus({ preventScroll: true });
    });
  }

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

  out.addEventListener('htmx:sseMessage', function () {
    // A scroll the browser has not told us about yet still counts (its event comes later).
    noteScroll();
    if (follow) {
      trim();
      toEndNow();
    } else if (jump) {
      jump.hidden = false;
    }
  });

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

  if (page) {
    page.addEventListener('htmx:sseOpen', function () { setState('live', 'on'); });
    page.addEventListener('htmx:sseError', function () { setState('reconnecting…', 'off'); });
    page.addEventListener('htmx:sseClose', function () { setState('ended', 'done'); });
  }
  var reset = document.getElementById('reset');
  if (reset) {
    // Too far behind to replay: show the current tail instead.
    reset.addEventListener('htmx:sseMessage', function () { window.location.reload(); });
  }
})();
