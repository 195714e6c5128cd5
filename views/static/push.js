// Settings → "Notifications on this phone": registers the service worker (/sw.js), subscribes to
// Web Push with the gateway's VAPID key and hands the subscription to the gateway as a form post
// with the session's CSRF token. Without JavaScript (or Web Push) the section says so.
(function () {
  'use strict';
  var box = document.getElementById('push-controls');
  if (!box) return;
  var state = document.getElementById('push-state');
  var on = document.getElementById('push-on');
  var off = document.getElementById('push-off');
  var key = box.getAttribute('data-key');
  var csrf = box.getAttribute('data-csrf');
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) {
    state.textContent = 'This browser cannot receive Web Push notifications. On an iPhone, add ccg to the home screen and open it from there.';
    return;
  }

  function bytes(b64url) {
    var s = atob(b64url.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((b64url.length + 3) % 4));
    var out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  function b64url(buf) {
    var s = '';
    new Uint8Array(buf).forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function post(url, fields) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-csrf-token': csrf, accept: 'application/json' },
      body: new URLSearchParams(fields)
    }).then(function (res) {
      if (!res.ok) throw new Error('the gateway answered ' + res.status);
      return res;
    });
  }
  function show(sub) {
    if (sub) {
      state.textContent = 'Notifications are on for this phone.';
      on.hidden = true;
      off.hidden = false;
    } else {
      state.textContent = Notification.permission === 'denied'
        ? 'Notifications are blocked for this site. Allow them in the browser’s site settings first.'
        : 'Notifications are off on this phone.';
      on.hidden = Notification.permission === 'denied';
      off.hidden = true;
    }
  }
  function fail(what) {
    return function (err) { state.textContent = what + ': ' + (err && err.message ? err.message : err); };
  }

  // Registered on the first "Turn on" only: a visit to Settings fetches nothing, and a gateway
  // whose certificate the phone does not trust says so when asked, not on every visit.
  var ready = null;
  function register() {
    ready = ready || navigator.serviceWorker.register('/sw.js', { scope: '/' }).then(
      function () { return navigator.serviceWorker.ready; },
      function (err) {
        ready = null;
        throw err;
      }
    );
    return ready;
  }
  function explain(err) {
    // Browsers run service workers only from a certificate they trust: a self-signed gateway
    // needs a tunnel (ccg tunnel), a real certificate, or its certificate installed on the phone.
    if (/SSL|certificate/i.test(String(err && err.message))) {
      state.textContent += ' Notifications need the gateway on a certificate this phone trusts: use ccg tunnel, or give the gateway a real certificate.';
    }
  }
  navigator.serviceWorker.getRegistration('/').then(function (reg) {
    if (!reg) return show(null);
    ready = Promise.resolve(reg);
    return reg.pushManager.getSubscription().then(show);
  }, function () { show(null); });

  on.addEventListener('click', function () {
    on.disabled = true;
    state.textContent = 'Asking the browser…';
    Notification.requestPermission()
      .then(function (permission) {
        if (permission !== 'granted') throw new Error('notifications were not allowed');
        return register();
      })
      .then(function (reg) { return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: bytes(key) }); })
      .then(function (sub) {
        var j = sub.toJSON();
        return post('/settings/push', { endpoint: j.endpoint, p256dh: j.keys.p256dh, auth: j.keys.auth });
      })
      .then(function () { window.location.assign('/settings?notice=push-on#push'); }, function (err) {
        fail('Could not turn notifications on')(err);
        explain(err);
      })
      .then(function () { on.disabled = false; });
  });

  off.addEventListener('click', function () {
    off.disabled = true;
    register()
      .then(function (reg) { return reg.pushManager.getSubscription(); })
      .then(function (sub) {
        if (!sub) return null;
        // The gateway names a subscription by its endpoint's SHA-256 (base64url, 32 characters).
        return crypto.subtle.digest('SHA-256', new TextEncoder().encode(sub.endpoint)).then(function (h) {
          return sub.unsubscribe().then(function () { return post('/settings/push/' + b64url(h).slice(0, 32) + '/delete', {}); });
        });
      })
      .then(function () { window.location.assign('/settings?notice=push-removed#push'); }, fail('Could not turn notifications off'))
      .then(function () { off.disabled = false; });
  });
})();
