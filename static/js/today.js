// Today (今日): ask the phone where it is once, then reorder the walk list nearest first.
// Refused or unavailable, the list stays ordered by village and group. Without a connection
// the rows the page has are reordered here: by distance inside each group the server sent
// (data-group, data-pos), never across groups: Today's order is the server's rule.
"use strict";
(function () {
  var status = document.getElementById("locate-status");
  if (!status || !navigator.geolocation || /[?&]lat=/.test(window.location.search)) { return; }
  function metres(lat1, lng1, lat2, lng2) {
    var r = Math.PI / 180, a = Math.sin((lat2 - lat1) * r / 2), b = Math.sin((lng2 - lng1) * r / 2);
    var h = a * a + Math.cos(lat1 * r) * Math.cos(lat2 * r) * b * b;
    return 12742000 * Math.asin(Math.sqrt(h));
  }
  function sortHere(pos) {
    var lat = pos.coords.latitude, lng = pos.coords.longitude;
    document.querySelectorAll("#walk ul.walk").forEach(function (list) {
      var rows = Array.prototype.slice.call(list.querySelectorAll(":scope > li.walk-row"));
      var key = function (li) {
        var d = li.dataset.lat ? metres(lat, lng, Number(li.dataset.lat), Number(li.dataset.lng)) : Infinity;
        return [Number(li.dataset.group || 0), d, Number(li.dataset.pos || 0)];
      };
      var keys = new Map(rows.map(function (li) { return [li, key(li)]; }));
      rows.sort(function (a, b) {
        var x = keys.get(a), y = keys.get(b);
        return (x[0] - y[0]) || (x[1] === y[1] ? 0 : (x[1] < y[1] ? -1 : 1)) || (x[2] - y[2]);
      });
      var anchor = list.querySelector(":scope > li.more");
      rows.forEach(function (li) { list.insertBefore(li, anchor); });
    });
    status.textContent = status.dataset.msgNear || "";
  }
  var last = null;
  // Rows added from what the phone kept (app.js) take their place by distance too.
  document.addEventListener("zrt:rows", function () { if (last) { sortHere(last); } });
  navigator.geolocation.getCurrentPosition(function (pos) {
    last = pos;
    if (document.body.dataset.offline) { sortHere(pos); return; }
    var url = status.dataset.locateUrl + "?lat=" + pos.coords.latitude.toFixed(6) +
      "&lng=" + pos.coords.longitude.toFixed(6);
    var failed = function () { sortHere(pos); };
    document.body.addEventListener("htmx:sendError", failed, { once: true });
    window.htmx.ajax("GET", url, { target: "#walk", swap: "innerHTML" }).then(function () {
      document.body.removeEventListener("htmx:sendError", failed);
      status.textContent = status.dataset.msgNear || "";
    }, function () { /* no connection: htmx:sendError reorders here */ });
  }, function () {
    status.textContent = status.dataset.msgRefused || status.textContent;
  }, { enableHighAccuracy: false, maximumAge: 120000, timeout: 10000 });
})();
