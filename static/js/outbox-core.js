// The outbox: check-ins and leads made without a connection, kept in IndexedDB (idb 8) with
// their client UUID, made-at time and the user who made them, and sent in order to /sync.
// Used by the pages (app.js, outbox.js) and by the service worker (sw.js); it touches no DOM.
//
// An item's state: "waiting" (to send), "sending", "sent", "refused" (with the server's
// reasons: fixed and sent again, or discarded). Only the items of the user signed in are
// listed or sent; signing out forgets the cached customer data, never the outbox.
"use strict";
(function (root) {
  var DB_NAME = "zrt-outbox";
  var DATA_CACHE = "zrt-data";
  var BATCH_ITEMS = 20;
  var BATCH_BYTES = 4 * 1024 * 1024;
  var SEND_TIMEOUT_MS = 30000;
  var SKIPPED = { csrf_token: 1, client_uuid: 1, photo: 1, made_at: 1, visit_uuid: 1 };
  var dbPromise = null;

  function open() {
    if (!dbPromise) {
      dbPromise = root.idb.openDB(DB_NAME, 1, {
        upgrade: function (db) {
          var store = db.createObjectStore("outbox", { keyPath: "uuid" });
          store.createIndex("user", "user");
          db.createObjectStore("meta");
        }
      });
    }
    return dbPromise;
  }
  async function getMeta(key) { return (await open()).get("meta", key); }
  async function setMeta(key, value) { return (await open()).put("meta", value, key); }

  function newUuid() {
    if (root.crypto && root.crypto.randomUUID) { return root.crypto.randomUUID(); }
    var b = root.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  async function cardOf(customerId) {
    try {
      var response = await (await caches.open(DATA_CACHE)).match("/offline/data");
      if (!response) { return null; }
      var data = await response.json();
      return data.cards.filter(function (c) { return String(c.id) === String(customerId); })[0] || null;
    } catch (e) { return null; }
  }

  // A posted form (FormData) as an outbox item; null when it is neither a check-in nor a lead.
  async function fromForm(path, form, userId) {
    var fields = {};
    form.forEach(function (value, key) {
      if (!SKIPPED[key] && typeof value === "string") { fields[key] = value; }
    });
    var uuid = form.get("client_uuid") || newUuid();
    var match = /^\/visits\/check-in\/(\d+)$/.exec(path);
    var item = { uuid: uuid, user: userId, made_at: form.get("made_at") || new Date().toISOString(),
      fields: fields, state: "waiting", saved_at: Date.now(), reasons: [] };
    if (match) {
      var photo = form.get("photo");
      item.kind = "check_in";
      item.customer = Number(match[1]);
      item.photo = photo && typeof photo !== "string" && photo.size ? new Blob([photo], { type: photo.type }) : null;
    } else if (path === "/leads/new") {
      item.kind = "lead";
      item.customer = fields.customer ? Number(fields.customer) : null;
      item.visit_uuid = form.get("visit_uuid") || null;
    } else {
      return null;
    }
    var card = item.customer ? await cardOf(item.customer) : null;
    item.label = card ? card.name : (fields.name || (item.customer ? "#" + item.customer : ""));
    return item;
  }

  async function add(item) {
    var db = await open();
    var existing = await db.get("outbox", item.uuid);
    if (existing) { return existing; } // a double tap is kept once
    await db.put("outbox", item);
    return item;
  }
  async function list(userId) {
    var items = await (await open()).getAllFromIndex("outbox", "user", userId);
    return items.sort(function (a, b) { return a.saved_at - b.saved_at; });
  }
  async function counts(userId) {
    var items = await list(userId);
    var c = { waiting: 0, refused: 0, sent: 0 };
    items.forEach(function (i) { c[i.state === "sending" ? "waiting" : i.state] += 1; });
    return c;
  }
  async function update(uuid, changes) {
    var db = await open();
    var item = await db.get("outbox", uuid);
    if (!item) { return null; }
    Object.assign(item, changes);
    await db.put("outbox", item);
    return item;
  }
  async function discard(uuid) { return (await open()).delete("outbox", uuid); }
  async function resend(uuid, fields) {
    var item = await (await open()).get("outbox", uuid);
    if (!item) { return null; }
    var changes = { state: "waiting", reasons: [], fields: Object.assign({}, item.fields, fields || {}) };
    if (item.visit_uuid && !(await (await open()).get("outbox", item.visit_uuid))) {
      changes.visit_uuid = null; // its visit was discarded: the lead goes without it
    }
    return update(uuid, changes);
  }

  async function base64(blob) {
    var bytes = new Uint8Array(await blob.arrayBuffer());
    var text = "";
    for (var i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
  }

  // Signing out, or another user signing in: the customer data kept for reading offline goes.
  async function forgetUser() {
    await caches.delete(DATA_CACHE);
    await setMeta("user", null);
  }

  async function post(body, csrf) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, SEND_TIMEOUT_MS);
    try {
      return await fetch("/sync", { method: "POST", credentials: "same-origin", signal: controller.signal,
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf }, body: body });
    } finally { clearTimeout(timer); }
  }

  function waitsForNothing(items, uuid) {
    var item = items.filter(function (i) { return i.uuid === uuid; })[0];
    return !!(item && item.visit_uuid && !items.some(function (i) { return i.uuid === item.visit_uuid; }));
  }

  // What was sent stays listed for a day, then goes (its photo went at once).
  async function purgeSent(userId) {
    var db = await open();
    var old = (await list(userId)).filter(function (i) { return i.state === "sent" && Date.now() - i.sent_at > 86400000; });
    for (var n = 0; n < old.length; n++) { await db.delete("outbox", old[n].uuid); }
  }

  // Send what waits, in order, as the user signed in. {status: "done" | "offline" |
  // "signed-out" | "no-user" | "busy" | "refused", reason?}. Nothing is ever lost: an item
  // leaves "waiting" only for the server's answer about it.
  async function sync() {
    if (root.navigator.locks) {
      return root.navigator.locks.request("zrt-outbox-sync", { ifAvailable: true }, function (lock) {
        return lock ? syncNow() : { status: "busy" };
      });
    }
    return syncNow();
  }
  async function syncNow() {
    var me = await getMeta("user");
    if (!me || !me.id) { return { status: "no-user" }; }
    var later = {}; // answered "waiting" by the server: not sent again in this sync
    await purgeSent(me.id);
    for (var round = 0; round < 50; round++) {
      var items = await list(me.id);
      var pending = {};
      items.forEach(function (i) { if (i.state !== "sent") { pending[i.uuid] = i; } });
      // A lead waits while its visit is not on the server yet (refused or still waiting).
      var ready = items.filter(function (i) {
        if ((i.state !== "waiting" && i.state !== "sending") || later[i.uuid]) { return false; }
        if (i.visit_uuid && pending[i.visit_uuid]) {
          return false;
        }
        return true;
      });
      if (!ready.length) { return { status: "done" }; }
      var batch = [], size = 0;
      for (var n = 0; n < ready.length && batch.length < BATCH_ITEMS; n++) {
        var i = ready[n];
        var wire = { uuid: i.uuid, kind: i.kind, user: i.user, made_at: i.made_at, customer: i.customer,
          fields: i.fields, visit_uuid: i.visit_uuid || null, photo: i.photo ? await base64(i.photo) : null };
        var text = JSON.stringify(wire);
        if (batch.length && size + text.length > BATCH_BYTES) { break; }
        batch.push(wire); size += text.length;
      }
      for (var k = 0; k < batch.length; k++) { await update(batch[k].uuid, { state: "sending" }); }
      var response = null;
      try {
        response = await post(JSON.stringify({ items: batch }), me.csrf);
      } catch (e) { response = null; }
      var answer = null;
      if (response && response.status === 200) {
        try { answer = await response.json(); } catch (e) { answer = null; }
      }
      if (!answer || answer.user !== me.id) {
        for (var w = 0; w < batch.length; w++) { await update(batch[w].uuid, { state: "waiting" }); }
        if (response && response.status === 401) {
          await setMeta("signed_out", true);
          return { status: "signed-out" };
        }
        if (response && response.status >= 400 && response.status < 500) {
          var reason = "";
          try { reason = (await response.json()).reason; } catch (e) { reason = ""; }
          return { status: "refused", reason: reason };
        }
        return { status: "offline" };
      }
      await setMeta("signed_out", false);
      for (var r = 0; r < answer.results.length; r++) {
        var result = answer.results[r];
        if (result.status === "saved") {
          await update(result.uuid, { state: "sent", sent_at: Date.now(), photo: null, reasons: [] });
        } else if (result.status === "refused") {
          await update(result.uuid, { state: "refused", reasons: result.reasons || [], fixable: result.fixable !== false });
        } else if (waitsForNothing(items, result.uuid)) {
          // Its visit was discarded from this phone: it can only be fixed (sent without it) or discarded.
          await update(result.uuid, { state: "refused", reasons: result.reasons || [] });
        } else {
          await update(result.uuid, { state: "waiting", reasons: result.reasons || [] });
          later[result.uuid] = true;
        }
      }
    }
    return { status: "done" };
  }

  root.zrtOutbox = { DATA_CACHE: DATA_CACHE, open: open, getMeta: getMeta, setMeta: setMeta, newUuid: newUuid,
    fromForm: fromForm, add: add, list: list, counts: counts, discard: discard, resend: resend,
    forgetUser: forgetUser, sync: sync, cardOf: cardOf };
})(self);
