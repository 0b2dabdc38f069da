// The service worker (served at /sw.js by app/views/offline.py, which puts self.ZRT in front:
// the shell's version, its precache list and the scripts to load).
//
// - The shell (CSS, JS, icons, htmx, Leaflet, the offline page) is precached by Workbox under
//   the version: a deploy that changes any of it installs a new cache whole, and the old one is
//   deleted when the new worker takes over; two versions are never mixed.
// - A manager's pages for working offline (Today, the outbox, the lead form, the empty
//   check-in form and /offline/data) are kept on purpose, network first, in the data cache
//   that signing out clears. Nothing else a signed-in page sends is kept.
// - A check-in or a lead posted while the network fails is kept in the outbox (IndexedDB,
//   static/js/outbox-core.js) and sent to /sync when the connection returns.
"use strict";
importScripts.apply(self, self.ZRT.workbox);
importScripts.apply(self, self.ZRT.scripts);

var wb = self.workbox;
var outbox = self.zrtOutbox;
var DATA = outbox.DATA_CACHE;
var KEPT = ["/today", "/outbox", "/leads/new", "/offline/check-in", "/offline/data", "/offline/card"];
var POST_TIMEOUT_MS = 20000;
var TODAY_FRESH_MS = 5 * 60 * 1000;

// A write of any kind (a check-in, a lead, a follow-up done, /sync) makes the kept Today stale.
self.addEventListener("fetch", function (event) {
  if (event.request.method !== "GET" && event.request.method !== "HEAD" && new URL(event.request.url).origin === self.location.origin) {
    event.waitUntil(outbox.setMeta("wrote_at", Date.now()));
  }
});

// The scope stays in the name (Workbox's clean-up finds its old precaches by it), then the version.
wb.core.setCacheNameDetails({ prefix: "zrt", suffix: self.registration.scope + "-" + self.ZRT.version });
wb.precaching.cleanupOutdatedCaches();
// Pages link static files as /static/x.css?v=<content hash> (delivery.py): the precache holds
// each file under its bare path with the same hash as its revision, so ?v= is not part of the key.
wb.precaching.precacheAndRoute(self.ZRT.precache, { ignoreURLParametersMatching: [/^v$/, /^utm_/, /^fbclid$/] });
self.addEventListener("install", function () { self.skipWaiting(); });
wb.core.clientsClaim();

// --- pages kept for reading offline ----------------------------------------------------
var keptOnPurpose = {
  // Only a full, successful answer is kept (a redirect to sign-in never is), under its path.
  cacheWillUpdate: async function (args) {
    var response = args.response;
    var url = new URL(args.request.url);
    if (!response || response.status !== 200 || response.redirected || url.search) { return null; }
    // Nobody signed in on this phone (signed out while this was on its way): nothing is kept.
    if (!(await outbox.getMeta("user"))) { return null; }
    var headers = new Headers(response.headers);
    headers.set("X-Zrt-Kept-At", String(Date.now()));
    return new Response(await response.blob(), { status: 200, statusText: response.statusText, headers: headers });
  },
  cacheKeyWillBeUsed: async function (args) {
    return new URL(args.request.url).pathname;
  },
  // A kept page shown offline says so (app.js shows the notice).
  cachedResponseWillBeUsed: async function (args) {
    var cached = args.cachedResponse;
    if (!cached || !(cached.headers.get("Content-Type") || "").startsWith("text/html")) { return cached; }
    var text = (await cached.text()).replace("<body ", "<body data-offline=\"1\" ");
    return new Response(text, { status: 200, headers: cached.headers });
  }
};
var kept = new wb.strategies.NetworkFirst({ cacheName: DATA, networkTimeoutSeconds: 10, plugins: [keptOnPurpose] });

// Today opened again within a few minutes, with nothing written since, comes from the phone at
// once (a repeat visit on a slow line: under a second) and the kept copy is brought up to date
// behind it; otherwise, and always after a write, the network first.
async function today(o) {
  var cached = o.url.search ? null : await (await caches.open(DATA)).match("/today");
  var keptAt = cached ? Number(cached.headers.get("X-Zrt-Kept-At") || 0) : 0;
  if (cached && Date.now() - keptAt < TODAY_FRESH_MS && keptAt > ((await outbox.getMeta("wrote_at")) || 0)) {
    o.event.waitUntil(kept.handle({ event: o.event, request: o.request.url }).catch(function () {}));
    // The page learns it came from the phone (app.js then checks the connection).
    var text = (await cached.text()).replace("<body ", "<body data-kept=\"1\" ");
    return new Response(text, { status: 200, headers: cached.headers });
  }
  return kept.handle(o);
}
wb.routing.registerRoute(function (o) {
  return o.url.origin === self.location.origin && o.url.pathname === "/today" &&
    o.request.mode === "navigate";
}, today);
wb.routing.registerRoute(function (o) {
  return o.url.origin === self.location.origin && KEPT.indexOf(o.url.pathname) >= 0 &&
    !o.request.headers.get("HX-Request");
}, kept);

async function fromData(path) {
  var cache = await caches.open(DATA);
  var response = await cache.match(path);
  if (response) { return keptOnPurpose.cachedResponseWillBeUsed({ cachedResponse: response }); }
  return null;
}
async function offlinePage() {
  return (await wb.precaching.matchPrecache("/offline")) || Response.error();
}

// Every other page: the network; with none, a check-in page is the kept empty form and a
// customer's page the kept empty card (the page's script fills the customer in from the kept
// cards), "/" is Today, the rest the offline page.
wb.routing.registerRoute(function (o) {
  return o.request.mode === "navigate" && o.url.origin === self.location.origin;
}, new wb.strategies.NetworkOnly({
  plugins: [{
    handlerDidError: async function (args) {
      var path = new URL(args.request.url).pathname;
      if (/^\/visits\/check-in\/\d+$/.test(path)) { return (await fromData("/offline/check-in")) || offlinePage(); }
      if (/^\/customers\/\d+$/.test(path)) { return (await fromData("/offline/card")) || offlinePage(); }
      if (path === "/") { return (await fromData("/today")) || offlinePage(); }
      return offlinePage();
    }
  }]
}));

// --- writes kept while the network fails -----------------------------------------------
function timeout(promise, ms) {
  return new Promise(function (resolve, reject) {
    var timer = setTimeout(function () { reject(new Error("timeout")); }, ms);
    promise.then(function (v) { clearTimeout(timer); resolve(v); }, function (e) { clearTimeout(timer); reject(e); });
  });
}

async function keepOnFailure(o) {
  var copy = o.request.clone();
  try {
    var response = await timeout(fetch(o.request), POST_TIMEOUT_MS);
    if (response.status < 500) { return response; }
  } catch (e) { /* no network, or too slow: kept below */ }
  var me = await outbox.getMeta("user");
  if (!me) { return offlinePage(); }
  var item = await outbox.fromForm(o.url.pathname, await copy.formData(), me.id);
  if (!item) { return offlinePage(); }
  await outbox.add(item);
  if (self.registration.sync) {
    try { await self.registration.sync.register("zrt-outbox"); } catch (e) { /* the page's timer sends it */ }
  }
  notify();
  return Response.redirect("/outbox?saved=" + encodeURIComponent(item.uuid), 303);
}
wb.routing.registerRoute(function (o) {
  return o.url.origin === self.location.origin &&
    (/^\/visits\/check-in\/\d+$/.test(o.url.pathname) || o.url.pathname === "/leads/new");
}, keepOnFailure, "POST");

// Any other form (an archive's edit, …) is never kept: without a connection the answer is the
// offline page, which says that editing needs one.
wb.routing.registerRoute(function (o) {
  return o.request.mode === "navigate" && o.url.origin === self.location.origin && o.url.pathname !== "/logout";
}, new wb.strategies.NetworkOnly({ plugins: [{ handlerDidError: offlinePage }] }), "POST");

// Signing out clears the customer data kept on this phone, never the outbox.
wb.routing.registerRoute(function (o) { return o.url.pathname === "/logout"; }, async function (o) {
  await outbox.forgetUser();
  return fetch(o.request);
}, "POST");

// --- sending ----------------------------------------------------------------------------
async function notify() {
  var clients = await self.clients.matchAll({ includeUncontrolled: true });
  clients.forEach(function (client) { client.postMessage({ type: "outbox" }); });
}
self.addEventListener("sync", function (event) {
  if (event.tag === "zrt-outbox") {
    event.waitUntil(outbox.sync().then(function (result) {
      notify();
      if (result.status === "offline") { throw new Error("still offline"); } // the browser retries
    }));
  }
});
self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "sync") { event.waitUntil(outbox.sync().then(notify)); }
});
