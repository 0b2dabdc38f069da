// The check-in form (签到) and the new-customer form: a high-accuracy GPS fix, and the
// shop-front photo shrunk and stamped on the phone. Without this file both forms still post.
"use strict";
(function () {
  var gps = document.getElementById("gps");
  if (!gps) { return; }
  var form = gps.closest("form");
  var status = document.getElementById("gps-status");
  var fields = document.getElementById("position-fields");
  var target = Number(gps.dataset.targetAccuracy || 50);
  var waitMs = Number(gps.dataset.waitSeconds || 8) * 1000;
  var started = Date.now();
  var best = null;
  var watch = null;
  var pending = false;

  function text(name, value) {
    var t = gps.dataset[name] || "";
    return value === undefined ? t : t.replace("{m}", value);
  }
  function set(name, value) {
    var input = form.querySelector("[name=" + name + "]");
    if (input) { input.value = value; }
  }
  function show(message, good) {
    status.textContent = message;
    status.classList.toggle("ok", !!good);
  }
  function stop() {
    if (watch !== null) { navigator.geolocation.clearWatch(watch); watch = null; }
  }
  var distanceLine = document.getElementById("gps-distance");
  // The distance to the customer, once a fix is known (haversine; the server measures it again).
  function showDistance(c) {
    if (!distanceLine || !gps.dataset.lat) { return; }
    var rad = Math.PI / 180, lat1 = c.latitude * rad, lat2 = Number(gps.dataset.lat) * rad;
    var dLat = lat2 - lat1, dLng = (Number(gps.dataset.lng) - c.longitude) * rad;
    var h = Math.pow(Math.sin(dLat / 2), 2) + Math.cos(lat1) * Math.cos(lat2) * Math.pow(Math.sin(dLng / 2), 2);
    var metres = 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
    distanceLine.textContent = (gps.dataset.msgDistance || "{m}").replace("{m}", Math.round(metres));
    distanceLine.hidden = false;
  }
  function useFix(pos) {
    var c = pos.coords;
    if (best && best.coords.accuracy <= c.accuracy) { return; }
    best = pos;
    showDistance(c);
    set("lat", c.latitude.toFixed(7));
    set("lng", c.longitude.toFixed(7));
    set("accuracy", Math.round(c.accuracy));
    set("fix_at", new Date(pos.timestamp).toISOString());
    var good = c.accuracy <= target;
    show(text(good ? "msgGood" : "msgWeak", Math.round(c.accuracy)), good);
    if (good) { stop(); }
    if (pending && (good || Date.now() - started > waitMs)) { send(); }
  }
  function failed(err) {
    stop();
    show(text(err && err.code === 1 ? "msgDenied" : "msgNone"), false);
    if (pending) { send(); }
  }
  function send() {
    pending = false;
    stop();
    form.submit();
  }

  if (navigator.geolocation) {
    if (fields) { fields.hidden = true; }
    show(text("msgLocating"));
    watch = navigator.geolocation.watchPosition(useFix, failed,
      { enableHighAccuracy: true, maximumAge: 0, timeout: 20000 });
    setTimeout(function () {
      // After the wait, keep the best fix there is; the manager is not kept standing.
      stop();
      if (!best) { show(text("msgNone")); }
      if (pending) { send(); }
    }, waitMs);
  }

  form.addEventListener("submit", function (event) {
    set("made_at", new Date().toISOString());  // the moment of the tap, judged by the server
    var good = best && best.coords.accuracy <= target;
    if (navigator.geolocation && !good && watch !== null && Date.now() - started < waitMs) {
      event.preventDefault();
      pending = true;
      show(text("msgWaiting"));
      var button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; }
    }
  });

  // --- the shop-front photo: ≤ 200 KB, stamped with time and place --------------------
  var photo = document.getElementById("photo");
  if (!photo || !window.DataTransfer || !HTMLCanvasElement.prototype.toBlob) { return; }
  var photoStatus = document.getElementById("photo-status");
  var preview = document.getElementById("photo-preview");
  var LIMIT = 200 * 1024;

  function stamp(ctx, w, h) {
    var when = new Date();
    var pad = function (n) { return String(n).padStart(2, "0"); };
    var line = when.getFullYear() + "-" + pad(when.getMonth() + 1) + "-" + pad(when.getDate()) + " " +
      pad(when.getHours()) + ":" + pad(when.getMinutes());
    if (best) {
      line += "  " + best.coords.latitude.toFixed(5) + ", " + best.coords.longitude.toFixed(5) +
        " ±" + Math.round(best.coords.accuracy) + "m";
    }
    var size = Math.max(14, Math.round(w / 40));
    ctx.fillStyle = "rgba(0,0,0,0.55)";
    ctx.fillRect(0, h - size * 1.8, w, size * 1.8);
    ctx.fillStyle = "#fff";
    ctx.font = size + "px sans-serif";
    ctx.fillText(line, size * 0.6, h - size * 0.6);
  }
  function toBlob(canvas, quality) {
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", quality); });
  }
  async function shrink(file) {
    var bitmap = await createImageBitmap(file);
    var scale = Math.min(1, 1280 / Math.max(bitmap.width, bitmap.height));
    var blob = null;
    for (var attempt = 0; attempt < 6; attempt++) {
      var w = Math.round(bitmap.width * scale), h = Math.round(bitmap.height * scale);
      var canvas = document.createElement("canvas");
      canvas.width = w; canvas.height = h;
      var ctx = canvas.getContext("2d");
      ctx.drawImage(bitmap, 0, 0, w, h);
      stamp(ctx, w, h);
      blob = await toBlob(canvas, 0.72);
      if (blob && blob.size <= LIMIT) { break; }
      scale *= 0.75;
    }
    return blob;
  }
  photo.addEventListener("change", async function () {
    var file = photo.files && photo.files[0];
    if (!file) { return; }
    photoStatus.textContent = photo.dataset.msgWorking || "";
    try {
      var blob = await shrink(file);
      var shrunk = new File([blob], "photo.jpg", { type: "image/jpeg" });
      var list = new DataTransfer();
      list.items.add(shrunk);
      photo.files = list.files;
      preview.src = URL.createObjectURL(shrunk);
      preview.hidden = false;
      photoStatus.textContent = (photo.dataset.msgDone || "{kb}").replace("{kb}", Math.round(blob.size / 1024));
    } catch (err) {
      photoStatus.textContent = photo.dataset.msgFailed || "";
      photo.value = "";
    }
  });
})();
