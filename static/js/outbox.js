// The outbox page (待同步): what this phone keeps for the user signed in, with each item's
// state; a refused item shows the server's reasons and is fixed and sent again, or discarded
// after a confirmation.
"use strict";
(function () {
  var root = document.getElementById("outbox");
  if (!root || !window.zrtReady) { return; }
  window.zrtReady.then(outboxPage, function () {});
})();

function outboxPage(outbox) {
  var root = document.getElementById("outbox");
  var user = Number(document.body.dataset.user || 0);
  var t = root.dataset;
  var list = document.getElementById("outbox-items");
  var status = document.getElementById("outbox-status");
  var EDITABLE = { check_in: ["note"], lead: ["name", "phone", "note"] };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function when(iso) {
    var d = new Date(iso);
    if (isNaN(d)) { return ""; }
    var pad = function (n) { return String(n).padStart(2, "0"); };
    return pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function stateLabel(state) { return t["state" + state.charAt(0).toUpperCase() + state.slice(1)] || state; }

  function row(item) {
    var li = el("li", "outbox-item state-" + item.state);
    li.dataset.uuid = item.uuid;
    var main = el("span", "row-main", (item.kind === "lead" ? t.kindLead : t.kindCheckIn) + " · " + (item.label || ""));
    var badge = el("span", "badge outbox-state", stateLabel(item.state));
    main.appendChild(document.createTextNode(" "));
    main.appendChild(badge);
    li.appendChild(main);
    li.appendChild(el("span", "row-sub", t.msgMade.replace("{when}", when(item.made_at)) + (item.photo ? " · 📷" : "")));
    (item.reasons || []).forEach(function (reason) { li.appendChild(el("p", "error reason", reason)); });
    if (item.state === "refused") {
      var actions = el("div", "actions");
      var fix = el("button", "secondary resend", t.labelResend);
      fix.type = "button";
      fix.addEventListener("click", function () { edit(li, item); });
      var drop = el("button", "secondary discard", t.labelDiscard);
      drop.type = "button";
      drop.addEventListener("click", async function () {
        if (window.confirm(t.msgDiscard)) { await outbox.discard(item.uuid); draw(); }
      });
      if (item.fixable !== false) { actions.appendChild(fix); }  // a late check-in can only be discarded
      actions.appendChild(drop);
      li.appendChild(actions);
    }
    return li;
  }

  function edit(li, item) {
    var form = el("form", "outbox-edit");
    (EDITABLE[item.kind] || []).forEach(function (name) {
      if (item.kind === "lead" && item.customer && name !== "note") { return; }
      var field = el("div", "field");
      var label = el("label", "", t["label" + name.charAt(0).toUpperCase() + name.slice(1)] || name);
      var input = el(name === "note" ? "textarea" : "input");
      input.name = name; input.value = item.fields[name] || ""; input.id = "fix-" + item.uuid + "-" + name;
      label.htmlFor = input.id;
      field.appendChild(label); field.appendChild(input); form.appendChild(field);
    });
    if (item.kind === "lead") {
      var confirmed = el("label", "choice");
      var box = el("input"); box.type = "checkbox"; box.name = "confirmed"; box.value = "1";
      confirmed.appendChild(box); confirmed.appendChild(document.createTextNode(" " + t.labelConfirmed));
      form.appendChild(confirmed);
    }
    var send = el("button", "primary", t.labelSend);
    send.type = "submit";
    form.appendChild(send);
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var fields = {};
      new FormData(form).forEach(function (value, key) { fields[key] = value; });
      if (item.kind === "lead" && !fields.confirmed) { fields.confirmed = ""; }
      await outbox.resend(item.uuid, fields);
      await draw();
      sendNow();
    });
    li.appendChild(form);
  }

  async function draw() {
    var items = await outbox.list(user);
    list.textContent = "";
    items.slice().reverse().forEach(function (item) { list.appendChild(row(item)); });
    document.getElementById("outbox-empty").hidden = items.length > 0;
    document.getElementById("signed-out").hidden = !(await outbox.getMeta("signed_out")) ||
      !items.some(function (i) { return i.state === "waiting"; });
  }

  async function sendNow() {
    var result = await outbox.sync();
    status.textContent = result.status === "offline" ? t.msgOffline : (result.reason || "");
    await draw();
    if (window.zrtSend) { window.zrtSend(); }
  }

  var saved = new URLSearchParams(location.search).get("saved");
  if (saved) {
    document.getElementById("saved-notice").hidden = false;
    outbox.list(user).then(function (items) {
      var item = items.filter(function (i) { return i.uuid === saved; })[0];
      var link = document.getElementById("lead-from-visit");
      if (item && item.kind === "check_in") {
        link.href = link.getAttribute("href") + "?customer=" + item.customer + "&visit_uuid=" + item.uuid;
        link.hidden = false;
      }
    });
  }
  document.getElementById("send-now").addEventListener("click", sendNow);
  document.addEventListener("zrt:outbox", draw);
  draw();
}
