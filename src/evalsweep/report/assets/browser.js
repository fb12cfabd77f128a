// The sample browser of report.html (evalsweep.report.browser): filters, the table, the transcripts.
(function () {
  "use strict";
  var PAGE = 200;
  var data = JSON.parse(document.getElementById("sb-data").textContent);
  var rows = data.rows;
  var $ = function (id) { return document.getElementById(id); };
  var shown = PAGE, current = [], openRow = null;

  function text(v) {
    if (v === null || v === undefined) return "";
    return typeof v === "string" ? v : JSON.stringify(v, null, 1);
  }
  function scoreText(s) { return s === null ? "none" : String(Math.round(s * 1000) / 1000); }
  function meta(r, f) { return f in r.metadata ? text(r.metadata[f]) : "<unset>"; }
  rows.forEach(function (r) {
    var parts = [r.item, r.sample_id, text(r.target), text(r.output), text(r.metadata), text(r.turns),
                 r.error ? text(r.error) : ""];
    r.messages.forEach(function (m) { parts.push(text(m && m.content !== undefined ? m.content : m)); });
    r._hay = parts.join("\n").toLowerCase();
  });

  function option(sel, value, label) {
    var o = document.createElement("option");
    o.value = value; o.textContent = label; sel.appendChild(o);
  }
  function fillValues() {
    var sel = $("sb-value"), f = $("sb-field").value;
    sel.textContent = ""; option(sel, "", "all");
    if (!f) return;
    var seen = {};
    rows.forEach(function (r) { seen[meta(r, f)] = true; });
    Object.keys(seen).sort().forEach(function (v) { option(sel, v, v); });
  }
  function setup() {
    option($("sb-variant"), "", "all variants");
    data.variants.forEach(function (v) { option($("sb-variant"), v, v); });
    var scores = {};
    rows.forEach(function (r) { scores[scoreText(r.score)] = true; });
    var keys = Object.keys(scores);
    option($("sb-score"), "", "any");
    option($("sb-score"), "none", "none (errored or not scored)");
    if (keys.length <= 12) {
      keys.filter(function (k) { return k !== "none"; }).sort(function (a, b) { return a - b; })
        .forEach(function (k) { option($("sb-score"), "=" + k, "= " + k); });
    } else {
      option($("sb-score"), "<0.5", "below 0.5"); option($("sb-score"), ">=0.5", "0.5 or more");
    }
    option($("sb-field"), "", "none");
    data.fields.forEach(function (f) { option($("sb-field"), f, f); });
    if (data.group_by && data.fields.indexOf(data.group_by) >= 0) $("sb-field").value = data.group_by;
    fillValues();
  }

  function keep(r) {
    var v = $("sb-variant").value, s = $("sb-score").value, f = $("sb-field").value, g = $("sb-value").value;
    var q = $("sb-text").value.trim().toLowerCase();
    if (v && r.variant !== v) return false;
    if (s === "none" && r.score !== null) return false;
    if (s && s !== "none") {
      if (r.score === null) return false;
      if (s.charAt(0) === "=" && scoreText(r.score) !== s.slice(1)) return false;
      if (s === "<0.5" && !(r.score < 0.5)) return false;
      if (s === ">=0.5" && !(r.score >= 0.5)) return false;
    }
    if (f && g && meta(r, f) !== g) return false;
    return !q || r._hay.indexOf(q) >= 0;
  }
  function cell(tr, value, cls) {
    var td = document.createElement("td");
    td.textContent = value; if (cls) td.className = cls; tr.appendChild(td);
  }
  function draw() {
    var body = document.querySelector("#sb-table tbody");
    body.textContent = "";
    current.slice(0, shown).forEach(function (r) {
      var tr = document.createElement("tr");
      if (r === openRow) tr.className = "sb-open";
      cell(tr, r.variant); cell(tr, r.sample_id); cell(tr, r.seed === null ? "" : String(r.seed));
      cell(tr, String(r.repeat)); cell(tr, r.error ? "error" : scoreText(r.score));
      cell(tr, text(r.target)); cell(tr, text(r.output).replace(/\s+/g, " ").slice(0, 200), "sb-out");
      tr.addEventListener("click", function () { open(r); });
      body.appendChild(tr);
    });
    $("sb-count").textContent = current.length + " of " + rows.length + " sample(s)" +
      (current.length > shown ? ", the first " + shown + " shown" : "");
    $("sb-more").hidden = current.length <= shown;
  }
  function refilter() { shown = PAGE; current = rows.filter(keep); draw(); }

  function add(pane, tag, value, cls) {
    var el = document.createElement(tag);
    el.textContent = value; if (cls) el.className = cls; pane.appendChild(el); return el;
  }
  function pane(el, r) {
    el.textContent = "";
    if (!r) { add(el, "p", "No row of this variant on this item."); return; }
    add(el, "h4", r.variant);
    add(el, "p", "item " + r.item + ", seed " + r.seed + ", repeat " + r.repeat + ", job " + r.job);
    add(el, "p", "score " + scoreText(r.score) + (Object.keys(r.scores).length ? "; scores " + text(r.scores) : ""));
    if (r.target !== null) { add(el, "h4", "target"); add(el, "pre", text(r.target)); }
    add(el, "h4", "messages");
    r.messages.forEach(function (m) {
      add(el, "div", (m && m.role) || "message", "sb-role");
      add(el, "pre", text(m && m.content !== undefined ? m.content : m));
    });
    add(el, "h4", "output"); add(el, "pre", text(r.output));
    if (r.turns) {
      add(el, "h4", "turns");
      (Array.isArray(r.turns) ? r.turns : [r.turns]).forEach(function (t, i) {
        add(el, "div", "turn " + (i + 1), "sb-role"); add(el, "pre", text(t));
      });
    }
    if (r.error) { add(el, "h4", "error", "sb-err"); add(el, "pre", text(r.error), "sb-err"); }
    if (Object.keys(r.metadata).length) { add(el, "h4", "metadata"); add(el, "pre", text(r.metadata)); }
  }
  function partner(r, variant) {
    var same = rows.filter(function (x) { return x.variant === variant && x.item === r.item; });
    var exact = same.filter(function (x) { return x.seed === r.seed && x.repeat === r.repeat; });
    return exact[0] || same[0] || null;
  }
  function showOther() { pane($("sb-right"), openRow && $("sb-other").value ? partner(openRow, $("sb-other").value) : null); }
  function open(r) {
    openRow = r;
    $("sb-title").textContent = r.sample_id;
    var sel = $("sb-other"), before = sel.value;
    sel.textContent = "";
    data.variants.filter(function (v) { return v !== r.variant; }).forEach(function (v) { option(sel, v, v); });
    if (before && before !== r.variant && data.variants.indexOf(before) >= 0) sel.value = before;
    pane($("sb-left"), r); showOther();
    $("sb-detail").hidden = false; draw();
    $("sb-detail").scrollIntoView({block: "nearest"});
  }

  setup();
  ["sb-variant", "sb-score", "sb-value"].forEach(function (id) { $(id).addEventListener("change", refilter); });
  $("sb-field").addEventListener("change", function () { fillValues(); refilter(); });
  $("sb-text").addEventListener("input", refilter);
  $("sb-more").addEventListener("click", function () { shown += PAGE; draw(); });
  $("sb-other").addEventListener("change", showOther);
  $("sb-close").addEventListener("click", function () { openRow = null; $("sb-detail").hidden = true; draw(); });
  refilter();
})();
