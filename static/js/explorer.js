/* The lineage explorer (and the impact page's graph): cytoscape.js with a layered layout, fed by
 * GET /api/v1/lineage and /api/v1/column-lineage. Large answers are asked for with `limit=` (the API keeps the
 * nearest nodes) and grown with "show more", so the page never tries to draw an unbounded graph at once. */
(function () {
  "use strict";
  var configEl = document.getElementById("explorer-config");
  var container = document.getElementById("graph");
  if (!configEl || !container || !window.cytoscape || !window.Tributary) return;
  var config = JSON.parse(configEl.textContent);
  if (window.cytoscapeDagre) cytoscape.use(cytoscapeDagre);
  // cytoscape adds a <style> for its container unless an element with this id exists; the Content-Security-Policy
  // refuses inline styles, so the rule it would add (position: relative) is in tributary.css and this marks it done.
  if (!document.getElementById("__________cytoscape_stylesheet")) {
    var mark = document.createElement("meta");
    mark.id = "__________cytoscape_stylesheet";
    document.head.appendChild(mark);
  }

  // Above this many nodes dagre's crossing minimisation costs seconds: a layered layout by distance from the
  // start (computed here in linear time) is drawn instead.
  var DAGRE_MAX = 700;
  var LIST_MAX = 400; // nodes listed for keyboard users; Find reaches the others

  var $ = function (id) { return document.getElementById(id); };
  var state = {
    nodeId: config.nodeId,
    direction: config.direction || "both",
    depth: parseInt(config.depth, 10) || 6,
    limit: parseInt(config.limit, 10) || config.step,
    group: config.group === "dag",
    view: config.view === "columns" ? "columns" : "graph",
    asOf: null,
    nodes: new Map(), // id -> API node
    edges: new Map(), // "origin\u0000destination" -> [origin, destination]
    total: 0,
    truncated: false,
    pathFrom: null,
    pathTo: null,
    matches: [],
    matchIndex: -1,
    firstDraw: true,
    loadedKey: null,
    timings: {} // performance.now() marks of the last load, for the benchmark
  };

  var STYLE = [
    { selector: "node", style: {
      "shape": "round-rectangle", "width": 190, "height": 34, "background-color": "#eef4ff",
      "border-width": 1.5, "border-color": "#1f6feb", "label": "data(label)", "font-size": 11,
      "font-family": "system-ui, sans-serif", "color": "#1d2330", "text-valign": "center", "text-halign": "center",
      "min-zoomed-font-size": 7 } },
    { selector: "node.job", style: { "shape": "rectangle", "background-color": "#ffffff", "border-color": "#5b6475" } },
    { selector: "node.dag", style: { "shape": "round-octagon", "height": 40, "border-width": 2.5 } },
    { selector: "node.state-ok", style: { "background-color": "#dafbe1", "border-color": "#1a7f37" } },
    { selector: "node.state-running", style: { "background-color": "#fff8c5", "border-color": "#9a6700" } },
    { selector: "node.state-failed", style: { "background-color": "#ffebe9", "border-color": "#cf222e", "border-width": 3 } },
    { selector: "node.pii", style: { "border-color": "#8250df", "border-width": 4, "border-style": "double" } },
    { selector: "node.restricted", style: { "background-color": "#d0d4da", "border-color": "#8c959f",
      "border-style": "dashed", "color": "#57606a", "width": 110 } },
    { selector: "node.field", style: { "width": 150, "height": 26, "font-size": 10, "background-color": "#ffffff" } },
    { selector: "node.group", style: { "shape": "round-rectangle", "background-color": "#f6f8fa", "border-color": "#d0d7de",
      "label": "data(label)", "text-valign": "top", "text-halign": "center", "font-weight": "bold", "padding": 10 } },
    { selector: "node.start", style: { "border-width": 4, "font-weight": "bold", "underlay-color": "#1f6feb",
      "underlay-padding": 4, "underlay-opacity": 0.15 } },
    { selector: "node:selected", style: { "overlay-color": "#1f6feb", "overlay-opacity": 0.18, "overlay-padding": 6 } },
    { selector: "node.match", style: { "underlay-color": "#bf8700", "underlay-padding": 7, "underlay-opacity": 0.45 } },
    { selector: "node.fresh", style: { "underlay-color": "#1a7f37", "underlay-padding": 5, "underlay-opacity": 0.3 } },
    { selector: "edge", style: { "width": 1.4, "line-color": "#9aa4b2", "target-arrow-color": "#9aa4b2",
      "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8 } },
    { selector: ".path", style: { "line-color": "#d4a72c", "target-arrow-color": "#d4a72c", "width": 4,
      "border-color": "#d4a72c", "z-index": 10 } },
    { selector: ".faded", style: { "opacity": 0.18 } },
    { selector: ".hidden", style: { "display": "none" } }
  ];

  var cy = cytoscape({
    container: container, style: STYLE, minZoom: 0.03, maxZoom: 3,
    boxSelectionEnabled: false, selectionType: "single"
  });

  // --- Reading the API ---------------------------------------------------------------------------------

  function say(text) { var el = $("graph-status"); if (el) el.textContent = text; }

  function apiUrl(nodeId, overrides) {
    var o = Object.assign({ depth: state.depth, direction: state.direction, limit: state.limit }, overrides || {});
    var params = new URLSearchParams({ nodeId: nodeId, depth: o.depth, direction: o.direction });
    if (state.view === "columns") {
      params.set("withDownstream", state.direction === "upstream" ? "false" : "true");
      params.delete("direction");
      if (state.asOf) params.set("asOf", state.asOf);
      return "/api/v1/column-lineage?" + params;
    }
    if (o.limit) params.set("limit", o.limit);
    if (state.group) params.set("group", "dag");
    if (state.asOf) params.set("asOf", state.asOf);
    return "/api/v1/lineage?" + params;
  }

  function fetchJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
      if (!r.ok) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          throw new Error(body.detail || ("the server answered " + r.status));
        });
      }
      return r.json();
    });
  }

  function merge(answer) {
    var added = [];
    (answer.graph || []).forEach(function (n) {
      if (!state.nodes.has(n.id)) added.push(n.id);
      state.nodes.set(n.id, n);
      // Column lineage (Marquez's convention) lists a node's edges with the node as origin: its inEdges point at
      // the fields it is computed from. Lineage edges are origin -> destination as data flows.
      (n.inEdges || []).forEach(function (e) {
        if (n.type === "DATASET_FIELD") addEdge(e.destination, e.origin); else addEdge(e.origin, e.destination);
      });
      (n.outEdges || []).forEach(function (e) { addEdge(e.origin, e.destination); });
    });
    return added;
  }

  function addEdge(origin, destination) { state.edges.set(origin + "\u0000" + destination, [origin, destination]); }

  function load() {
    var started = performance.now();
    container.dataset.ready = "false";
    say("Loading…");
    state.nodes.clear();
    state.edges.clear();
    state.timings = { requested: started };
    return fetchJson(apiUrl(state.nodeId)).then(function (answer) {
      state.timings.answered = performance.now();
      merge(answer);
      state.truncated = !!answer.truncated;
      state.total = answer.totalNodes || state.nodes.size;
      draw([], started);
    }).catch(function (error) {
      cy.elements().remove();
      say("Could not load the graph: " + error.message);
      markReady();
    });
  }

  function expand(id) {
    var n = state.nodes.get(id);
    if (!n || isRestricted(n) || state.view === "columns" && n.type !== "DATASET_FIELD") return;
    say("Expanding " + labelOf(n) + "…");
    container.dataset.ready = "false";
    fetchJson(apiUrl(id, { depth: 1, limit: 0 })).then(function (answer) {
      var added = merge(answer);
      draw(added, performance.now());
      say("Expanded " + labelOf(n) + ": " + added.length + " new node" + (added.length === 1 ? "" : "s") + ".");
    }).catch(function (error) { say("Could not expand: " + error.message); markReady(); });
  }

  // --- Drawing -----------------------------------------------------------------------------------------

  function isRestricted(n) { return n.id.indexOf("restricted:") === 0 || (n.data && n.data.restricted); }

  function labelOf(n) {
    var d = n.data || {};
    if (isRestricted(n)) return "restricted";
    if (n.type === "DATASET_FIELD") return d.field;
    if (n.type === "JOB") {
      var name = d.name || n.id;
      if (d.members && d.members.length) return name + " (" + d.members.length + " tasks)";
      return name;
    }
    return d.name || n.id;
  }

  // Labels are cut here rather than by the renderer's ellipsis, which measures each label character by character
  // and dominates the first paint of a large graph. The full name is in the details panel and the node list.
  function shortLabel(text, max) {
    text = String(text);
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  function hasPii(d) {
    var all = [].concat(d.classifications || [], d.tags || [], d.stewardTags || []);
    return all.some(function (t) { return String(t).toLowerCase() === "pii"; });
  }

  function runState(d) {
    var s = d.latestRun && d.latestRun.state;
    if (!s) return null;
    if (s === "FAILED" || s === "ABORTED") return "failed";
    if (s === "RUNNING" || s === "NEW") return "running";
    return "ok";
  }

  function elementsOf() {
    var els = [];
    var groups = new Map();
    state.nodes.forEach(function (n, id) {
      var d = n.data || {};
      var classes = [];
      var namespace = d.namespace || "";
      if (isRestricted(n)) classes.push("restricted");
      else if (n.type === "DATASET_FIELD") classes.push("field");
      else if (n.type === "JOB") {
        classes.push("job");
        if (d.jobType === "DAG" || (d.members && d.members.length)) classes.push("dag");
        var rs = runState(d);
        if (rs) classes.push("state-" + rs);
      } else classes.push("dataset");
      if (!isRestricted(n) && hasPii(d)) classes.push("pii");
      if (id === state.nodeId) classes.push("start");
      var data = { id: id, label: shortLabel(labelOf(n), n.type === "DATASET_FIELD" ? 24 : 28), kind: n.type, namespace: namespace, depth: n.depth || 0,
        listLabel: n.type === "DATASET_FIELD" ? d.dataset + " · " + d.field : labelOf(n), full: labelOf(n) };
      if (n.type === "DATASET_FIELD") {
        var groupId = "group:" + d.namespace + ":" + d.dataset;
        if (!groups.has(groupId)) groups.set(groupId, { data: { id: groupId, label: d.dataset, kind: "GROUP", namespace: d.namespace }, classes: "group" });
        data.parent = groupId;
      }
      els.push({ group: "nodes", data: data, classes: classes.join(" ") });
    });
    groups.forEach(function (g) { els.push({ group: "nodes", data: g.data, classes: g.classes }); });
    state.edges.forEach(function (pair, key) {
      if (state.nodes.has(pair[0]) && state.nodes.has(pair[1])) {
        els.push({ group: "edges", data: { id: "e" + key, source: pair[0], target: pair[1] } });
      }
    });
    return els;
  }

  function layeredPositions(els) {
    // Signed distance from the start (upstream to the left, downstream to the right), then each layer ordered by
    // the mean position of its neighbours in the layer before: linear time on plain arrays, no layout engine.
    var out = new Map(), into = new Map(), depth = new Map();
    els.forEach(function (el) {
      if (el.group === "nodes" && el.data.kind !== "GROUP") {
        out.set(el.data.id, []); into.set(el.data.id, []); depth.set(el.data.id, el.data.depth || 0);
      }
    });
    els.forEach(function (el) {
      if (el.group === "edges" && out.has(el.data.source) && into.has(el.data.target)) {
        out.get(el.data.source).push(el.data.target);
        into.get(el.data.target).push(el.data.source);
      }
    });
    var rank = new Map();
    var start = out.has(state.nodeId) ? state.nodeId : out.keys().next().value;
    var queue = [start];
    rank.set(start, 0);
    for (var head = 0; head < queue.length; head++) {
      var id = queue[head], r = rank.get(id);
      out.get(id).forEach(function (m) { if (!rank.has(m)) { rank.set(m, r + 1); queue.push(m); } });
      into.get(id).forEach(function (m) { if (!rank.has(m)) { rank.set(m, r - 1); queue.push(m); } });
    }
    var layers = new Map();
    out.forEach(function (_, id) {
      var r = rank.has(id) ? rank.get(id) : depth.get(id);
      if (!layers.has(r)) layers.set(r, []);
      layers.get(r).push(id);
    });
    var y = new Map(), positions = {};
    Array.from(layers.keys()).sort(function (a, b) { return a - b; }).forEach(function (r) {
      var layer = layers.get(r);
      var key = new Map();
      layer.forEach(function (id) {
        var sum = 0, count = 0;
        into.get(id).concat(out.get(id)).forEach(function (m) { if (y.has(m)) { sum += y.get(m); count++; } });
        key.set(id, count ? sum / count : 0);
      });
      layer.sort(function (a, b) { return key.get(a) - key.get(b); });
      var top = -(layer.length - 1) * 23;
      layer.forEach(function (id, i) { y.set(id, top + i * 46); positions[id] = { x: r * 240, y: top + i * 46 }; });
    });
    return positions;
  }

  function draw(fresh, started) {
    var els = elementsOf();
    var nodeCount = state.nodes.size;
    var layered = nodeCount > DAGRE_MAX && state.view !== "columns";
    if (layered) {
      var positions = layeredPositions(els);
      els.forEach(function (el) { if (el.group === "nodes" && positions[el.data.id]) el.position = positions[el.data.id]; });
    }
    cy.startBatch();
    cy.elements().remove();
    cy.add(els);
    // Large graphs: straight edges are much cheaper to draw than curves and keep their arrows; beyond the dagre
    // limit, haystack edges (no arrows: the layers already read left to right) halve the first paint.
    var curve = layered ? "haystack" : nodeCount > 300 ? "straight" : "bezier";
    cy.style().selector("edge").style("curve-style", curve).update();
    (fresh || []).forEach(function (id) { cy.getElementById(id).addClass("fresh"); });
    applyFilters();
    cy.endBatch();
    var layout;
    if (layered) {
      // Fitting would measure every label of a large graph first; start legible around the start node instead.
      layout = cy.layout({ name: "preset", fit: false });
    } else if (window.cytoscapeDagre) {
      layout = cy.layout({ name: "dagre", rankDir: "LR", nodeSep: 14, rankSep: 70, edgeSep: 6, fit: true, padding: 20,
        ranker: nodeCount > 250 ? "longest-path" : "network-simplex", animate: false });
    } else {
      layout = cy.layout({ name: "breadthfirst", directed: true, fit: true });
    }
    state.timings.layoutStart = performance.now();
    layout.one("layoutstop", function () {
      state.timings.layoutEnd = performance.now();
      if (fresh && fresh.length) setTimeout(function () { cy.nodes(".fresh").removeClass("fresh"); }, 2500);
      var start = cy.getElementById(state.nodeId);
      // A wide graph fitted to the frame is unreadable: zoom to a legible size around the start node instead,
      // keeping it near the edge the walk leaves from.
      if (state.firstDraw && start.nonempty() && (layered || cy.zoom() < 0.7)) {
        cy.zoom(0.8);
        cy.center(start);
        var shift = container.clientWidth / 2 - 120;
        if (state.direction === "downstream") cy.panBy({ x: -shift, y: 0 });
        else if (state.direction === "upstream") cy.panBy({ x: shift, y: 0 });
      }
      afterDraw(started);
    });
    layout.run();
  }

  function afterDraw(started) {
    var shown = cy.nodes().not(".group").length;
    var edges = cy.edges().length;
    var more = $("more");
    if (more) {
      if (state.truncated && state.view !== "columns") {
        var left = state.total - state.nodes.size;
        $("more-text").textContent = "Showing the " + state.nodes.size + " nearest of " + state.total + " nodes.";
        $("more-button").textContent = "Show " + Math.min(config.step, left) + " more";
        more.hidden = false;
      } else more.hidden = true;
    }
    say(shown + " node" + (shown === 1 ? "" : "s") + ", " + edges + " edge" + (edges === 1 ? "" : "s") +
      (state.asOf ? " as of " + new Date(state.asOf).toLocaleString() : "") + ".");
    highlightPath();
    var start = cy.getElementById(state.nodeId);
    var first = state.firstDraw;
    state.firstDraw = false;
    // Drawn and interactive once the next frame is painted with every node in place; the side panel's lists
    // (hundreds of buttons on a large graph) are filled right after, so they never delay the drawing.
    requestAnimationFrame(function () {
      markReady(started, true);
      setTimeout(function () {
        fillNamespaces();
        fillNodeList();
        find();
        if (first && start.nonempty()) select(start, false);
        container.dataset.listed = "true";
      }, 0);
    });
  }

  function markReady(started, listsToFill) {
    container.dataset.ready = "true";
    container.dataset.listed = listsToFill ? "false" : "true";
    container.dataset.nodes = String(cy.nodes().not(".group").length);
    state.timings.ready = performance.now();
    window.tributaryGraph = { cy: cy, readyAt: state.timings.ready, timings: state.timings,
      nodes: cy.nodes().not(".group").length, state: state };
    container.dispatchEvent(new CustomEvent("graph-ready", { bubbles: true }));
  }

  // --- Filters, search, path ---------------------------------------------------------------------------

  function applyFilters() {
    var ns = $("ctl-namespace") ? $("ctl-namespace").value : "";
    var showDatasets = $("ctl-datasets") ? $("ctl-datasets").checked : true;
    var showJobs = $("ctl-jobs") ? $("ctl-jobs").checked : true;
    cy.nodes().forEach(function (n) {
      var kind = n.data("kind");
      var hide = (kind === "DATASET" && !showDatasets) || (kind === "JOB" && !showJobs) ||
        (ns && kind !== "GROUP" && n.data("namespace") !== ns && !n.hasClass("restricted"));
      if (n.hasClass("hidden") !== !!hide) n.toggleClass("hidden", !!hide);
    });
  }

  function fillNamespaces() {
    var select = $("ctl-namespace");
    if (!select) return;
    var current = select.value;
    var names = new Set();
    cy.nodes().forEach(function (n) { if (n.data("namespace")) names.add(n.data("namespace")); });
    select.innerHTML = "";
    select.appendChild(new Option("All", ""));
    Array.from(names).sort().forEach(function (name) { select.appendChild(new Option(name, name, false, name === current)); });
  }

  function find() {
    var input = $("ctl-find");
    var status = $("find-status");
    cy.nodes(".match").removeClass("match");
    state.matches = [];
    if (!input || !input.value.trim()) { if (status) status.textContent = ""; return; }
    var q = input.value.trim().toLowerCase();
    state.matches = cy.nodes().filter(function (n) {
      return !n.hasClass("group") && (String(n.data("listLabel")).toLowerCase().indexOf(q) >= 0 || n.id().toLowerCase().indexOf(q) >= 0);
    }).toArray();
    state.matches.forEach(function (n) { n.addClass("match"); });
    state.matchIndex = -1;
    if (status) status.textContent = state.matches.length + " match" + (state.matches.length === 1 ? "" : "es") +
      (state.matches.length ? ": press Enter for the next." : ".");
  }

  function nextMatch() {
    if (!state.matches.length) return;
    state.matchIndex = (state.matchIndex + 1) % state.matches.length;
    select(state.matches[state.matchIndex], true);
  }

  function highlightPath() {
    cy.elements(".path, .faded").removeClass("path faded"); // only those: restyling every element is not free
    var out = $("path-status");
    if (!state.pathFrom || !state.pathTo) {
      if (out) out.textContent = state.pathFrom ? "Path from " + nameOf(state.pathFrom) + ": now choose “Path to here” on another node." : "";
      return;
    }
    var from = cy.getElementById(state.pathFrom), to = cy.getElementById(state.pathTo);
    var result = from.nonempty() && to.nonempty() ? cy.elements().aStar({ root: from, goal: to, directed: true }) : { found: false };
    if (!result.found && from.nonempty() && to.nonempty()) result = cy.elements().aStar({ root: to, goal: from, directed: true });
    if (!result.found) { if (out) out.textContent = "No path between " + nameOf(state.pathFrom) + " and " + nameOf(state.pathTo) + " in this graph."; return; }
    cy.elements().addClass("faded");
    result.path.removeClass("faded").addClass("path");
    if (out) {
      out.innerHTML = "";
      out.appendChild(document.createTextNode("Path of " + (result.path.nodes().length - 1) + " step(s) highlighted. "));
      var clear = document.createElement("button");
      clear.type = "button"; clear.className = "secondary small"; clear.textContent = "Clear path";
      clear.addEventListener("click", function () { state.pathFrom = state.pathTo = null; highlightPath(); });
      out.appendChild(clear);
    }
  }

  function nameOf(id) { var n = state.nodes.get(id); return n ? labelOf(n) : id; }

  // --- Selection, details and the node list ------------------------------------------------------------

  function pageUrl(n) {
    var d = n.data || {};
    if (isRestricted(n)) return null;
    var enc = function (s) { return encodeURI(s).replace(/#/g, "%23").replace(/\?/g, "%3F"); };
    if (n.type === "DATASET") return "/datasets/" + enc(d.namespace) + "/" + enc(d.name);
    if (n.type === "JOB") return "/jobs/" + enc(d.namespace) + "/" + enc(d.name);
    if (n.type === "DATASET_FIELD") return "/datasets/" + enc(d.namespace) + "/" + enc(d.dataset) + "#field-" + encodeURIComponent(d.field);
    return null;
  }

  function select(node, centre) {
    cy.nodes().unselect();
    node.select();
    if (centre) cy.animate({ center: { eles: node }, duration: 200 });
    showDetails(node.id());
    document.querySelectorAll("#node-list [aria-current]").forEach(function (b) { b.removeAttribute("aria-current"); });
    var item = document.querySelector('#node-list [data-id="' + CSS.escape(node.id()) + '"]');
    if (item) item.setAttribute("aria-current", "true");
  }

  function button(text, handler) {
    var b = document.createElement("button");
    b.type = "button"; b.className = "secondary small"; b.textContent = text;
    b.addEventListener("click", handler);
    return b;
  }

  function showDetails(id) {
    var panel = $("node-details");
    var n = state.nodes.get(id);
    if (!panel || !n) return;
    var d = n.data || {};
    panel.innerHTML = "";
    var h = document.createElement("h2");
    h.className = "small";
    h.textContent = isRestricted(n) ? "Restricted node" : labelOf(n);
    panel.appendChild(h);
    var p = document.createElement("p");
    p.className = "hint";
    if (isRestricted(n)) p.textContent = "In a namespace you may not read: only its place in the graph is shown.";
    else {
      var bits = [n.type === "DATASET_FIELD" ? "field of " + d.dataset : (n.type === "JOB" ? (d.jobType || "job") : "dataset"), d.namespace];
      if (d.latestRun) bits.push("last run " + d.latestRun.state);
      if (hasPii(d)) bits.push("PII");
      if (d.members && d.members.length) bits.push(d.members.length + " tasks collapsed");
      bits.push("distance " + (n.depth || 0));
      p.textContent = bits.filter(Boolean).join(" · ");
    }
    panel.appendChild(p);
    if (!isRestricted(n) && n.type === "JOB" && d.location) {
      // The source location comes from the job's events: a link only if it is an http(s) URL (links.js).
      var source = document.createElement("p");
      source.className = "hint source";
      source.appendChild(document.createTextNode("Source: "));
      source.appendChild(Tributary.externalLink(d.location));
      panel.appendChild(source);
    }
    var actions = document.createElement("p");
    actions.className = "node-actions";
    var url = pageUrl(n);
    if (url) {
      var a = document.createElement("a"); a.href = url; a.textContent = "Open page"; actions.appendChild(a);
      if (n.type !== "DATASET_FIELD") {
        var re = document.createElement("a");
        re.href = "/lineage/?nodeId=" + encodeURIComponent(id); re.textContent = "Centre here";
        actions.appendChild(re);
      }
    }
    if (!isRestricted(n) && config.mode === "explore") {
      actions.appendChild(button("Expand one hop", function () { expand(id); }));
      actions.appendChild(button("Path from here", function () { state.pathFrom = id; state.pathTo = null; highlightPath(); }));
      actions.appendChild(button("Path to here", function () { state.pathTo = id; if (!state.pathFrom) state.pathFrom = state.nodeId; highlightPath(); }));
    }
    panel.appendChild(actions);
  }

  function fillNodeList() {
    var list = $("node-list");
    if (!list) return;
    list.innerHTML = "";
    var nodes = cy.nodes().not(".group").sort(function (a, b) {
      return (a.data("depth") - b.data("depth")) || String(a.data("label")).localeCompare(String(b.data("label")));
    });
    var fragment = document.createDocumentFragment();
    nodes.slice(0, LIST_MAX).forEach(function (n) {
      var li = document.createElement("li");
      var b = document.createElement("button");
      b.type = "button"; b.className = "node-item " + n.classes().join(" ");
      b.dataset.id = n.id();
      b.textContent = n.data("listLabel") || n.data("label");
      var kind = document.createElement("span");
      kind.className = "hint"; kind.textContent = " " + String(n.data("kind")).toLowerCase().replace("_", " ");
      b.appendChild(kind);
      b.addEventListener("click", function () { select(n, true); });
      b.addEventListener("keydown", function (e) { if (e.key === "e" || e.key === "E") { e.preventDefault(); expand(n.id()); } });
      li.appendChild(b);
      fragment.appendChild(li);
    });
    list.appendChild(fragment);
    if (nodes.length > LIST_MAX) {
      var more = document.createElement("li");
      more.className = "hint"; more.textContent = (nodes.length - LIST_MAX) + " more: use Find in graph.";
      list.appendChild(more);
    }
  }

  cy.on("tap", "node", function (e) { if (!e.target.hasClass("group")) select(e.target, false); });
  cy.on("dbltap", "node", function (e) { if (!e.target.hasClass("group")) expand(e.target.id()); });

  // Keyboard on the canvas: arrows follow edges (right = downstream), Enter opens, E expands.
  container.addEventListener("keydown", function (e) {
    var current = cy.nodes(":selected").first();
    if (current.empty()) current = cy.getElementById(state.nodeId);
    if (current.empty()) return;
    var next = null;
    if (e.key === "ArrowRight") next = current.outgoers("node").not(".hidden").first();
    else if (e.key === "ArrowLeft") next = current.incomers("node").not(".hidden").first();
    else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      var peers = current.incomers("node").outgoers("node").union(current.outgoers("node").incomers("node")).not(".hidden")
        .sort(function (a, b) { return a.position("y") - b.position("y"); });
      var i = peers.indexOf(current);
      next = peers[(i + (e.key === "ArrowDown" ? 1 : peers.length - 1)) % Math.max(peers.length, 1)];
    } else if (e.key === "Enter") {
      var url = pageUrl(state.nodes.get(current.id()) || { id: "" });
      if (url) window.location.href = url;
      return;
    } else if (e.key === "e" || e.key === "E") { expand(current.id()); e.preventDefault(); return; }
    else return;
    e.preventDefault();
    if (next && next.length !== 0 && next.id) select(next, true);
  });

  // --- Controls ----------------------------------------------------------------------------------------

  var form = $("explorer-controls");
  function reloadFromControls() {
    var dir = form.querySelector("input[name=direction]:checked");
    state.direction = dir ? dir.value : state.direction;
    var depth = parseInt($("ctl-depth").value, 10);
    state.depth = depth >= 1 && depth <= 100 ? depth : state.depth;
    state.group = $("ctl-group").checked;
    state.view = $("ctl-view").value;
    // A number field fires "change" again when it loses focus, and Enter both changes and submits: reload only
    // when an option really changed, or a selection made meanwhile would be lost.
    var key = [state.direction, state.depth, state.group, state.view].join("|");
    if (key === state.loadedKey) return Promise.resolve();
    state.loadedKey = key;
    state.limit = config.step;
    state.pathFrom = state.pathTo = null;
    state.firstDraw = true;
    var params = new URLSearchParams({ nodeId: state.nodeId, direction: state.direction, depth: state.depth });
    if (state.group) params.set("group", "dag");
    if (state.view === "columns") params.set("view", "columns");
    history.replaceState(null, "", "/lineage/?" + params);
    return load();
  }
  if (form) {
    form.addEventListener("submit", function (e) { e.preventDefault(); reloadFromControls(); });
    form.querySelectorAll("input[name=direction], #ctl-group, #ctl-view, #ctl-depth").forEach(function (el) {
      el.addEventListener("change", reloadFromControls);
    });
    ["ctl-namespace", "ctl-datasets", "ctl-jobs"].forEach(function (id) {
      $(id).addEventListener("change", function () { applyFilters(); say(cy.nodes(":visible").not(".group").length + " nodes shown after filtering."); });
    });
    $("ctl-find").addEventListener("input", find);
    $("ctl-find").addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); nextMatch(); } });

    var slider = $("ctl-asof");
    var earliest = Date.parse(config.earliest), now = Date.parse(config.now);
    var momentOf = function (value) { return new Date(earliest + (now - earliest) * value / 100); };
    var label = function () {
      var v = parseInt(slider.value, 10);
      var text = v >= 100 ? "now" : momentOf(v).toLocaleString();
      $("ctl-asof-label").textContent = text;
      slider.setAttribute("aria-valuetext", text);
    };
    slider.addEventListener("input", label);
    slider.addEventListener("change", function () {
      var v = parseInt(slider.value, 10);
      state.asOf = v >= 100 ? null : momentOf(v).toISOString();
      label();
      load();
    });

    $("export-png").addEventListener("click", function () {
      download(cy.png({ full: true, scale: 2, bg: "#ffffff", output: "blob" }), "lineage.png");
    });
    $("export-svg").addEventListener("click", function () {
      download(new Blob([toSvg(cy)], { type: "image/svg+xml" }), "lineage.svg");
    });
  }

  var moreButton = $("more-button");
  if (moreButton) moreButton.addEventListener("click", function () { state.limit += config.step; load(); });

  // SVG of what is drawn: boxes and labels at cytoscape's positions, edges as straight lines with arrows. Written
  // here (a few lines) rather than with an SVG renderer library, whose licence would not suit Tributary's.
  function toSvg(core) {
    var esc = function (text) {
      return String(text == null ? "" : text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
        .replace(/"/g, "&quot;");
    };
    var box = core.elements(":visible").boundingBox({ includeLabels: true });
    var pad = 20, width = Math.ceil(box.w + 2 * pad), height = Math.ceil(box.h + 2 * pad);
    var dx = pad - box.x1, dy = pad - box.y1;
    var out = ['<svg xmlns="http://www.w3.org/2000/svg" width="' + width + '" height="' + height + '" viewBox="0 0 ' +
      width + " " + height + '" font-family="system-ui, sans-serif">',
      '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" ' +
      'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8a94a6"/></marker></defs>',
      '<rect width="100%" height="100%" fill="#ffffff"/>'];
    core.edges(":visible").forEach(function (edge) {
      var a = edge.sourceEndpoint(), b = edge.targetEndpoint();
      out.push('<line x1="' + (a.x + dx).toFixed(1) + '" y1="' + (a.y + dy).toFixed(1) + '" x2="' +
        (b.x + dx).toFixed(1) + '" y2="' + (b.y + dy).toFixed(1) + '" stroke="' + esc(edge.style("line-color")) +
        '" stroke-width="1.2" marker-end="url(#arrow)"/>');
    });
    core.nodes(":visible").forEach(function (node) {
      var p = node.position(), w = node.width(), h = node.height();
      var x = p.x + dx - w / 2, y = p.y + dy - h / 2;
      var round = node.style("shape") === "round-rectangle" ? ' rx="6"' : "";
      var shape = node.style("shape") === "ellipse"
        ? '<ellipse cx="' + (p.x + dx).toFixed(1) + '" cy="' + (p.y + dy).toFixed(1) + '" rx="' + (w / 2).toFixed(1) +
          '" ry="' + (h / 2).toFixed(1) + '"'
        : '<rect x="' + x.toFixed(1) + '" y="' + y.toFixed(1) + '" width="' + w.toFixed(1) + '" height="' +
          h.toFixed(1) + '"' + round;
      out.push(shape + ' fill="' + esc(node.style("background-color")) + '" stroke="' +
        esc(node.style("border-color")) + '" stroke-width="' + esc(parseFloat(node.style("border-width")) || 0) +
        '"/>');
      var label = node.style("label");
      if (label) {
        out.push('<text x="' + (p.x + dx).toFixed(1) + '" y="' + (p.y + dy).toFixed(1) + '" font-size="' +
          esc(parseFloat(node.style("font-size")) || 10) + '" fill="' + esc(node.style("color")) +
          '" text-anchor="middle" dominant-baseline="central">' + esc(label) + "</text>");
      }
    });
    out.push("</svg>");
    return out.join("\n");
  }

  function download(blob, name) {
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  state.loadedKey = [state.direction, state.depth, state.group, state.view].join("|");
  load();
})();
