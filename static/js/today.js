// Today (今日): ask the phone where it is once, then reorder the walk list nearest first.
// Refused or unavailable, the list stays ordered by village and group.
"use strict";
(function () {
  var status = document.getElementById("locate-status");
  if (!status || !navigator.geolocation || /[?&]lat=/.test(window.location.search)) { return; }
  navigator.geolocation.getCurrentPosition(function (pos) {
    var url = status.dataset.locateUrl + "?lat=" + pos.coords.latitude.toFixed(6) +
      "&lng=" + pos.coords.longitude.toFixed(6);
    window.htmx.ajax("GET", url, { target: "#walk", swap: "innerHTML" }).then(function () {
      status.textContent = status.dataset.msgNear || "";
    });
  }, function () {
    status.textContent = status.dataset.msgRefused || status.textContent;
  }, { enableHighAccuracy: false, maximumAge: 120000, timeout: 10000 });
})();
