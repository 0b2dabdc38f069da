// The 地图 tab: territories and customers on Leaflet, cards on tap, drawing for team leads.
// No inline script (CSP): everything the page tells us comes in #map's data-config.
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || !window.L) { return; }
  var cfg = JSON.parse(el.getAttribute("data-config"));
  var T = cfg.text;
  var notice = document.getElementById("map-notice");
  var card = document.getElementById("map-card");

  // Colours: the same as the legend's swatches in app.css.
  var KIND_COLOURS = { zone: "#5b6b63", village: "#0b5d3b", street: "#6a3d9a", group: "#1f78b4", market: "#b15928" };
  var TIER_COLOURS = { g: "#c27c00", m: "#0b4f8a", p: "#6b6b6b" };
  var CLUSTER_ABOVE = 300; // points drawn one by one up to here; clustered above

  // The band comes from the server, by the bank's thresholds (设置); none: nothing to count.
  var BAND_COLOURS = { h: "#1a7f37", m: "#c98b00", l: "#c0392b" };
  function coverageColour(band) { return BAND_COLOURS[band] || "#8a918d"; }

  // WGS-84 → GCJ-02, the public formula (a port of app/geo.py), for the phone's own position
  // on a GCJ-02 base map. The map data comes already shifted from the server.
  var GCJ_A = 6378245.0, GCJ_EE = 0.00669342162296594323;
  function toGcj02(lng, lat) {
    var x = lng - 105.0, y = lat - 35.0, pi = Math.PI;
    var common = (20.0 * Math.sin(6.0 * x * pi) + 20.0 * Math.sin(2.0 * x * pi)) * 2.0 / 3.0;
    var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) + common +
      (20.0 * Math.sin(y * pi) + 40.0 * Math.sin(y / 3.0 * pi)) * 2.0 / 3.0 +
      (160.0 * Math.sin(y / 12.0 * pi) + 320 * Math.sin(y * pi / 30.0)) * 2.0 / 3.0;
    var dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) + common +
      (20.0 * Math.sin(x * pi) + 40.0 * Math.sin(x / 3.0 * pi)) * 2.0 / 3.0 +
      (150.0 * Math.sin(x / 12.0 * pi) + 300.0 * Math.sin(x / 30.0 * pi)) * 2.0 / 3.0;
    var radlat = lat / 180.0 * pi, magic = 1 - GCJ_EE * Math.sin(radlat) * Math.sin(radlat);
    var sqrtmagic = Math.sqrt(magic);
    dlat = (dlat * 180.0) / ((GCJ_A * (1 - GCJ_EE)) / (magic * sqrtmagic) * pi);
    dlng = (dlng * 180.0) / (GCJ_A / sqrtmagic * Math.cos(radlat) * pi);
    return [lng + dlng, lat + dlat];
  }

  function say(text, kind) {
    notice.textContent = text;
    notice.className = "map-notice" + (kind ? " " + kind : "");
    notice.hidden = !text;
  }

  // maxZoom on the map itself: clustering needs one even when there is no tile layer to give it.
  // One canvas for areas and points: a second canvas on top would swallow every tap meant for an area.
  // Its tolerance widens the tap around a dot: a thumb is wider than a dot.
  var map = L.map(el, { preferCanvas: true, renderer: L.canvas({ padding: 0.5, tolerance: 8 }), zoomSnap: 0.5,
    maxZoom: (cfg.tiles && cfg.tiles.max_zoom) || 19, zoomControl: false });
  L.control.zoom({ zoomInTitle: T.zoomIn, zoomOutTitle: T.zoomOut }).addTo(map);
  // No "Leaflet" link in the corner: a 15 px link is no tap target (the licence ships in static/vendor).
  map.attributionControl.setPrefix(false);
  window.zerentianMap = map; // the browser tests turn coordinates into pixels to click on
  map.setView([cfg.center[1], cfg.center[0]], 12);
  L.control.scale({ imperial: false, maxWidth: 120 }).addTo(map);

  // --- tiles: configuration, and a map that still works without them -------------------
  if (cfg.tiles) {
    var loaded = 0, failed = 0;
    var options = { attribution: cfg.tiles.attribution, maxZoom: cfg.tiles.max_zoom || 18 };
    if (cfg.tiles.subdomains) { options.subdomains = cfg.tiles.subdomains; }
    var base = L.tileLayer(cfg.tiles.url, options);
    base.on("tileload", function () {
      loaded += 1;
      el.classList.remove("tiles-down");
      if (notice.classList.contains("tiles")) { say(""); }
    });
    base.on("tileerror", function () {
      failed += 1;
      // A few failures and no success: no signal, or the provider is unreachable.
      if (failed >= 3 && loaded === 0) {
        el.classList.add("tiles-down");
        say(T.tilesDown, "tiles");
      }
    });
    base.addTo(map);
    if (cfg.tiles.labels) { L.tileLayer(cfg.tiles.labels, options).addTo(map); }
  } else {
    el.classList.add("tiles-down");
  }

  // --- territories and customers -------------------------------------------------------
  var territoryLayer = null, customerLayer = null, layersById = {}, data = null;
  var drawing = false;

  function territoryStyle(t) {
    var colour = data.by === "coverage" ? coverageColour(t.b) : KIND_COLOURS[t.k] || "#0b5d3b";
    var zone = t.k === "zone";
    return { color: colour, weight: zone ? 3 : 2, dashArray: zone ? "6 4" : null,
      fillColor: colour, fillOpacity: zone ? 0.04 : 0.18 };
  }

  function openCard(url) {
    card.hidden = false;
    card.classList.add("loading");
    window.htmx.ajax("GET", url, { target: "#map-card", swap: "innerHTML" }).then(function () {
      card.classList.remove("loading");
    });
  }

  // The payload sends positions as 1e-5 degree steps from the previous one (app/maps.py).
  function decodeRing(flat) {
    var ring = [], x = 0, y = 0;
    for (var k = 0; k < flat.length; k += 2) {
      x += flat[k];
      y += flat[k + 1];
      ring.push([x / 1e5, y / 1e5]);
    }
    return ring;
  }
  function decodeGeometry(polygons) {
    var coordinates = polygons.map(function (rings) { return rings.map(decodeRing); });
    return coordinates.length === 1 ? { type: "Polygon", coordinates: coordinates[0] }
      : { type: "MultiPolygon", coordinates: coordinates };
  }

  function showData(payload) {
    data = payload;
    document.body.setAttribute("data-map-by", data.by);
    if (territoryLayer) { map.removeLayer(territoryLayer); }
    if (customerLayer) { map.removeLayer(customerLayer); }
    layersById = {};
    var features = data.t.filter(function (t) { return t.g; }).map(function (t) {
      return { type: "Feature", properties: t, geometry: decodeGeometry(t.g) };
    });
    territoryLayer = L.geoJSON(features, {
      style: function (f) { return territoryStyle(f.properties); },
      onEachFeature: function (f, layer) {
        layersById[f.properties.i] = layer;
        layer.on("click", function () {
          if (!drawing) { openCard(cfg.territoryCard.replace("/0", "/" + f.properties.i)); }
        });
      }
    }).addTo(map);

    var c = data.c, points = [], id = 0, x = 0, y = 0;
    for (var n = 0; n < c.i.length; n += 1) {
      id += c.i[n];
      x += c.x[n];
      y += c.y[n];
      var tier = c.t.charAt(n), visited = c.v.charAt(n) === "1", colour = TIER_COLOURS[tier] || "#6b6b6b";
      var marker = L.circleMarker([y / 1e5, x / 1e5], {
        radius: 6, weight: 2.5, color: colour, pmIgnore: true, snapIgnore: true,
        fillColor: visited ? colour : "#ffffff", fillOpacity: 1
      });
      marker.customerId = id;
      points.push(marker);
    }
    if (points.length > CLUSTER_ABOVE && L.markerClusterGroup) {
      customerLayer = L.markerClusterGroup({ chunkedLoading: true, maxClusterRadius: 45,
        disableClusteringAtZoom: 17, showCoverageOnHover: false });
      customerLayer.addLayers(points);
    } else {
      customerLayer = L.featureGroup(points); // a featureGroup passes its points' clicks on
    }
    customerLayer.on("click", function (e) {
      if (!drawing && e.layer && e.layer.customerId) {
        openCard(cfg.customerCard.replace("/0", "/" + e.layer.customerId));
      }
    });
    customerLayer.addTo(map);
    el.setAttribute("data-loaded", String(points.length));
    return payload;
  }

  function fit() {
    if (territoryLayer && territoryLayer.getLayers().length) {
      map.fitBounds(territoryLayer.getBounds(), { padding: [16, 16] });
    } else if (customerLayer && customerLayer.getLayers().length) {
      map.fitBounds(L.featureGroup(customerLayer.getLayers()).getBounds(), { padding: [16, 16] });
    }
  }

  function load() {
    return fetch(cfg.dataUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error(String(r.status)); }
        return r.json();
      })
      .then(showData)
      .catch(function (e) {
        say(T.dataFailed, "error");
        console.warn(e); // eslint-disable-line no-console
      });
  }
  load().then(fit);

  document.addEventListener("click", function (e) {
    if (e.target.closest("[data-close-card]")) { card.hidden = true; card.innerHTML = ""; }
    var edit = e.target.closest("[data-edit-shape]");
    if (edit) { startEdit(Number(edit.getAttribute("data-edit-shape")), edit.getAttribute("data-name")); }
  });

  // --- own position, when the phone allows it ------------------------------------------
  var locateButton = document.getElementById("locate"), me = null;
  function located(e) {
    var ll = e.latlng;
    if (cfg.datum === "gcj02") {
      var shifted = toGcj02(ll.lng, ll.lat);
      ll = L.latLng(shifted[1], shifted[0]);
    }
    if (me) { map.removeLayer(me); }
    me = L.featureGroup([
      L.circle(ll, { radius: e.accuracy, color: "#1565c0", weight: 1, fillOpacity: 0.1, interactive: false }),
      L.circleMarker(ll, { radius: 7, color: "#ffffff", weight: 3, fillColor: "#1565c0", fillOpacity: 1 })
    ]).addTo(map);
    return ll;
  }
  if (locateButton && navigator.geolocation) {
    locateButton.hidden = false;
    map.on("locationfound", function (e) {
      var ll = located(e);
      if (locateButton.getAttribute("data-follow") === "1") { map.setView(ll, Math.max(map.getZoom(), 16)); }
    });
    map.on("locationerror", function () { say(T.locateFailed, "error"); });
    locateButton.addEventListener("click", function () {
      locateButton.setAttribute("data-follow", "1");
      map.locate({ enableHighAccuracy: true, maximumAge: 60000 });
    });
    // Already allowed: show the dot straight away, without asking and without moving the map.
    if (navigator.permissions) {
      navigator.permissions.query({ name: "geolocation" }).then(function (p) {
        if (p.state === "granted") { map.locate({ enableHighAccuracy: true, maximumAge: 60000 }); }
      }).catch(function () {});
    }
  }

  // --- drawing and editing (team leads, administrators) --------------------------------
  var panel = document.getElementById("draw-panel");
  if (!panel) { return; }
  var startButton = document.getElementById("draw-start");
  var saveButton = document.getElementById("draw-save");
  var redoButton = document.getElementById("draw-redo");
  var cancelButton = document.getElementById("draw-cancel");
  var problems = document.getElementById("draw-problems");
  var fields = document.getElementById("draw-fields");
  var title = document.getElementById("draw-title");
  // The parts being drawn or edited: a new territory may be several separate pieces of land
  // (a village with fields across the river); more than one part is sent as a MultiPolygon.
  var parts = [], highlight = null, editing = null;
  var addButton = document.getElementById("draw-add");
  startButton.hidden = false;

  function loadGeoman(then) {
    if (L.PM) { then(); return; }
    // Loaded on first use only: most visits to the map never draw, and it weighs 80 KB.
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = cfg.geoman.css;
    document.head.appendChild(css);
    var script = document.createElement("script");
    script.src = cfg.geoman.js;
    script.onload = function () {
      // Geoman hooks into maps and layers made after it loads: give ours their handlers now.
      L.PM.reInitLayer(map);
      if (territoryLayer) { L.PM.reInitLayer(territoryLayer); }
      map.pm.setLang("zh");
      map.pm.setGlobalOptions({ allowSelfIntersection: false, snappable: true, snapDistance: 12,
        pathOptions: { color: "#0b5d3b", weight: 3, fillOpacity: 0.25 } });
      then();
    };
    script.onerror = function () { say(T.saveFailed, "error"); };
    document.head.appendChild(script);
  }

  function clearDrawing() {
    parts.forEach(function (layer) { map.removeLayer(layer); });
    parts = [];
    addButton.hidden = true;
    if (highlight) { map.removeLayer(highlight); highlight = null; }
    if (map.pm) { map.pm.disableDraw(); }
    problems.innerHTML = "";
    saveButton.disabled = true;
  }

  function begin() {
    clearDrawing();
    say(T.drawHint, "hint");
    map.pm.enableDraw("Polygon", { finishOn: null, allowSelfIntersection: false });
  }

  function openPanel(mode, name) {
    drawing = true;
    card.hidden = true;
    panel.hidden = false;
    el.classList.add("drawing");
    fields.hidden = mode === "edit";
    title.textContent = mode === "edit" ? T.editTitle.replace("%(name)s", name) : T.drawTitle;
    redoButton.hidden = mode === "edit";
    startButton.hidden = true;
    map.invalidateSize();
  }

  function closePanel() {
    clearDrawing();
    if (editing) { layersById[editing] && layersById[editing].setStyle({ opacity: 1, fillOpacity: 0.18 }); }
    editing = null;
    drawing = false;
    panel.hidden = true;
    el.classList.remove("drawing");
    startButton.hidden = false;
    say("");
    map.invalidateSize();
  }

  map.on("pm:create", function (e) {
    parts.push(e.layer);
    e.layer.pm.enable({ allowSelfIntersection: false }); // vertices can be dragged to fix a refusal
    saveButton.disabled = false;
    addButton.hidden = editing !== null;
    el.setAttribute("data-parts", String(parts.length));
    say(T.editHint, "hint");
  });

  function drawnGeometry() {
    if (parts.length === 1) { return parts[0].toGeoJSON().geometry; }
    return { type: "MultiPolygon", coordinates: parts.map(function (layer) {
      return layer.toGeoJSON().geometry.coordinates; }) };
  }

  startButton.addEventListener("click", function () {
    openPanel("draw");
    loadGeoman(begin);
  });
  redoButton.addEventListener("click", function () { if (map.pm) { begin(); } });
  addButton.addEventListener("click", function () {
    if (!map.pm) { return; }
    addButton.hidden = true;
    say(T.partHint, "hint");
    map.pm.enableDraw("Polygon", { finishOn: null, allowSelfIntersection: false });
  });
  cancelButton.addEventListener("click", closePanel);

  function startEdit(id, name) {
    var original = layersById[id];
    if (!original) { return; }
    openPanel("edit", name);
    loadGeoman(function () {
      clearDrawing();
      editing = id;
      original.setStyle({ opacity: 0.2, fillOpacity: 0.02 });
      var layer = L.geoJSON(original.toGeoJSON(), { style: { color: "#0b5d3b", weight: 3, fillOpacity: 0.25 } })
        .getLayers()[0].addTo(map);
      parts = [layer];
      layer.pm.enable({ allowSelfIntersection: false });
      saveButton.disabled = false;
      map.fitBounds(layer.getBounds(), { padding: [24, 24] });
      say(T.editHint, "hint");
    });
  }

  function showProblems(reply) {
    problems.innerHTML = "";
    var list = document.createElement("ul");
    reply.messages.forEach(function (m) {
      var li = document.createElement("li");
      li.textContent = m;
      list.appendChild(li);
    });
    problems.appendChild(list);
    if (highlight) { map.removeLayer(highlight); }
    highlight = L.geoJSON(reply.highlight, {
      interactive: false,
      style: { color: "#a4161a", weight: 3, dashArray: "4 3", fillColor: "#e5383b", fillOpacity: 0.55 }
    }).addTo(map);
    el.setAttribute("data-highlighted", String(reply.highlight.features.length));
    say(T.refused, "error");
  }

  saveButton.addEventListener("click", function () {
    if (!parts.length) { return; }
    var body = { geometry: drawnGeometry() };
    var url = cfg.reshapeUrl.replace("/0/", "/" + editing + "/");
    if (!editing) {
      url = cfg.drawUrl;
      body.name = document.getElementById("draw-name").value;
      body.kind = document.getElementById("draw-kind").value;
      body.parent = document.getElementById("draw-parent").value;
    }
    saveButton.disabled = true;
    say(T.saving, "hint");
    fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": cfg.csrf, Accept: "application/json" },
      body: JSON.stringify(body) })
      .then(function (r) {
        return r.json().then(function (reply) { return { status: r.status, reply: reply }; });
      })
      .then(function (answer) {
        saveButton.disabled = false;
        if (answer.reply.ok) {
          var id = answer.reply.id;
          closePanel();
          say(answer.reply.message, "done");
          load().then(function () {
            if (layersById[id]) { map.fitBounds(layersById[id].getBounds(), { padding: [24, 24] }); }
            openCard(cfg.territoryCard.replace("/0", "/" + id));
          });
        } else if (answer.reply.messages) {
          showProblems(answer.reply);
        } else {
          say(T.saveFailed, "error");
        }
      })
      .catch(function () {
        saveButton.disabled = false;
        say(T.saveFailed, "error");
      });
  });
}());
