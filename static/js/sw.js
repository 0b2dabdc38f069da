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
// Navigation preload (what workbox-navigation-preload's enable() does): a page's request leaves
// while the worker starts, and Workbox's strategies answer a navigation with it.
self.addEventListener("activate", function (event) {
  if (self.registration.navigationPreload) { event.waitUntil(self.registration.navigationPreload.enable()); }
});

// The page a kept copy is shown in learns when it was kept (app.js says so: "离线数据，更新于 10:42").
async function marked(cached, attributes) {
  var keptAt = cached.headers.get("X-Zrt-Kept-At") || "0";
  var text = (await cached.text()).replace("<body ", "<body " + attributes + " data-kept-at=\"" + keptAt + "\" ");
  return new Response(text, { status: 200, headers: cached.headers });
}
function isHtml(response) { return (response.headers.get("Content-Type") || "").startsWith("text/html"); }

var keptOnPurpose = {
  // Only a full, successful answer is kept (a redirect to sign-in never is), under its path,
  // with when and for whom it was kept.
  cacheWillUpdate: async function (args) {
    var response = args.response;
    var url = new URL(args.request.url);
    if (!response || response.status !== 200 || response.redirected || url.search) { return null; }
    // Nobody signed in on this phone (signed out while this was on its way): nothing is kept.
    var me = await outbox.getMeta("user");
    if (!me) { return null; }
    var headers = new Headers(response.headers);
    headers.set("X-Zrt-Kept-At", String(Date.now()));
    headers.set("X-Zrt-User", String(me.id));
    return new Response(await response.blob(), { status: 200, statusText: response.statusText, headers: headers });
  },
  cacheKeyWillBeUsed: async function (args) {
    return new URL(args.request.url).pathname;
  },
  // A kept page shown offline says so (app.js shows the notice and the age).
  cachedResponseWillBeUsed: async function (args) {
    var cached = args.cachedResponse;
    return cached && isHtml(cached) ? marked(cached, "data-offline=\"1\"") : cached;
  }
};
var kept = new wb.strategies.NetworkFirst({ cacheName: DATA, networkTimeoutSeconds: 10, plugins: [keptOnPurpose] });

// Today opened again, kept for this user less than half an hour ago with nothing written since,
// is Workbox's stale-while-revalidate: the kept copy at once (a repeat visit on a slow line in
// under a second), marked with its age, while the navigation preload brings the fresh page into
// the cache; the page is then told (as workbox-broadcast-update would: CACHE_UPDATED) and swaps
// it in. Otherwise, and always after a write or a sign-in (a POST), network first, and the kept
// copy, marked as offline with its age, when the network fails or takes over 4 s.
var TODAY_FRESH_MS = 30 * 60 * 1000;
var broadcastUpdate = {
  cacheDidUpdate: async function (args) {
    var clients = await self.clients.matchAll({ type: "window" });
    clients.forEach(function (client) {
      client.postMessage({ type: "CACHE_UPDATED", meta: "workbox-broadcast-update",
        payload: { cacheName: args.cacheName, updatedURL: new URL(args.request.url, self.location.origin).href } });
    });
  }
};
var todayKept = new wb.strategies.StaleWhileRevalidate({ cacheName: DATA, plugins: [
  { cacheWillUpdate: async function (args) {
      // The server sends this phone to sign-in (the session ended): the copy is not shown again,
      // and the page, finding it gone, goes to sign-in (app.js).
      var response = args.response;
      if (response && (response.type === "opaqueredirect" || response.redirected || response.status === 401)) {
        await (await caches.open(DATA)).delete("/today");
        await broadcastUpdate.cacheDidUpdate({ cacheName: DATA, request: args.request });
        return null;
      }
      return keptOnPurpose.cacheWillUpdate(args);
    },
    cacheKeyWillBeUsed: keptOnPurpose.cacheKeyWillBeUsed,
    cachedResponseWillBeUsed: async function (args) {
      return args.cachedResponse && marked(args.cachedResponse, "data-kept=\"1\"");
    } },
  broadcastUpdate] });
var todayNetwork = new wb.strategies.NetworkFirst({ cacheName: DATA, networkTimeoutSeconds: 4, plugins: [keptOnPurpose, broadcastUpdate] });

async function today(o) {
  var cached = o.url.search ? null : await (await caches.open(DATA)).match("/today");
  if (cached) {
    var keptAt = Number(cached.headers.get("X-Zrt-Kept-At") || 0);
    var me = await outbox.getMeta("user");
    var wrote = (await outbox.getMeta("wrote_at")) || 0;
    // Only the copy of the user signed in on this phone, never another's.
    if (me && String(me.id) === cached.headers.get("X-Zrt-User") && Date.now() - keptAt < TODAY_FRESH_MS && keptAt > wrote) {
      return todayKept.handle(o);
    }
  }
  return todayNetwork.handle(o);
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
