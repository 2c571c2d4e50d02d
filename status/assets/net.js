// blockpeer network view: the picture of the network (a graph of the
// nodes, coloured by the tip they are on), the chain strip with its forks,
// blocks over time per node, the event feed and, in a lab, the controls.
// app.js calls BPNet(helpers) once and then net.render(nodes) every poll.
// As in app.js, strings from the network only reach the DOM as text.
"use strict";

window.BPNet = function (h) {
  const { el, str, byId, shortHash, getJSON, fmtBlocks } = h;
  const SVG = "http://www.w3.org/2000/svg";
  const HISTORY_S = 300;          // blocks over time: the last 5 minutes
  const ORPHAN_MS = 90 * 1000;    // a block no node holds stays drawn this long
  const TIP_COLORS = ["#1f9d55", "#d9822b", "#8a3ffc", "#0b7285", "#c2255c", "#5c7cfa", "#868e96"];
  const LINE_COLORS = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#1098ad", "#f03e3e", "#fab005", "#5f3dc4", "#0ca678", "#d6336c"];

  const st = {
    lab: null,            // the lab's state (null: not a lab)
    labChecked: false,
    labSeq: 0,
    labEvents: [],        // newest last
    history: [],          // {t, blocks: {addr: n}}
    tips: {},             // addr -> last tip seen (to flash on change)
    flashUntil: {},       // addr -> Date.now() until which it glows
    names: {},            // addr -> name (remembered: a banned peer leaves the peer lists)
    chainsKey: "",
    chainsBusy: false,
    seen: new Map(),      // hash -> {height, hash, minedBy, messages, parent, last}
    nodeChains: [],       // per node index: hashes, ascending
    lastSpread: null,     // the newest "block" event of the lab
    colorOf: new Map(),   // tip hash -> colour
  };

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  // ---------- building ----------

  function build() {
    const controls = el("section", { class: "card", id: "controls-card", hidden: "" },
      el("h3", { text: "Make things happen" }),
      el("p", { class: "hint", text: "Each button runs a lab command (the same as typing it in the lab's console). They answer only on this machine." }),
      el("div", { class: "controls", id: "controls" }),
      el("p", { class: "ctl-result", id: "ctl-result", "aria-live": "polite" }));
    return el("section", { class: "panel", id: "panel-net", role: "tabpanel", hidden: "" },
      el("div", { class: "net-top" },
        el("section", { class: "card graph-card" },
          el("h3", { text: "The network" }),
          el("p", { class: "hint", id: "graph-hint", text: "Each circle is a node, with its number of blocks; lines join nodes that know each other. The colour is the chain tip it is on." }),
          el("div", { class: "graph-wrap" }, svg("svg", { id: "graph", viewBox: "0 0 600 430", role: "img", "aria-label": "network graph" })),
          el("div", { class: "legend", id: "graph-legend" }),
          el("p", { class: "spread", id: "spread", text: "" })),
        el("section", { class: "card feed-card" },
          el("h3", { text: "What happened" }),
          el("ol", { class: "feed", id: "feed" }))),
      el("section", { class: "card" },
        el("h3", { text: "The chain" }),
        el("p", { class: "hint", text: "The last blocks, oldest on the left. A fork shows as a second row; names under a block are the nodes whose top block it is. Faded blocks are no longer on any node's chain." }),
        el("div", { class: "strip-wrap" }, svg("svg", { id: "strip", viewBox: "0 0 1000 150", role: "img", "aria-label": "chain strip" }))),
      el("div", { class: "net-bottom" },
        el("section", { class: "card" },
          el("h3", { text: "Blocks over time" }),
          el("p", { class: "hint", text: "One line per node since this page opened (up to 5 minutes): a partition's halves part, and meet when it heals." }),
          svg("svg", { id: "heights", viewBox: "0 0 600 220", role: "img", "aria-label": "blocks over time" }),
          el("div", { class: "legend", id: "heights-legend" })),
        controls));
  }

  // ---------- the model ----------

  function banned(o) { return o && o.banned_until && !str(o.banned_until).startsWith("0001-"); }

  // model gathers the graph's nodes and edges from every node's status.
  function model(nodes) {
    const byAddr = new Map();
    const cond = new Map();
    if (st.lab) for (const c of st.lab.nodes || []) cond.set(str(c.addr), c);
    nodes.forEach((n, i) => {
      const addr = str(n.addr);
      if (str(n.name)) st.names[addr] = str(n.name);
      const c = cond.get(addr) || {};
      byAddr.set(addr, {
        addr, name: str(n.name) || "node " + i, index: i, lab: true, up: !n.error,
        blocks: n.error ? null : Number(n.height) || 0, tip: n.error ? "" : str(n.tip),
        miner: !!(n.mining && n.mining.enabled) || !!c.miner, group: c.group === undefined ? -1 : c.group,
        loss: c.loss || 0, delay: c.delay_ms || 0, banned: false, liar: false, by: 0,
      });
    });
    const edges = new Map();
    const liars = new Set();
    const bannedBy = new Map();
    if (st.lab && st.lab.liar) st.names[str(st.lab.liar)] = str(st.lab.liar_name) || "liar";
    for (const n of nodes) {
      if (n.error) continue;
      const me = str(n.addr);
      for (const p of n.peers || []) {
        const a = str(p.addr);
        if (str(p.name)) st.names[a] = st.names[a] || str(p.name);
        if (!byAddr.has(a)) {
          byAddr.set(a, { addr: a, name: st.names[a] || a, lab: false, up: true, blocks: Number(p.height) || 0, tip: str(p.hash), group: -1, banned: false, liar: false, by: 0 });
        } else if (!byAddr.get(a).lab && (Number(p.height) || 0) > byAddr.get(a).blocks) {
          Object.assign(byAddr.get(a), { blocks: Number(p.height) || 0, tip: str(p.hash) });
        }
        const key = me < a ? me + "|" + a : a + "|" + me;
        const e = edges.get(key) || { a: me, b: a, both: false };
        if (e.a !== me) e.both = true;
        edges.set(key, e);
      }
      for (const o of n.offenders || []) {
        if (!banned(o)) continue;
        const a = str(o.addr);
        bannedBy.set(a, (bannedBy.get(a) || 0) + 1);
      }
      for (const g of n.consensus || []) if (g.bad) for (const b of g.backers || []) liars.add(str(b));
    }
    for (const [a, count] of bannedBy) {
      if (!byAddr.has(a)) byAddr.set(a, { addr: a, name: st.names[a] || a, lab: false, up: true, blocks: null, tip: "", group: -1, by: 0 });
      Object.assign(byAddr.get(a), { banned: true, liar: true, by: count });
    }
    for (const a of liars) if (byAddr.has(a)) byAddr.get(a).liar = true;
    if (st.lab && st.lab.liar && byAddr.has(str(st.lab.liar))) byAddr.get(str(st.lab.liar)).liar = true;
    return { nodes: Array.from(byAddr.values()), edges: Array.from(edges.values()) };
  }

  // tipColors gives each tip a colour: the tallest tip with most nodes first.
  function tipColors(nodes) {
    const tips = new Map();
    for (const n of nodes) {
      if (!n.tip || n.liar || !n.up) continue;
      const t = tips.get(n.tip) || { hash: n.tip, blocks: n.blocks || 0, count: 0, names: [] };
      t.count++;
      t.names.push(n.name);
      t.blocks = Math.max(t.blocks, n.blocks || 0);
      tips.set(n.tip, t);
    }
    const list = Array.from(tips.values()).sort((a, b) => b.blocks - a.blocks || b.count - a.count || a.hash.localeCompare(b.hash));
    st.colorOf = new Map(list.map((t, i) => [t.hash, TIP_COLORS[Math.min(i, TIP_COLORS.length - 1)]]));
    return list;
  }

  // ---------- the graph ----------

  function renderGraph(nodes) {
    const m = model(nodes);
    const tips = tipColors(m.nodes);
    const g = byId("graph");
    const W = 600, H = 430, cx = W / 2, cy = H / 2 - 8;
    const count = m.nodes.length;
    const R = Math.min(W, H) / 2 - 52;
    const pos = new Map();
    m.nodes.forEach((n, i) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(count, 1);
      pos.set(n.addr, count === 1 ? { x: cx, y: cy } : { x: cx + R * Math.cos(a) * 1.25, y: cy + R * Math.sin(a) });
    });
    // Up to about 12 nodes at full size; more are drawn smaller to fit the ring.
    const scale = Math.max(0.45, Math.min(1, (2 * Math.PI * R * 1.1) / (Math.max(count, 1) * 68)));
    const now = Date.now();
    const out = [];
    for (const e of m.edges) {
      const a = pos.get(e.a), b = pos.get(e.b);
      if (!a || !b) continue;
      const na = m.nodes.find((n) => n.addr === e.a), nb = m.nodes.find((n) => n.addr === e.b);
      const cut = na && nb && na.group >= 0 && nb.group >= 0 && na.group !== nb.group;
      const slow = (na && (na.loss > 0 || na.delay > 0)) || (nb && (nb.loss > 0 || nb.delay > 0));
      out.push(svg("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: "edge" + (cut ? " cut" : "") + (slow ? " slow" : "") + (e.both ? "" : " oneway"),
        "data-a": e.a, "data-b": e.b }));
    }
    for (const n of m.nodes) {
      const p = pos.get(n.addr);
      const prev = st.tips[n.addr];
      if (n.tip && prev !== undefined && prev !== n.tip) st.flashUntil[n.addr] = now + 1600;
      st.tips[n.addr] = n.tip;
      const flash = (st.flashUntil[n.addr] || 0) > now;
      const color = !n.up ? "#adb5bd" : n.liar ? "#d64545" : st.colorOf.get(n.tip) || "#adb5bd";
      const cls = ["gnode", n.lab ? "lab" : "ext", n.up ? "up" : "down", n.liar ? "liar" : "", n.banned ? "banned" : "", flash ? "flash" : "", n.miner ? "miner" : ""].filter(Boolean).join(" ");
      const gr = svg("g", { class: cls, transform: "translate(" + p.x.toFixed(1) + "," + p.y.toFixed(1) + ") scale(" + scale.toFixed(2) + ")",
        "data-name": n.name, "data-addr": n.addr, "data-tip": n.tip, "data-blocks": n.blocks === null ? "" : n.blocks,
        "data-state": !n.up ? "down" : n.banned ? "banned" : n.liar ? "liar" : "up", tabindex: n.lab ? "0" : null });
      gr.append(svg("circle", { r: 27, class: "halo" }));
      gr.append(svg("circle", { r: 21, fill: color, class: "body" }));
      gr.append(svg("text", { class: "count", y: 5 }, !n.up ? "down" : n.blocks === null ? "?" : n.blocks));
      gr.append(svg("text", { class: "name", y: 40 }, n.name.length > 14 ? n.name.slice(0, 13) + "…" : n.name));
      let sub = "";
      if (!n.up) sub = "stopped";
      else if (n.banned) sub = "liar: banned by " + n.by;
      else if (n.liar) sub = "liar";
      else if (n.miner) sub = "miner";
      if (n.loss > 0) sub += (sub ? " · " : "") + Math.round(n.loss * 100) + "% loss";
      if (n.delay > 0) sub += (sub ? " · " : "") + Math.round(n.delay) + " ms delay";
      if (n.group >= 0) sub += (sub ? " · " : "") + "side " + "AB"[n.group];
      if (sub) gr.append(svg("text", { class: "sub" + (n.liar ? " bad" : ""), y: 53 }, sub));
      if (n.banned || (n.liar && n.up)) gr.append(svg("path", { d: "M-12,-12 L12,12 M12,-12 L-12,12", class: "cross" }));
      const title = svg("title", {}, n.name + " · " + n.addr + (n.blocks !== null ? " · " + fmtBlocks(n.blocks) : "") + (n.tip ? " · tip " + n.tip : ""));
      gr.append(title);
      if (n.lab) gr.addEventListener("click", () => { location.hash = "#node-" + n.index; });
      out.push(gr);
    }
    g.replaceChildren(...out);
    g.dataset.nodes = String(m.nodes.filter((n) => n.lab).length);
    // Legend: the tips.
    const leg = byId("graph-legend");
    const items = tips.map((t) => el("span", { class: "leg", "data-tip": t.hash },
      el("span", { class: "swatch", style: null, "data-color": st.colorOf.get(t.hash) }),
      fmtBlocks(t.blocks) + " · " + shortHash(t.hash) + " · " + t.count + (t.count === 1 ? " node" : " nodes")));
    leg.replaceChildren(...items);
    for (const s of leg.querySelectorAll(".swatch")) s.style.background = s.dataset.color;
    byId("graph-hint").textContent = tips.length > 1
      ? "Two chains or more: the nodes disagree (a fork). The next consensus rounds move everyone to the tallest valid chain."
      : "Each circle is a node, with its number of blocks; lines join nodes that know each other. One colour: everyone is on the same tip.";
  }

  // ---------- the spread of the newest block ----------

  function renderSpread() {
    const e = st.lastSpread;
    const p = byId("spread");
    if (!e) { p.textContent = ""; return; }
    p.textContent = e.text;
    p.dataset.block = str(e.block);
    p.dataset.reached = String((e.nodes || []).length);
    // Light up the nodes in the order they got it, once per block.
    if (st.spreadShown === e.block) return;
    st.spreadShown = e.block;
    (e.nodes || []).forEach((r, k) => {
      setTimeout(() => {
        for (const gnode of byId("graph").querySelectorAll("g.gnode")) {
          if (gnode.dataset.name === str(r.name)) {
            gnode.classList.remove("got");
            void gnode.getBBox();
            gnode.classList.add("got");
            gnode.dataset.got = str(e.block);
          }
        }
      }, 180 * k);
    });
  }

  // ---------- the chain strip ----------

  function maybeFetchChains(nodes) {
    const key = nodes.map((n) => str(n.tip) + n.height).join(",");
    if (key === st.chainsKey || st.chainsBusy) return;
    st.chainsBusy = true;
    getJSON("api/chains?limit=12")
      .then((data) => {
        st.chainsKey = key;
        const now = Date.now();
        st.nodeChains = [];
        for (const nc of data.nodes || []) {
          const list = Array.isArray(nc.blocks) ? nc.blocks : [];
          st.nodeChains[nc.index] = list.map((b) => str(b.hash));
          list.forEach((b, k) => {
            const hash = str(b.hash);
            const old = st.seen.get(hash);
            const parent = k > 0 ? str(list[k - 1].hash) : (old ? old.parent : "");
            st.seen.set(hash, { height: Number(b.height) || 0, hash, minedBy: str(b.minedBy), messages: (b.messages || []).map(str), parent, last: now });
          });
        }
        for (const [hash, b] of st.seen) if (now - b.last > ORPHAN_MS) st.seen.delete(hash);
        renderStrip(st.lastNodes || []);
      })
      .catch(() => {})
      .finally(() => { st.chainsBusy = false; });
  }

  function renderStrip(nodes) {
    const svgEl = byId("strip");
    const held = new Map(); // hash -> node names whose chain holds it (recent part)
    const tipOf = new Map(); // hash -> names whose tip it is
    let best = -1, bestLen = -1;
    nodes.forEach((n, i) => {
      const chainHashes = st.nodeChains[i] || [];
      if (n.error || chainHashes.length === 0) return;
      for (const hsh of chainHashes) held.set(hsh, (held.get(hsh) || 0) + 1);
      const t = chainHashes[chainHashes.length - 1];
      tipOf.set(t, (tipOf.get(t) || []).concat([str(n.name)]));
      const len = Number(n.height) || 0;
      if (len > bestLen) { best = i; bestLen = len; }
    });
    if (best < 0) { svgEl.replaceChildren(); return; }
    const main = new Set(st.nodeChains[best]);
    let maxH = 0;
    for (const b of st.seen.values()) maxH = Math.max(maxH, b.height);
    const COLS = 12, CW = 1000 / COLS;
    const minH = Math.max(0, maxH - COLS + 1);
    // Lanes: 0 for the tallest chain, then one per branch, in order met.
    const lane = new Map();
    for (const hsh of main) lane.set(hsh, 0);
    let lanes = 1;
    const others = Array.from(st.seen.values()).filter((b) => !main.has(b.hash) && b.height >= minH).sort((a, b) => a.height - b.height);
    for (const b of others) {
      if (lane.has(b.hash)) continue;
      const pl = lane.get(b.parent);
      lane.set(b.hash, pl !== undefined && pl > 0 ? pl : Math.min(lanes++, 3));
    }
    const LH = 58, top = 8;
    svgEl.setAttribute("viewBox", "0 0 1000 " + (top + Math.min(lanes, 4) * LH + 22));
    const out = [];
    const xy = (b) => ({ x: (b.height - minH) * CW + 6, y: top + lane.get(b.hash) * LH });
    const shown = Array.from(st.seen.values()).filter((b) => b.height >= minH && lane.has(b.hash));
    for (const b of shown) {
      const p = st.seen.get(b.parent);
      if (!p || p.height < minH || !lane.has(p.hash)) continue;
      const a = xy(p), c = xy(b);
      out.push(svg("path", { class: "link", d: "M" + (a.x + CW - 16) + "," + (a.y + 17) + " C" + (a.x + CW - 6) + "," + (a.y + 17) + " " + (c.x - 10) + "," + (c.y + 17) + " " + c.x + "," + (c.y + 17) }));
    }
    for (const b of shown) {
      const p = xy(b);
      const orphan = !held.has(b.hash);
      const names = tipOf.get(b.hash) || [];
      const fill = names.length ? (st.colorOf.get(b.hash) || "#868e96") : "";
      const g = svg("g", { class: "sblock" + (orphan ? " orphan" : "") + (lane.get(b.hash) > 0 ? " branch" : ""), transform: "translate(" + p.x + "," + p.y + ")",
        "data-height": b.height, "data-hash": b.hash, "data-tips": names.join(",") });
      const r = svg("rect", { width: CW - 16, height: 34, rx: 6 });
      if (fill) { r.setAttribute("stroke", fill); r.setAttribute("stroke-width", "3"); }
      g.append(r);
      g.append(svg("text", { x: 6, y: 14, class: "h" }, "#" + b.height));
      g.append(svg("text", { x: 6, y: 28, class: "by" }, (b.minedBy.length > 9 ? b.minedBy.slice(0, 8) + "…" : b.minedBy)));
      if (names.length) {
        const label = names.length > 2 ? names.slice(0, 2).join(", ") + " +" + (names.length - 2) : names.join(", ");
        const last = b.height - minH >= COLS - 2;
        g.append(svg("text", { x: last ? CW - 16 : 0, y: 47, class: "tips", "text-anchor": last ? "end" : "start" }, label));
      }
      g.append(svg("title", {}, "#" + b.height + " " + b.hash + " by " + b.minedBy + " " + JSON.stringify(b.messages) + (orphan ? " (no node holds it now)" : "")));
      out.push(g);
    }
    svgEl.replaceChildren(...out);
  }

  // ---------- blocks over time ----------

  function renderHeights(nodes) {
    const now = Date.now() / 1000;
    const sample = { t: now, blocks: {} };
    nodes.forEach((n) => { if (!n.error) sample.blocks[str(n.name)] = Number(n.height) || 0; });
    st.history.push(sample);
    while (st.history.length && now - st.history[0].t > HISTORY_S) st.history.shift();
    const names = nodes.map((n, i) => str(n.name) || "node " + i);
    let lo = Infinity, hi = -Infinity;
    for (const s of st.history) for (const v of Object.values(s.blocks)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const svgEl = byId("heights");
    if (!isFinite(lo)) { svgEl.replaceChildren(); return; }
    if (hi - lo < 4) lo = Math.max(0, hi - 4);
    const W = 600, H = 220, L = 40, B = 22, T = 8;
    const t0 = Math.min(st.history[0].t, now - 30);
    const X = (t) => L + ((t - t0) / Math.max(now - t0, 1)) * (W - L - 8);
    const Y = (v) => T + (1 - (v - lo) / Math.max(hi - lo, 1)) * (H - T - B);
    const out = [];
    for (const v of [lo, Math.round((lo + hi) / 2), hi]) {
      out.push(svg("line", { x1: L, x2: W - 8, y1: Y(v), y2: Y(v), class: "grid" }));
      out.push(svg("text", { x: L - 6, y: Y(v) + 4, class: "axis", "text-anchor": "end" }, v));
    }
    out.push(svg("text", { x: L, y: H - 4, class: "axis" }, Math.round(now - t0) + " s ago"));
    out.push(svg("text", { x: W - 8, y: H - 4, class: "axis", "text-anchor": "end" }, "now"));
    names.forEach((name, i) => {
      const pts = [];
      for (const s of st.history) if (name in s.blocks) pts.push(X(s.t).toFixed(1) + "," + Y(s.blocks[name]).toFixed(1));
      // The first lines are the widest: lines on the same heights show as bands.
      const width = 2 + 2.5 * (names.length - 1 - i);
      if (pts.length) out.push(svg("polyline", { points: pts.join(" "), class: "hline", stroke: LINE_COLORS[i % LINE_COLORS.length], "stroke-width": width, "data-name": name }));
    });
    svgEl.replaceChildren(...out);
    const leg = byId("heights-legend");
    const sig = names.join("|");
    if (leg.dataset.sig !== sig) {
      leg.dataset.sig = sig;
      leg.replaceChildren(...names.map((name, i) => {
        const s = el("span", { class: "swatch line" });
        s.style.background = LINE_COLORS[i % LINE_COLORS.length];
        return el("span", { class: "leg" }, s, name);
      }));
    }
  }

  // ---------- the feed ----------

  const KIND_LABEL = { block: "block", fork: "fork", resolved: "resolved", joined: "joined", stopped: "stopped", sync: "sync", round: "consensus",
    dropped: "dropped", ban: "ban", word: "word", action: "you", mined: "mined", tip: "tip", "peer-found": "peer", "peer-dropped": "dropped" };
  const KIND_CLASS = { fork: "warn", ban: "err", resolved: "ok", block: "ok", action: "busy", stopped: "muted", dropped: "muted", round: "warn" };

  function renderFeed(nodes) {
    let events;
    if (st.lab) {
      events = st.labEvents.slice().reverse();
    } else {
      // One node: its own events.
      events = [];
      for (const n of nodes) {
        for (const e of n.events || []) {
          if (e.kind === "peer-found") continue;
          if (e.kind === "round" && !/;|\(bad\)/.test(str(e.text))) continue; // only rounds that chose between chains
          events.push(e);
        }
      }
      events.sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
    }
    events = events.slice(0, 60);
    const ol = byId("feed");
    const sig = events.length ? str(events[0].seq) + ":" + str(events[0].text) + ":" + events.length : "empty";
    if (ol.dataset.sig === sig) return;
    ol.dataset.sig = sig;
    if (!events.length) {
      ol.replaceChildren(el("li", { class: "empty-row", text: "Nothing yet." }));
      return;
    }
    ol.replaceChildren(...events.map((e) => el("li", { "data-kind": str(e.kind) },
      el("span", { class: "ftime", text: new Date(Date.parse(e.time)).toLocaleTimeString() }),
      el("span", { class: "pill small " + (KIND_CLASS[e.kind] || "muted"), text: KIND_LABEL[e.kind] || str(e.kind) }),
      el("span", { class: "ftext", text: (e.node && !st.lab ? str(e.node) + ": " : "") + str(e.text), title: str(e.text) }))));
  }

  // ---------- the lab's controls ----------

  function buildControls(labNodes) {
    const box = byId("controls");
    const sig = labNodes.map((n) => n.name).join(",");
    if (box.dataset.sig === sig) return;
    box.dataset.sig = sig;
    const pick = (id) => {
      const s = el("select", { id: id, "aria-label": "node" });
      labNodes.forEach((n, i) => { if (i > 0 || id !== "ctl-stop-node") s.append(el("option", { value: n.name, text: n.name })); });
      if (id === "ctl-stop-node" && labNodes.length < 2) s.append(el("option", { value: labNodes[0] ? labNodes[0].name : "", text: labNodes[0] ? labNodes[0].name : "" }));
      return s;
    };
    const button = (id, text, cmd) => {
      const b = el("button", { type: "button", class: "ctl", id: id, text: text });
      b.addEventListener("click", () => run(typeof cmd === "function" ? cmd() : cmd));
      return b;
    };
    const row = (what, ...items) => el("div", { class: "ctl-row" }, el("div", { class: "ctl-items" }, ...items), el("div", { class: "ctl-what", text: what }));
    const word = el("input", { type: "text", id: "ctl-word", maxlength: "20", placeholder: "a word", "aria-label": "word" });
    const stopSel = pick("ctl-stop-node"), linkSel = pick("ctl-link-node");
    box.replaceChildren(
      row("A new node joins through the seed, syncs the chain and follows it.", button("ctl-add", "Add a node", "add")),
      row("Stop a node (it keeps its chain); start it again and it catches up.", stopSel,
        button("ctl-stop", "Stop", () => "stop " + stopSel.value), button("ctl-start", "Start", () => "start " + stopSel.value)),
      row("Split the network in two halves that cannot reach each other; the half without the seed gets a slower miner. Heal: the taller chain wins.",
        button("ctl-partition", "Partition", "partition"), button("ctl-heal", "Heal", "heal")),
      row("A peer that claims 5 blocks more than the seed, forged from 3 below its top: nodes fetch them, find them invalid and ban it.",
        button("ctl-liar", "Start a liar", "liar")),
      row("Bad links on one node: lose 30% of its datagrams, or delay each by 300 ms.", linkSel,
        button("ctl-loss", "30% loss", () => "loss " + linkSel.value + " 30"), button("ctl-delay", "300 ms delay", () => "delay " + linkSel.value + " 300ms"),
        button("ctl-clear", "Clear", "clear")),
      row("Send NEW_WORD to the seed: its next block carries the word.", word,
        button("ctl-send", "Send", () => "word " + (word.value.trim() || "hello"))));
  }

  async function run(cmd) {
    const out = byId("ctl-result");
    out.className = "ctl-result";
    out.textContent = "> " + cmd;
    try {
      const r = await fetch("api/lab/do", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ command: cmd }) });
      const body = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(body.error || "HTTP " + r.status);
      out.textContent = "> " + cmd + ": " + str(body.text);
      out.classList.add("ok");
    } catch (e) {
      out.textContent = "> " + cmd + ": " + e.message;
      out.classList.add("err");
    }
  }

  async function pollLab() {
    if (st.labChecked && !st.lab) return;
    try {
      const s = await getJSON("api/lab/state?since=" + st.labSeq);
      st.labChecked = true;
      st.lab = s;
      for (const e of s.events || []) {
        st.labEvents.push(e);
        st.labSeq = Math.max(st.labSeq, Number(e.seq) || 0);
        if (e.kind === "block") st.lastSpread = e;
      }
      if (st.labEvents.length > 200) st.labEvents.splice(0, st.labEvents.length - 200);
      byId("controls-card").hidden = false;
      buildControls(s.nodes || []);
    } catch (e) {
      if (!st.labChecked) { st.labChecked = true; st.lab = null; }
    }
  }

  return {
    build,
    async render(nodes) {
      st.lastNodes = nodes;
      await pollLab();
      renderGraph(nodes);
      renderSpread();
      renderHeights(nodes);
      renderFeed(nodes);
      renderStrip(nodes);
      maybeFetchChains(nodes);
    },
  };
};
