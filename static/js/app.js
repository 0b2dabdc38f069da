// Behaviour lives here, never inline: the Content-Security-Policy allows scripts from this site only.
"use strict";
document.addEventListener("htmx:responseError", function (event) {
  // An expired session during an htmx swap: go to sign-in rather than swapping an error into the page.
  if (event.detail.xhr.status === 401) {
    window.location.href = "/login";
  }
});

// --- working offline: the service worker, the outbox's badge, sending when back online ----
(function () {
  var body = document.body;
  var notice = document.getElementById("offline-notice");
  var noConnection = false;
  if (notice && body.dataset.offline) { notice.hidden = false; }
  // Today from the phone's copy says how old it is ("离线数据，更新于 10:42") until the fresh one is in.
  var shownAt = Number(body.dataset.keptAt || 0);  // when the copy on screen was kept
  function showAge() {
    var age = document.getElementById("kept-age");  // (looked up: #main may have been swapped)
    if (!age || !shownAt || !document.getElementById("walk")) { return; }
    age.textContent = age.dataset.msg.replace("{time}", new Date(shownAt).toLocaleTimeString("zh-CN",
      { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "Asia/Shanghai" }));
    age.hidden = false;
  }
  showAge();
  // Today from the phone's copy: the worker brings the fresh page into its cache behind it and
  // says so (CACHE_UPDATED, as workbox-broadcast-update does); the page then shows the fresh one.
  async function freshen() {
    if (!body.dataset.keptAt || location.pathname !== "/today" || location.search || !window.caches) { return; }
    var response = await (await caches.open("zrt-data")).match("/today");
    if (!response && body.dataset.kept) { location.href = "/login"; return; } // the session ended (sw.js)
    var freshAt = Number(response && response.headers.get("X-Zrt-Kept-At") || 0);
    if (!response || freshAt <= Number(body.dataset.keptAt)) { return; }
    var fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    var main = fresh.getElementById("main");
    if (!main || fresh.body.dataset.user !== body.dataset.user || !body.dataset.keptAt) { return; }
    document.getElementById("main").replaceWith(main);
    delete body.dataset.keptAt; delete body.dataset.kept;
    shownAt = freshAt;
    if (noConnection) {  // fresher, but still a copy: offline, it says so and how old it is
      document.getElementById("offline-notice").hidden = false;
      showAge();
    } else { delete body.dataset.offline; }
    if (window.htmx) { window.htmx.process(main); }
  }
  // Swapped after the load event and a frame, so the kept copy is painted first.
  function freshenLater() {
    requestAnimationFrame(function () { setTimeout(function () { freshen().catch(function () {}); }, 0); });
  }
  if (navigator.serviceWorker && body.dataset.keptAt) {
    navigator.serviceWorker.addEventListener("message", function (event) {
      if (event.data && event.data.type === "CACHE_UPDATED" && document.readyState === "complete") { freshenLater(); }
    });
    window.addEventListener("load", freshenLater);
  }
  if (notice && body.dataset.kept) {
    // Today from the phone's recent copy: say so if there is no connection behind it (asked
    // after the load event: the page is on screen first).
    window.addEventListener("load", function () {
      fetch("/manifest.webmanifest", { method: "HEAD", cache: "no-store" }).catch(function () {
        // (looked up again: the fresh page may have been swapped in meanwhile)
        noConnection = true;
        document.getElementById("offline-notice").hidden = false;
        body.dataset.offline = "1";
        showAge();
      });
    });
  }

  if ("serviceWorker" in navigator) {
    // After the page has loaded, so the first visit on a slow line is not slowed by the precache.
    var register = function () { navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {}); };
    if (document.readyState === "complete") { register(); } else { window.addEventListener("load", register); }
  }

  var user = Number(body.dataset.user || 0);
  // A page with nobody signed in leaves no customer data on the phone (the outbox stays).
  if (!user && window.caches) {
    caches.delete("zrt-data").catch(function () {});
    localStorage.removeItem("zrt-kept-at");
  }
  var badge = document.getElementById("outbox-badge");  // a manager's page: the outbox is theirs
  if (!user || !badge || !window.indexedDB) { window.zrtReady = Promise.reject(new Error("no outbox")); window.zrtReady.catch(function () {}); return; }
  // The outbox's scripts come after the load event: the first visit on a slow line is not slowed
  // by them (later visits take them from the precache).
  function script(src) {
    return new Promise(function (resolve, reject) {
      var tag = document.createElement("script");
      tag.src = src; tag.onload = resolve; tag.onerror = reject;
      document.head.appendChild(tag);
    });
  }
  var loaded = new Promise(function (resolve) {
    if (document.readyState === "complete") { resolve(); } else { window.addEventListener("load", resolve); }
  }).then(function () { return window.zrtOutbox || script("/static/vendor/idb-8.0.4.umd.js"); })
    .then(function () { return window.zrtOutbox || script("/static/js/outbox-core.js"); })
    .then(function () { return window.zrtOutbox; });
  window.zrtReady = loaded;
  loaded.then(withOutbox, function () {});

  function withOutbox(outbox) {

  function csrf() {
    try { return JSON.parse(body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }
  async function showCount() {
    var c = await outbox.counts(user);
    var waiting = c.waiting + c.refused;
    badge.hidden = waiting === 0;
    badge.querySelector(".count").textContent = String(waiting);
    badge.classList.toggle("refused", c.refused > 0);
    var signedOut = await outbox.getMeta("signed_out");
    badge.title = signedOut ? badge.dataset.msgSignedOut : "";
    document.dispatchEvent(new CustomEvent("zrt:outbox", { detail: c }));
  }
  var sending = false;
  async function send() {
    if (sending) { return; }
    sending = true;
    try {
      if ((await outbox.counts(user)).waiting) { await outbox.sync(); }
    } catch (e) { /* kept; the next try sends it */ }
    sending = false;
    showCount();
  }
  window.zrtSend = send;

  async function start() {
    var before = await outbox.getMeta("user");
    if (before && before.id !== user) {
      // Another user's customer data is not left on a shared phone; their outbox stays.
      await outbox.forgetUser();
      localStorage.removeItem("zrt-kept-at");
    }
    if (!body.dataset.offline) { await outbox.setMeta("user", { id: user, csrf: csrf() }); }
    await showCount();
    if (!body.dataset.offline) { send(); }
    keepForOffline();
  }

  // Keep what a manager needs offline: fetched through the service worker, which keeps it.
  async function keepForOffline() {
    if (body.dataset.offline || !navigator.serviceWorker || !navigator.serviceWorker.controller) { return; }
    var last = Number(localStorage.getItem("zrt-kept-at") || 0);
    if (localStorage.getItem("zrt-kept-by") === String(user) && Date.now() - last < 10 * 60 * 1000) { return; }
    var paths = ["/offline/data", "/offline/check-in", "/offline/card", "/outbox", "/leads/new", "/today"];
    for (var i = 0; i < paths.length; i++) {
      try { await fetch(paths[i], { credentials: "same-origin" }); } catch (e) { return; }
    }
    localStorage.setItem("zrt-kept-at", String(Date.now()));
    localStorage.setItem("zrt-kept-by", String(user));
  }

  document.addEventListener("submit", function (event) {
    var made = event.target.querySelector("[name=made_at]");
    if (event.target.classList.contains("lead-form") && !made) {
      // The moment of the tap, kept with the lead if it has to wait in the outbox.
      made = document.createElement("input");
      made.type = "hidden"; made.name = "made_at"; made.value = new Date().toISOString();
      event.target.appendChild(made);
    }
    if (event.target.getAttribute("action") === "/logout") {
      // Signing out clears the customer data kept on this phone, never the outbox.
      localStorage.removeItem("zrt-kept-at");
      outbox.forgetUser();
    }
  }, true);
  window.addEventListener("online", send);
  setInterval(send, 60 * 1000);
  if (navigator.serviceWorker) {
    navigator.serviceWorker.addEventListener("message", function (event) {
      if (event.data && event.data.type === "outbox") { showCount(); }
    });
    navigator.serviceWorker.addEventListener("controllerchange", keepForOffline);
  }
  start();

  // --- the kept card and forms, opened offline ------------------------------------------
  var cardBox = document.getElementById("offline-card");
  var cardOf = /^\/customers\/(\d+)$/.exec(location.pathname);
  if (cardBox && cardOf) {
    outbox.cardOf(cardOf[1]).then(function (c) {
      if (!c) { return; }
      var set = function (id, text) { document.getElementById(id).textContent = text || "—"; };
      set("card-name", c.name);
      var tier = document.getElementById("card-tier");
      tier.textContent = cardBox.dataset["tier" + c.tier.charAt(0).toUpperCase() + c.tier.slice(1)] || "";
      tier.className = "tier tier-" + c.tier;
      set("card-place", [c.village || c.street, c.group_name || c.house_no].filter(Boolean).join(" "));
      set("card-phone", c.phone);
      set("card-last-visit", c.last_visit || cardBox.dataset.never);
      document.getElementById("card-check-in").setAttribute("href", "/visits/check-in/" + c.id);
    });
  }
  var form = document.getElementById("check-in-form");
  var match = /^\/visits\/check-in\/(\d+)$/.exec(location.pathname);
  if (form && match && /\/0$/.test(form.getAttribute("action"))) {
    // The empty check-in form the phone kept: this customer's, from the kept cards.
    form.setAttribute("action", location.pathname);
    form.querySelector("[name=client_uuid]").value = outbox.newUuid();
    outbox.cardOf(match[1]).then(function (card) {
      var heading = document.querySelector("main h2");
      if (card && heading) {
        heading.textContent = card.name;
        var place = heading.parentNode.querySelector("p.muted");
        if (place) { place.textContent = [card.village || card.street, card.group_name || card.house_no, card.phone].filter(Boolean).join(" "); }
      }
    });
  }
  var leadForm = document.querySelector("form.lead-form");
  if (leadForm && body.dataset.offline) {
    // The lead form the phone kept: a fresh UUID, and the customer and visit it is for.
    leadForm.querySelector("[name=client_uuid]").value = outbox.newUuid();
    var params = new URLSearchParams(location.search);
    if (params.get("customer")) {
      ["customer", "visit_uuid"].forEach(function (name) {
        if (!params.get(name)) { return; }
        var input = document.createElement("input");
        input.type = "hidden"; input.name = name; input.value = params.get(name);
        leadForm.appendChild(input);
      });
      var source = leadForm.querySelector("[name=source]");
      if (source && params.get("visit_uuid")) { source.value = "visit"; }
      outbox.cardOf(params.get("customer")).then(function (card) {
        ["name", "phone", "id_number"].forEach(function (name) {
          var field = leadForm.querySelector("[name=" + name + "]");
          if (field) { field.closest(".field").hidden = true; }
        });
        var who = document.createElement("p");
        who.className = "lead-who";
        who.textContent = card ? card.name : "#" + params.get("customer");
        leadForm.insertBefore(who, leadForm.querySelector(".field"));
      });
    }
  }
  }
})();

// --- Today offline: the whole walk list from what the phone kept ---------------------------
// The kept Today carries its first page of the walk list; the rest is in /offline/data, each
// row with its group and position from the server. Offline, the "more" link shows them all
// here (today.js then sorts by distance inside each group, as for the page's own rows).
(function () {
  var body = document.body;
  var list = document.querySelector("#walk ul.to-visit");
  if (!list || !window.caches) { return; }
  async function showKept() {
    var template = document.getElementById("walk-row-template");
    var response = template && await (await caches.open("zrt-data")).match("/offline/data");
    if (!response) { return false; }
    var data = await response.json();
    if (data.user !== Number(body.dataset.user || 0)) { return false; }
    var cards = new Map(data.cards.map(function (c) { return [c.id, c]; }));
    var here = new Set(Array.prototype.map.call(list.querySelectorAll("li.walk-row"),
      function (li) { return Number(li.dataset.customer); }));
    var labels = template.dataset, more = list.querySelector(":scope > li.more");
    data.rows.filter(function (r) { return r.section === "walk" && !here.has(r.id); })
      .sort(function (a, b) { return a.position - b.position; })
      .forEach(function (r) {
        var c = cards.get(r.id) || { name: "#" + r.id, tier: "potential" };
        var li = template.content.firstElementChild.cloneNode(true);
        li.dataset.customer = r.id; li.dataset.group = r.group; li.dataset.pos = r.position;
        if (r.lat !== null && r.lat !== undefined) { li.dataset.lat = r.lat; li.dataset.lng = r.lng; }
        li.querySelector("a.row").setAttribute("href", "/customers/" + r.id);
        li.querySelector("a.check-in").setAttribute("href", "/visits/check-in/" + r.id);
        var tier = li.querySelector(".tier");
        tier.textContent = labels["tier" + c.tier.charAt(0).toUpperCase() + c.tier.slice(1)] || "";
        tier.className = "tier tier-" + c.tier;
        tier.parentNode.insertBefore(document.createTextNode(c.name + " "), tier);
        var reason = li.querySelector(".walk-reason");
        if (String(r.group) === labels.rest) { reason.remove(); } else {
          reason.textContent = r.reason; reason.classList.add("g" + r.group);
        }
        li.querySelector(".place").textContent = [c.village || c.street, c.group_name || c.house_no].filter(Boolean).join(" ");
        li.querySelector(".row-meta").textContent = c.last_visit
          ? labels.lastVisit.replace("%(day)s", c.last_visit.slice(5))
          : (String(r.group) === labels.neverGroup ? "" : labels.never);
        list.insertBefore(li, more);
      });
    if (more) { more.remove(); }
    document.dispatchEvent(new CustomEvent("zrt:rows"));
    return true;
  }
  // Before htmx sees the click: offline, the next rows are on the phone already.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("#walk ul.to-visit li.more a");
    if (!link || !body.dataset.offline) { return; }
    event.preventDefault();
    event.stopPropagation();
    showKept();
  }, true);
  // Online as far as the phone knows, but the request failed: the kept rows all the same.
  document.body.addEventListener("htmx:sendError", function (event) {
    if (event.detail.elt && event.detail.elt.closest("#walk ul.to-visit li.more")) { showKept(); }
  });
})();
