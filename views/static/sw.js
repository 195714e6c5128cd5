// ccg's service worker: shows the gateway's Web Push notifications (an approval is waiting, Claude
// waits for a follow-up, a run ended) and opens the run when one is tapped. Nothing else: no
// caching, no fetch handling. Scope: the whole site (it is served from /sw.js).
'use strict';

self.addEventListener('install', function () { self.skipWaiting(); });
self.addEventListener('activate', function (event) { event.waitUntil(self.clients.claim()); });

// The gateway names its own public URL in a push, which may not be the origin this phone uses
// (a tunnel, a proxy). Only the path of one of our pages is kept, on this origin.
function pagePath(url) {
  try {
    var u = new URL(url || '/runs', self.location.origin);
    if (/^\/(runs(\/[a-z0-9]{12})?|settings)?$/.test(u.pathname)) return u.pathname || '/';
  } catch (e) { /* fall through */ }
  return '/runs';
}

self.addEventListener('push', function (event) {
  var d = {};
  try {
    d = event.data ? event.data.json() : {};
  } catch (e) {
    d = { title: 'ccg', body: event.data ? event.data.text() : '' };
  }
  var title = String(d.title || 'ccg').slice(0, 200);
  var options = {
    body: String(d.body || '').slice(0, 500),
    data: { url: pagePath(d.url) },
    // An approval stays until it is dealt with; the same run's notices replace each other.
    requireInteraction: d.kind === 'approval',
  };
  if (d.tag) {
    options.tag = String(d.tag).slice(0, 100);
    options.renotify = true;
  }
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', function (event) {
  event.notification.close();
  var target = new URL((event.notification.data && event.notification.data.url) || '/runs', self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(function (list) {
      for (var i = 0; i < list.length; i++) {
        if (list[i].url === target && 'focus' in list[i]) return list[i].focus();
      }
      return self.clients.openWindow(target);
    })
  );
});
