// The incident page's interaction: modality selector, time window, cell evidence, coupling view.
// Plain JavaScript, no dependencies. Every string from the data is written with textContent or
// as an attribute value through the DOM; nothing is ever parsed as HTML.
(function () {
  "use strict";
  var el = document.getElementById("page-data");
  if (!el) return;
  var D = JSON.parse(el.textContent);
  var G = D.geometry;
  var nRows = D.components.length;
  var nCols = D.buckets.length;
  if (!G || nRows === 0 || nCols === 0) return;

  var state = { modality: "all", from: 0, to: nCols - 1, cell: null };
  var cellIndex = new Map();
  D.cells.forEach(function (c) { cellIndex.set(c.row * nCols + c.bucket, c); });
  var proxyOf = new Map();
  D.proxies.forEach(function (p) { proxyOf.set(p.row, p); });

  function $(id) { return document.getElementById(id); }
  function make(tag, text, cls) {
    var n = document.createElement(tag);
    if (text !== undefined && text !== null) n.textContent = String(text);
    if (cls) n.className = cls;
    return n;
  }
  function clock(i) {
    var b = D.buckets[i] || "";
    var m = /T(\d\d:\d\d(:\d\d)?)/.exec(b);
    return m ? m[1] : b;
  }
  function fmt(v, unit) {
    if (v === null || v === undefined) return "–";
    var a = Math.abs(v);
    var s = a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(2) : v.toPrecision(3);
    if (unit === "%") return (v * 100).toFixed(1) + "%";
    if (unit === "ms") return (v / 1000).toFixed(1) + " ms";
    if (unit === "x") return v.toFixed(2) + "× typical";
    if (unit === "bytes") return (v / 1048576).toFixed(1) + " MiB";
    return unit ? s + " " + unit : s;
  }
  function score(i, j) {
    var m = D.scores[state.modality] || D.scores.all;
    var v = m[i][j];
    return v < 0 ? NaN : v / 10;
  }
  var HEX = /^[0-9a-fA-F]{1,32}$/;

  // ---- heatmap overlays: the window's shade and the selected cell
  var stack = document.querySelector("#heatmaps .stack");
  var shadeL = make("div", null, "shade");
  var shadeR = make("div", null, "shade");
  var mark = make("div", null, "cell-mark");
  mark.hidden = true;
  [shadeL, shadeR, mark].forEach(function (n) { n.setAttribute("aria-hidden", "true"); stack.appendChild(n); });

  function visibleSvg() {
    var f = document.querySelector('#heatmaps .figure:not([hidden]) svg');
    return f || document.querySelector("#heatmaps svg");
  }
  function scale() {
    var svg = visibleSvg();
    if (!svg) return 1;
    var w = svg.getBoundingClientRect().width;
    return w > 0 ? w / G.width : 1;
  }
  function placeOverlays() {
    var k = scale();
    var top = G.y0 * k, h = nRows * G.cell_h * k;
    var left0 = G.x0 * k;
    var a = (G.x0 + state.from * G.cell_w) * k;
    var b = (G.x0 + (state.to + 1) * G.cell_w) * k;
    var right = (G.x0 + nCols * G.cell_w) * k;
    setBox(shadeL, left0, top, a - left0, h);
    setBox(shadeR, b, top, right - b, h);
    if (state.cell) {
      var r = state.cell[0], c = state.cell[1];
      setBox(mark, (G.x0 + c * G.cell_w) * k - 1, (G.y0 + r * G.cell_h) * k - 1,
        G.cell_w * k + 2, G.cell_h * k + 2);
      mark.hidden = false;
    } else {
      mark.hidden = true;
    }
  }
  function setBox(n, x, y, w, h) {
    n.style.left = x + "px";
    n.style.top = y + "px";
    n.style.width = Math.max(0, w) + "px";
    n.style.height = Math.max(0, h) + "px";
  }

  // ---- modality selector (built from the data's modalities by the server)
  var controls = $("controls");
  if (controls) {
    controls.hidden = false;
    controls.addEventListener("submit", function (e) { e.preventDefault(); });
    Array.prototype.forEach.call(document.querySelectorAll('input[name="modality"]'), function (r) {
      r.addEventListener("change", function () {
        if (!r.checked) return;
        state.modality = r.value;
        Array.prototype.forEach.call(document.querySelectorAll("#heatmaps .figure"), function (f) {
          f.hidden = f.getAttribute("data-modality") !== r.value;
        });
        placeOverlays();
        if (state.cell) showCell(state.cell[0], state.cell[1]);
        updateCoupling();
      });
    });
  }

  // ---- time window
  var winFrom = $("win-from"), winTo = $("win-to"), winLabel = $("win-label");
  function setWindow(from, to) {
    from = Math.max(0, Math.min(nCols - 1, from | 0));
    to = Math.max(0, Math.min(nCols - 1, to | 0));
    if (from > to) { var t = from; from = to; to = t; }
    state.from = from;
    state.to = to;
    if (winFrom) winFrom.value = String(from);
    if (winTo) winTo.value = String(to);
    if (winLabel) {
      winLabel.textContent = clock(from) + " – " + clock(to) + " UTC (" + (to - from + 1) + " buckets of " +
        D.bucket_seconds + " s)";
    }
    placeOverlays();
    updateCoupling();
  }
  if (winFrom && winTo) {
    winFrom.addEventListener("input", function () {
      var f = +winFrom.value, t = +winTo.value;
      setWindow(f, Math.max(f, t));
    });
    winTo.addEventListener("input", function () {
      var f = +winFrom.value, t = +winTo.value;
      setWindow(Math.min(f, t), t);
    });
  }

  // ---- cell evidence
  var panel = $("cell-evidence");
  function list(title, items, render) {
    var d = make("div", null, "ev-list");
    d.appendChild(make("b", title + ": "));
    items.forEach(function (it, i) {
      if (i > 0) d.appendChild(document.createTextNode(", "));
      d.appendChild(render(it));
    });
    return d;
  }
  function count(c) {
    var s = make("span");
    s.appendChild(make("span", c.value, "mono"));
    s.appendChild(document.createTextNode(" (" + c.count + ")"));
    return s;
  }
  function traceLink(id) {
    if (D.jaeger && HEX.test(id)) {
      var a = make("a", id, "mono");
      a.href = D.jaeger + "/trace/" + id;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      return a;
    }
    return make("span", id, "mono");
  }
  function showCell(r, c) {
    state.cell = [r, c];
    placeOverlays();
    panel.textContent = "";
    var h = make("h3");
    h.appendChild(make("span", D.components[r], "comp"));
    h.appendChild(document.createTextNode(" at " + clock(c) + " UTC"));
    panel.appendChild(h);
    var sc = score(r, c);
    var facts = "score " + (isNaN(sc) ? "no data" : sc.toFixed(1)) +
      (state.modality === "all" ? " (all modalities)" : " (" + state.modality + ")");
    if (D.components[r] === D.root) facts += " · root cause";
    else if (D.path.indexOf(D.components[r]) >= 0) facts += " · on the propagation path";
    if (D.baseline_col !== null && c < D.baseline_col) facts += " · in the baseline";
    panel.appendChild(make("p", facts, "muted"));
    var cell = cellIndex.get(r * nCols + c);
    if (!cell) {
      panel.appendChild(make("p", "No signal stood out here (every score below 3).", "muted"));
    } else {
      var t = make("table", null, "cell-signals");
      var head = make("tr");
      ["Signal", "Modality", "Value", "Baseline", "Score"].forEach(function (x) { head.appendChild(make("th", x)); });
      t.appendChild(make("thead")).appendChild(head);
      var body = t.appendChild(make("tbody"));
      cell.signals.forEach(function (s) {
        var tr = make("tr");
        tr.appendChild(make("td")).appendChild(make("code", s.signal));
        tr.appendChild(make("td", s.modality));
        tr.appendChild(make("td", fmt(s.value, s.unit), "num"));
        tr.appendChild(make("td", fmt(s.baseline, s.unit), "num"));
        tr.appendChild(make("td", s.score.toFixed(1), "num"));
        body.appendChild(tr);
      });
      panel.appendChild(t);
      if (cell.trace_ids && cell.trace_ids.length) panel.appendChild(list("Example traces", cell.trace_ids, traceLink));
      if (cell.log_lines && cell.log_lines.length) panel.appendChild(list("Log lines (warning or error)", cell.log_lines, count));
    }
    var p = proxyOf.get(r);
    if (p) {
      if (p.top_user_agents.length) panel.appendChild(list("Top user agents (analysed period)", p.top_user_agents, count));
      if (p.tls_versions.length) panel.appendChild(list("TLS versions", p.tls_versions, count));
    }
  }
  stack.addEventListener("click", function (e) {
    var svg = visibleSvg();
    if (!svg) return;
    var box = svg.getBoundingClientRect();
    var k = box.width / G.width;
    var x = (e.clientX - box.left) / k, y = (e.clientY - box.top) / k;
    var c = Math.floor((x - G.x0) / G.cell_w), r = Math.floor((y - G.y0) / G.cell_h);
    if (r < 0 || r >= nRows || c < 0 || c >= nCols) return;
    showCell(r, c);
  });

  // ---- coupling view
  var MAX_COUPLED = 20;
  var coupling = $("coupling"), sel = $("coupling-signal"), canvas = $("coupling-canvas");
  var seriesBySignal = new Map();
  D.series.forEach(function (s) {
    if (!seriesBySignal.has(s.signal)) seriesBySignal.set(s.signal, new Map());
    seriesBySignal.get(s.signal).set(s.row, s.values);
  });
  if (coupling && sel && canvas) {
    coupling.hidden = false;
    sel.appendChild(new Option("anomaly score (selected modality)", ""));
    Array.from(seriesBySignal.keys()).sort().forEach(function (k) {
      if (seriesBySignal.get(k).size >= 2) sel.appendChild(new Option(k, k));
    });
    sel.addEventListener("change", updateCoupling);
    canvas.addEventListener("click", pickCoupling);
  }
  var lastCoupling = null;

  function rowsFor(signal) {
    var out = [];
    for (var r = 0; r < nRows && out.length < MAX_COUPLED; r++) {
      if (!signal || seriesBySignal.get(signal).has(r)) out.push(r);
    }
    return out;
  }
  function valuesOf(signal, r) {
    var v = [];
    for (var c = state.from; c <= state.to; c++) {
      if (signal) {
        var x = seriesBySignal.get(signal).get(r)[c];
        v.push(x === null || x === undefined ? NaN : x);
      } else {
        v.push(score(r, c));
      }
    }
    return v;
  }
  function pearson(a, b) {
    var n = 0, sa = 0, sb = 0;
    for (var i = 0; i < a.length; i++) if (!isNaN(a[i]) && !isNaN(b[i])) { n++; sa += a[i]; sb += b[i]; }
    if (n < 3) return NaN;
    var ma = sa / n, mb = sb / n, sab = 0, saa = 0, sbb = 0;
    for (var j = 0; j < a.length; j++) {
      if (isNaN(a[j]) || isNaN(b[j])) continue;
      var da = a[j] - ma, db = b[j] - mb;
      sab += da * db; saa += da * da; sbb += db * db;
    }
    if (saa <= 1e-12 || sbb <= 1e-12) return NaN;
    return sab / Math.sqrt(saa * sbb);
  }
  // Blue (-1), dark (0), orange (+1): a diverging pair colour-blind readers tell apart.
  function colour(r) {
    if (isNaN(r)) return "#2a2f36";
    var lo = [0x2c, 0x7b, 0xb6], mid = [0x1a, 0x1d, 0x22], hi = [0xf4, 0xa5, 0x2a];
    var t = Math.max(-1, Math.min(1, r)), to = t < 0 ? lo : hi, k = Math.abs(t);
    var c = mid.map(function (m, i) { return Math.round(m + (to[i] - m) * k); });
    return "rgb(" + c[0] + "," + c[1] + "," + c[2] + ")";
  }
  function updateCoupling() {
    if (!coupling || !sel || !canvas) return;
    var signal = sel.value;
    var rows = rowsFor(signal);
    var vals = rows.map(function (r) { return valuesOf(signal, r); });
    var n = rows.length;
    var m = [];
    for (var i = 0; i < n; i++) {
      m.push([]);
      for (var j = 0; j < n; j++) m[i].push(i === j ? 1 : (j < i ? m[j][i] : pearson(vals[i], vals[j])));
    }
    lastCoupling = { rows: rows, m: m };
    var label = 150, cell = Math.max(8, Math.min(24, Math.floor(480 / Math.max(1, n))));
    canvas.width = label + n * cell + 4;
    canvas.height = label + n * cell + 4;
    var g = canvas.getContext("2d");
    var styles = getComputedStyle(document.documentElement);
    g.clearRect(0, 0, canvas.width, canvas.height);
    g.font = "11px " + (styles.getPropertyValue("--font") || "sans-serif");
    g.fillStyle = styles.getPropertyValue("--fg") || "#ddd";
    g.textBaseline = "middle";
    for (var a = 0; a < n; a++) {
      var name = D.components[rows[a]];
      if (name.length > 22) name = name.slice(0, 21) + "…";
      g.textAlign = "right";
      g.fillText(name, label - 4, label + a * cell + cell / 2);
      g.save();
      g.translate(label + a * cell + cell / 2, label - 4);
      g.rotate(-Math.PI / 2);
      g.textAlign = "left";
      g.fillText(name, 0, 0);
      g.restore();
      for (var b = 0; b < n; b++) {
        g.fillStyle = colour(m[a][b]);
        g.fillRect(label + b * cell, label + a * cell, cell - 1, cell - 1);
      }
      g.fillStyle = styles.getPropertyValue("--fg") || "#ddd";
    }
    // What rose and fell with the reference row: the root cause, else the first row.
    var ref = Math.max(0, rows.indexOf(D.components.indexOf(D.root)));
    var ol = $("coupling-list");
    ol.textContent = "";
    $("coupling-ref").textContent = n ? D.components[rows[ref]] : "";
    if (!n) return;
    var others = [];
    for (var o = 0; o < n; o++) if (o !== ref && !isNaN(m[ref][o])) others.push(o);
    others.sort(function (x, y) { return m[ref][y] - m[ref][x]; });
    others.slice(0, 5).forEach(function (o) {
      var li = make("li");
      li.appendChild(make("span", D.components[rows[o]], "comp"));
      li.appendChild(document.createTextNode(" r = " + m[ref][o].toFixed(2)));
      ol.appendChild(li);
    });
    if (!others.length) ol.appendChild(make("li", "nothing varied enough in this window to compare", "muted"));
  }
  function pickCoupling(e) {
    if (!lastCoupling) return;
    var n = lastCoupling.rows.length;
    var box = canvas.getBoundingClientRect();
    var k = canvas.width / box.width;
    var label = 150, cell = Math.max(8, Math.min(24, Math.floor(480 / Math.max(1, n))));
    var x = (e.clientX - box.left) * k - label, y = (e.clientY - box.top) * k - label;
    var i = Math.floor(y / cell), j = Math.floor(x / cell);
    if (i < 0 || j < 0 || i >= n || j >= n) return;
    var r = lastCoupling.m[i][j];
    $("coupling-pick").textContent = D.components[lastCoupling.rows[i]] + " and " +
      D.components[lastCoupling.rows[j]] + ": r = " + (isNaN(r) ? "n/a" : r.toFixed(2));
  }

  window.addEventListener("resize", placeOverlays);
  setWindow(0, nCols - 1);
})();
