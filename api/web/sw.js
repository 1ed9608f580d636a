/* The field app's service worker (Workbox, served from this origin: never a CDN).
   Keeps the app shell and its libraries, the street tiles seen or fetched, and the role's data
   (/app/data.json: site rows without any visit note). Visits and their notes are never cached:
   every other request goes to the network as usual. Version: __VERSION__ */
importScripts('/app/vendor/workbox/workbox-sw.js');
workbox.setConfig({modulePathPrefix: '/app/vendor/workbox/', debug: false});

var VERSION = '__VERSION__';
var SHELL = 'go-shell-' + VERSION;
var SHELL_URLS = __SHELL__;
var DATA_TTL = __DATA_TTL_SECONDS__;

// Every module is loaded now: a service worker may import scripts only while it starts.
var routing = workbox.routing, strategies = workbox.strategies;
var expiration = workbox.expiration, cacheable = workbox.cacheableResponse;
workbox.core.clientsClaim();

self.addEventListener('install', function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) {
    return cache.addAll(SHELL_URLS.map(function (u) { return new Request(u, {cache: 'reload'}); }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener('activate', function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) {
      return n.indexOf('go-shell-') === 0 && n !== SHELL;
    }).map(function (n) { return caches.delete(n); }));
  }));
});

var ok = new cacheable.CacheableResponsePlugin({statuses: [200]});
// After a wipe nothing is kept (tiles of the old page may still be arriving) until the server
// again gives the role's data, which it does only to an active session.
var wiped = false;
var notAfterWipe = {cacheWillUpdate: function (o) { return wiped ? null : o.response; }};
var signedIn = {cacheWillUpdate: function (o) { wiped = false; return o.response; }};

// Pages: the network first (fresh login state), the kept shell when offline.
routing.registerRoute(
  // Only the app's own pages: a tab opened on /app/data.json must not land in the shell cache.
  function (o) { return o.request.mode === 'navigate' && (o.url.pathname === '/app/' || o.url.pathname === '/app/login'); },
  new strategies.NetworkFirst({cacheName: SHELL, networkTimeoutSeconds: 4, plugins: [ok],
                                matchOptions: {ignoreSearch: true}})
);
// The shell's files: from the cache (a new version comes with a new service worker).
routing.registerRoute(
  function (o) { return SHELL_URLS.indexOf(o.url.pathname) >= 0 && o.request.mode !== 'navigate'; },
  new strategies.CacheFirst({cacheName: SHELL, plugins: [ok]})
);
// The role's data: fresh when online, the last copy offline, never older than the TTL.
routing.registerRoute(
  function (o) { return o.url.pathname === '/app/data.json'; },
  new strategies.NetworkFirst({cacheName: 'go-data', networkTimeoutSeconds: 6, plugins: [
    ok, signedIn, new expiration.ExpirationPlugin({maxEntries: 3, maxAgeSeconds: DATA_TTL})]})
);
// Street tiles (drawn from OSM only): kept once seen or fetched for the area.
var tiles = new strategies.CacheFirst({cacheName: 'go-tiles', plugins: [
  ok, notAfterWipe, new expiration.ExpirationPlugin({maxEntries: 20000, maxAgeSeconds: 30 * 86400})]});
routing.registerRoute(function (o) { return o.url.pathname.indexOf('/maps/tiles/') === 0; }, tiles);

// At login the app sends the tiles of its route and area ("z/x/y", bounded by the server):
// fetched through the same strategy, a few at a time, so a cellar without signal still has them.
var TILE = /^\d{1,2}\/\d{1,7}\/\d{1,7}$/;
var DATA_CACHES = ['go-data', 'go-tiles'];
var generation = 0;     // raised by a wipe: a prefetch still running stops
var prefetching = Promise.resolve();

function prefetch(event, list) {
  var mine = generation, queue = list.filter(function (t) { return TILE.test(t); }).slice(0, 2000);
  var kept = 0;
  function next() {
    var t = queue.shift();
    if (t === undefined || mine !== generation) { return Promise.resolve(); }
    var request = new Request('/maps/tiles/' + t + '.png');
    return tiles.handle({event: event, request: request}).then(function () { kept++; }, function () { return null; })
      .then(next);
  }
  var run = Promise.all([next(), next(), next(), next()]).then(function () {
    if (event.source && mine === generation) { event.source.postMessage({type: 'tiles-kept', count: kept}); }
  });
  prefetching = prefetching.then(function () { return run; });
  return run;
}

// Logout, revocation or expiry: stop any prefetch, let requests in flight land, then drop the
// role's data and tiles, and say so (the page waits for it before it leaves).
function wipe() {
  generation++;
  wiped = true;
  return prefetching.catch(function () { return null; }).then(function () {
    return Promise.all(DATA_CACHES.map(function (n) { return caches.delete(n); }));
  });
}

self.addEventListener('message', function (event) {
  var d = event.data || {};
  if (d.type === 'prefetch-tiles' && Array.isArray(d.tiles)) {
    event.waitUntil(prefetch(event, d.tiles));
  } else if (d.type === 'wipe') {
    var port = event.ports && event.ports[0];
    event.waitUntil(wipe().then(function () { if (port) { port.postMessage({type: 'wiped'}); } }));
  }
});
