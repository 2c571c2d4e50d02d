// blockpeer status page: polls /api/status every second and renders the
// network view (net.js) and one tab per node. Every string that comes from the network (names, messages,
// hashes, addresses) is untrusted: it only ever reaches the DOM through
// textContent or a property such as title, never as markup.
"use strict";

(function () {
  const POLL_MS = 1000;
  const FETCH_TIMEOUT_MS = 5000;
  const BLOCKS = 20;

  const net = window.BPNet({ el, str, byId, shortHash, getJSON, fmtBlocks });

  const state = {
    nodes: [],        // last /api/status nodes
    selected: -1,     // index of the node shown; -1: the network
    built: -1,        // how many panels are built
    blocksKey: {},    // node index -> "height:tip" the shown blocks belong to
    blocksBusy: {},   // node index -> a fetch is running
    newest: {},       // node index -> the newest block fetched
    lastGood: {},     // node index -> its last status without an error
    lastOK: 0,        // Date.now() of the last good poll
    failures: 0,
  };

  // ---------- small DOM helpers (text only, never markup) ----------

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "class") e.className = v;
        else if (k === "text") e.textContent = v;
        else if (k === "title") e.title = v;
        else if (k.startsWith("data-")) e.dataset[k.slice(5).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = v;
        else e.setAttribute(k, v);
      }
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function byId(id) { return document.getElementById(id); }

  function setText(id, text, title) {
    const e = byId(id);
    if (!e) return;
    const t = String(text);
    if (e.textContent !== t) e.textContent = t;
    if (title !== undefined && e.title !== title) e.title = title;
  }

  // setRows replaces a tbody's rows when the data they show changed.
  function setRows(tbody, sig, build, emptyText, cols) {
    if (tbody.dataset.sig === sig) return;
    tbody.dataset.sig = sig;
    const rows = build();
    if (rows.length === 0 && emptyText) {
      rows.push(el("tr", { class: "empty-row" }, el("td", { colspan: String(cols), text: emptyText })));
    }
    tbody.replaceChildren(...rows);
  }

  // ---------- formatting ----------

  function str(v) { return typeof v === "string" ? v : (v === null || v === undefined ? "" : String(v)); }

  function shortHash(h) {
    h = str(h);
    if (!h) return "—";
    return h.length > 12 ? h.slice(0, 10) + "…" : h;
  }

  // fmtBlocks says how many blocks a chain has and its top block's index,
  // words that cannot be confused: "98 blocks, top #97".
  function fmtBlocks(n) {
    n = Number(n) || 0;
    if (n === 0) return "no blocks";
    if (n === 1) return "1 block, top #0";
    return fmtNum(n) + " blocks, top #" + fmtNum(n - 1);
  }

  function chainLabel(height, hash) {
    if (!hash && !height) return "no chain";
    return fmtBlocks(height) + " · " + shortHash(hash);
  }

  function fmtNum(n) { return Number(n || 0).toLocaleString("en-US"); }

  function fmtRate(r) {
    r = Number(r) || 0;
    if (r >= 1e9) return (r / 1e9).toFixed(2) + " GH/s";
    if (r >= 1e6) return (r / 1e6).toFixed(2) + " MH/s";
    if (r >= 1e3) return (r / 1e3).toFixed(1) + " kH/s";
    return r.toFixed(0) + " H/s";
  }

  function fmtAgo(seconds) {
    if (!isFinite(seconds)) return "—";
    const s = Math.max(0, Math.round(seconds));
    if (s < 90) return s + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    return Math.round(s / 3600) + " h ago";
  }

  function fmtTime(unix) {
    const d = new Date(Number(unix) * 1000);
    if (isNaN(d.getTime())) return "—";
    return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function parseTime(t) {
    const ms = Date.parse(t);
    return isNaN(ms) ? NaN : ms;
  }

  // bestGroup is the tallest consensus group not marked bad.
  function bestGroup(st) {
    let best = null;
    for (const g of st.consensus || []) {
      if (g.bad) continue;
      if (!best || g.height > best.height || (g.height === best.height && (g.backers || []).length > (best.backers || []).length)) best = g;
    }
    return best;
  }

  // names maps peer addresses to their names, for backers lists.
  function names(st) {
    const m = new Map();
    for (const p of st.peers || []) if (str(p.name)) m.set(str(p.addr), str(p.name));
    return m;
  }

  // who lists peers (given by address) by name where known.
  function who(st, addrs) {
    const m = names(st);
    const list = (addrs || []).map(str);
    return {
      text: list.map((a) => m.get(a) || a).join(", "),
      title: list.map((a) => (m.has(a) ? m.get(a) + " (" + a + ")" : a)).join(", "),
    };
  }

  // tallest is the tallest chain any peer or good consensus group reports.
  function tallest(st) {
    let t = null;
    for (const g of st.consensus || []) {
      if (!g.bad && (!t || g.height > t.height)) t = { height: g.height, hash: str(g.hash), by: who(st, g.backers).text };
    }
    for (const p of st.peers || []) {
      const h = Number(p.height) || 0;
      if (h > 0 && (!t || h > t.height)) t = { height: h, hash: str(p.hash), by: str(p.name) || str(p.addr) };
    }
    return t;
  }

  // syncState summarises the node's sync in a word and a class.
  function syncState(st) {
    if (st.error) return { word: "unreachable", cls: "err" };
    if (st.sync) return { word: "syncing", cls: "busy" };
    if (!st.height) return { word: "no chain", cls: "warn" };
    const t = tallest(st);
    if (t && t.height > st.height) return { word: "behind", cls: "warn" };
    return { word: "in sync", cls: "ok" };
  }

  // ---------- building ----------

  function card(title, id, ...body) {
    return el("section", { class: "card", id: id }, el("h3", { text: title }), ...body);
  }

  function table(id, heads) {
    const tbody = el("tbody");
    const t = el("table", { id: id, class: "data" },
      el("thead", null, el("tr", null, ...heads.map((h) => el("th", { text: h })))), tbody);
    return [el("div", { class: "table-wrap" }, t), tbody];
  }

  function tile(label, id, sub) {
    return el("div", { class: "tile" },
      el("div", { class: "tile-label", text: label }),
      el("div", { class: "tile-value", id: id, text: "—" }),
      sub ? el("div", { class: "tile-sub", id: sub, text: "" }) : null);
  }

  function buildPanel(i) {
    const [groupsWrap] = table("groups-" + i, ["Chain", "Backers", "Peers backing it"]);
    const [peersWrap] = table("peers-" + i, ["Name", "Address", "Last seen", "Chain"]);
    const [blocksWrap] = table("blocks-" + i, ["Height", "Mined by", "Messages", "Time", "Hash"]);

    const bar = el("div", { class: "bar", id: "syncbar-" + i, role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100" },
      el("div", { class: "bar-fill", id: "syncfill-" + i }));

    return el("section", { class: "panel", id: "panel-" + i, role: "tabpanel", "data-node": String(i), hidden: "" },
      el("div", { class: "node-head" },
        el("div", null,
          el("h2", { id: "name-" + i, class: "node-name", text: "" }),
          el("div", { class: "node-addr" }, el("code", { id: "addr-" + i, text: "" }))),
        el("div", { class: "badges", id: "badges-" + i })),
      el("div", { class: "error-banner", id: "error-" + i, hidden: "" }),
      el("div", { class: "details", id: "details-" + i },
      el("div", { class: "tiles" },
        tile("Blocks", "height-" + i, "difficulty-" + i),
        tile("Tip", "tip-" + i, "tiptime-" + i),
        tile("Peers", "peercount-" + i, "peersub-" + i),
        tile("Hash rate", "hashrate-" + i, "hashes-" + i),
        tile("Queued words", "queued-" + i, "mined-" + i)),
      el("div", { class: "grid2" },
        card("Sync", "sync-" + i,
          el("div", { class: "sync-line" },
            el("span", { class: "pill", id: "syncstate-" + i, text: "—" }),
            el("span", { class: "sync-text", id: "synctext-" + i, text: "" })),
          bar,
          el("dl", { class: "kv", id: "syncdetail-" + i })),
        card("Consensus", "consensus-" + i,
          el("p", { class: "hint", id: "consensushint-" + i, text: "" }),
          groupsWrap)),
      card("Peers", "peerscard-" + i, peersWrap),
      card("Latest blocks", "blockscard-" + i,
        el("p", { class: "hint", id: "blockshint-" + i, text: "" }),
        blocksWrap),
      card("Counters", "counters-" + i, el("dl", { class: "kv counters", id: "counterlist-" + i }))));
  }

  function buildNetTab() {
    const b = el("button", { class: "tab net", id: "tab-net", role: "tab", type: "button", "aria-controls": "panel-net" },
      el("span", { class: "tab-name", text: "Network" }));
    b.addEventListener("click", () => select(-1, true));
    return b;
  }

  function buildTab(i) {
    const b = el("button", { class: "tab", id: "tab-" + i, role: "tab", type: "button", "data-node": String(i), "aria-controls": "panel-" + i },
      el("span", { class: "dot", id: "tabdot-" + i }),
      el("span", { class: "tab-name", id: "tabname-" + i, text: "node " + i }),
      el("span", { class: "tab-height", id: "tabheight-" + i, text: "" }));
    b.addEventListener("click", () => select(i, true));
    b.addEventListener("keydown", (ev) => {
      const n = state.nodes.length;
      if (ev.key === "ArrowRight") { select((i + 1) % n, true); byId("tab-" + state.selected).focus(); }
      if (ev.key === "ArrowLeft") { select((i + n - 1) % n, true); byId("tab-" + state.selected).focus(); }
    });
    return b;
  }

  function build(n) {
    const tabs = byId("tabs");
    const panels = byId("panels");
    tabs.replaceChildren(buildNetTab(), ...Array.from({ length: n }, (_, i) => buildTab(i)));
    tabs.classList.toggle("many", n > 8);
    panels.replaceChildren(net.build(), ...Array.from({ length: n }, (_, i) => buildPanel(i)));
    if (n === 0) panels.append(el("p", { class: "empty", text: "No nodes to show." }));
    state.built = n;
    state.blocksKey = {};
    state.newest = {};
    state.lastGood = {};
    if (state.selected >= n) state.selected = -1;
    select(state.selected, false);
  }

  function select(i, byUser) {
    state.selected = i;
    for (let j = -1; j < state.built; j++) {
      const on = j === i;
      const id = j < 0 ? "net" : String(j);
      byId("panel-" + id).hidden = !on;
      const t = byId("tab-" + id);
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
    }
    if (byUser) history.replaceState(null, "", i < 0 ? "#network" : "#node-" + i);
    updateTitle();
    const st = state.nodes[i];
    if (st) maybeFetchBlocks(i, st);
  }

  // ---------- rendering ----------

  function render(nodes) {
    state.nodes = nodes;
    if (nodes.length !== state.built) build(nodes.length);
    nodes.forEach((st, i) => renderNode(i, st));
    net.render(nodes);
    updateTitle();
    const cur = nodes[state.selected];
    if (cur) maybeFetchBlocks(state.selected, cur);
  }

  function updateTitle() {
    const st = state.nodes[state.selected];
    if (state.selected < 0) {
      document.title = "blockpeer · network of " + state.nodes.length + (state.nodes.length === 1 ? " node" : " nodes");
      return;
    }
    document.title = st ? "blockpeer · " + (str(st.name) || "node " + state.selected) + " · " + fmtBlocks(st.height) : "blockpeer status";
  }

  function renderNode(i, st) {
    // A node that stops answering keeps showing what it last reported,
    // dimmed, under a banner; one that never answered shows only the banner.
    const prev = state.lastGood[i];
    let known = true;
    if (!st.error) {
      state.lastGood[i] = st;
    } else if (prev) {
      st = Object.assign({}, prev, { error: st.error, name: str(st.name) || prev.name, addr: str(st.addr) || prev.addr });
    } else {
      known = false;
    }
    byId("details-" + i).hidden = !known;
    byId("details-" + i).classList.toggle("stale", !!st.error);
    const ss = syncState(st);
    const name = str(st.name) || "node " + i;
    setText("name-" + i, name);
    setText("addr-" + i, str(st.addr) || "—");
    setText("tabname-" + i, name, name);
    setText("tabheight-" + i, known ? fmtNum(st.height) : "—", known ? fmtBlocks(st.height) : "");
    byId("tabdot-" + i).className = "dot " + ss.cls;

    const banner = byId("error-" + i);
    banner.hidden = !st.error;
    if (st.error) {
      banner.textContent = "This node does not answer: " + str(st.error) +
        (prev ? ". Below is what it reported at " + new Date(parseTime(prev.time)).toLocaleTimeString() + "." : ".");
    }

    // Badges.
    const badges = [el("span", { class: "pill " + ss.cls, text: ss.word })];
    const m = st.mining || {};
    const mstate = str(m.state) || (m.active ? "mining" : "idle");
    if (m.enabled) badges.push(el("span", { class: "pill " + (m.active ? "mine" : "muted"), text: mstate === "mining" ? "mining" : "miner " + mstate }));
    setRows(byId("badges-" + i), ss.word + "|" + m.enabled + "|" + mstate, () => badges, "", 1);

    // Tiles.
    setText("height-" + i, known ? String(st.height) : "—");
    setText("difficulty-" + i, (st.height ? "top #" + fmtNum(st.height - 1) + " · " : "") + (st.difficulty ? "difficulty " + st.difficulty : ""));
    setText("tip-" + i, shortHash(st.tip), str(st.tip));
    const peers = st.peers || [];
    setText("peercount-" + i, String(peers.length));
    const same = peers.filter((p) => p.hash && p.hash === st.tip).length;
    setText("peersub-" + i, peers.length ? same + " on our tip" : "none known yet");
    setText("hashrate-" + i, m.enabled || m.hashes ? fmtRate(m.hash_rate) : "off");
    let hsub = m.enabled ? fmtNum(m.hashes) + " hashes tried" : "not mining";
    if (mstate === "resting") {
      const left = (parseTime(m.rest_until) - parseTime(st.time)) / 1000;
      hsub = "resting" + (left > 0 ? " " + left.toFixed(1) + " s" : "") + " (-block-interval) · rate over the last 10 s of mining";
    } else if (mstate === "mining") {
      hsub = "mining · average over the last 10 s";
    } else if (mstate === "no chain") {
      hsub = "waiting for a chain to mine on";
    }
    setText("hashes-" + i, hsub, fmtNum(m.hashes) + " hashes tried");
    setText("queued-" + i, String(m.queued_words || 0));
    renderNewest(i, st);
    const c = st.counters || {};
    setText("mined-" + i, fmtNum(c.Mined) + " blocks mined");

    renderSync(i, st, ss);
    renderConsensus(i, st);
    renderPeers(i, st);
    renderCounters(i, st);
  }

  function renderSync(i, st, ss) {
    const pill = byId("syncstate-" + i);
    pill.className = "pill " + ss.cls;
    setText("syncstate-" + i, ss.word);
    const fill = byId("syncfill-" + i);
    const bar = byId("syncbar-" + i);
    const sy = st.sync;
    let pct = 0, text = "", rows = [];
    if (sy) {
      pct = sy.total > 0 ? Math.min(100, (100 * sy.verified) / sy.total) : 0;
      text = str(sy.phase) + " · " + fmtNum(sy.verified) + " / " + fmtNum(sy.total) + " blocks (" + pct.toFixed(0) + "%)";
      rows = [
        ["Phase", str(sy.phase)],
        ["Target", chainLabel(sy.height, sy.hash)],
        ["Fork point", String(sy.fork_point)],
        ["Verified", fmtNum(sy.verified) + " / " + fmtNum(sy.total)],
        ["In flight", fmtNum(sy.in_flight)],
        ["Backers", who(st, sy.backers).text || "—"],
      ];
    } else if (!st.error) {
      const t = tallest(st);
      if (ss.cls === "ok") {
        pct = 100;
        text = "our chain is the tallest we know of";
      } else if (t && t.height > st.height) {
        pct = t.height > 0 ? (100 * st.height) / t.height : 0;
        text = (t.by || "a peer") + " reports " + fmtNum(t.height - st.height) + " more block" + (t.height - st.height === 1 ? "" : "s") + "; the next consensus round will fetch them";
      } else {
        text = "no chain yet: waiting for a consensus round";
      }
      rows = [
        ["Our chain", chainLabel(st.height, st.tip)],
        ["Tallest a peer reports", t ? chainLabel(t.height, t.hash) : "none yet"],
        ["Reported by", t ? t.by || "—" : "—"],
      ];
      const ls = st.last_sync;
      if (ls) {
        rows.push(["Last sync", fmtNum(ls.fetched) + " blocks from height " + fmtNum(ls.fork_point) + " in " + Number(ls.seconds).toFixed(2) + " s"]);
      }
    }
    fill.style.width = pct.toFixed(1) + "%";
    fill.className = "bar-fill " + (sy ? "busy" : ss.cls);
    bar.setAttribute("aria-valuenow", pct.toFixed(0));
    setText("synctext-" + i, text);
    const dl = byId("syncdetail-" + i);
    setRows(dl, JSON.stringify(rows), () => kvRows(rows), "", 1);
  }

  function kvRows(rows) {
    const out = [];
    for (const [k, v] of rows) {
      out.push(el("div", { class: "kv-item" }, el("dt", { text: k }), el("dd", { text: v, title: v })));
    }
    return out;
  }

  function renderConsensus(i, st) {
    const groups = (st.consensus || []).slice().sort((a, b) => b.height - a.height || (b.backers || []).length - (a.backers || []).length);
    const best = bestGroup(st);
    setText("consensushint-" + i, groups.length ? "Chains reported in the last round; the tallest good one wins, ties go to the most backers." : "");
    const tbody = byId("groups-" + i).tBodies[0];
    setRows(tbody, JSON.stringify(groups) + JSON.stringify(st.peers), () => groups.map((g) => {
      const backers = (g.backers || []).map(str);
      const names = who(st, backers);
      const label = el("td", { class: "mono", title: str(g.hash) }, chainLabel(g.height, g.hash));
      if (g.bad) label.append(" ", el("span", { class: "pill err small", text: "bad" }));
      else if (best && g === best) label.append(" ", el("span", { class: "pill ok small", text: "best" }));
      return el("tr", { class: g.bad ? "bad" : "", "data-height": String(g.height), "data-bad": g.bad ? "true" : "false" },
        label,
        el("td", { class: "num", text: String(backers.length) }),
        el("td", { class: "backers", text: names.text || "—", title: names.title }));
    }), "No consensus round finished yet.", 3);
  }

  function renderPeers(i, st) {
    const now = parseTime(st.time);
    const peers = (st.peers || []).slice().sort((a, b) => str(a.name).localeCompare(str(b.name)) || str(a.addr).localeCompare(str(b.addr)));
    const rows = peers.map((p) => ({
      name: str(p.name), addr: str(p.addr),
      ago: fmtAgo((now - parseTime(p.last_seen)) / 1000),
      height: Number(p.height) || 0, hash: str(p.hash),
      reported: p.reported_at && !str(p.reported_at).startsWith("0001-") ? fmtAgo((now - parseTime(p.reported_at)) / 1000) : "",
      relation: str(p.relation), source: str(p.source), stale: !!p.stale,
    }));
    const tbody = byId("peers-" + i).tBodies[0];
    setRows(tbody, JSON.stringify(rows) + st.tip + st.height, () => rows.map((p) => {
      const rel = p.relation;
      const chainCell = el("td", { class: "mono", title: p.hash }, p.source ? chainLabel(p.height, p.hash) : "not told yet");
      const pills = { same: ["ok", "our tip"], ahead: ["warn", "ahead"], behind: ["warn", "behind"], earlier: ["muted", "on our chain"], fork: ["err", "other fork"] };
      if (rel === "earlier" && !p.height) pills.earlier = ["muted", "earlier"];
      if (pills[rel]) chainCell.append(" ", el("span", { class: "pill small " + pills[rel][0], text: pills[rel][1],
        title: rel === "earlier" ? "a block of our chain, as of before our newest block: it has probably got that one too since" : "" }));
      if (p.stale) chainCell.append(" ", el("span", { class: "pill small err", text: "stale", title: "not heard about for more than two consensus rounds" }));
      if (p.reported) chainCell.append(" ", el("span", { class: "told", text: (p.source === "our announce" ? "we sent it our block " : "told ") + p.reported,
        title: p.source === "our announce" ? "it was on our chain and we ANNOUNCEd our next block to it" : "when this peer last told us its chain (STATS_REPLY or ANNOUNCE)" }));
      return el("tr", { "data-peer": p.name, "data-addr": p.addr },
        el("td", { class: "peer-name", text: p.name || "(no name)", title: p.name }),
        el("td", { class: "mono", text: p.addr }),
        el("td", { text: p.ago }),
        chainCell);
    }), "No peers known yet.", 4);
  }

  function renderCounters(i, st) {
    const c = st.counters || {};
    const rows = [
      ["Received", c.Received], ["Sent", c.Sent], ["Dropped", c.Dropped],
      ["GET_BLOCK sent", c.GetBlocksSent], ["GET_BLOCK served", c.GetBlocksServed], ["STATS served", c.StatsServed],
      ["Announced blocks added", c.BlocksAnnouncedAdded], ["Gossip forwarded", c.GossipForwarded],
      ["Consensus rounds", c.ConsensusRounds], ["Chains adopted", c.Adopted], ["Blocks mined", c.Mined],
    ].map(([k, v]) => [k, fmtNum(v)]);
    setRows(byId("counterlist-" + i), JSON.stringify(rows), () => kvRows(rows), "", 1);
  }

  // ---------- blocks ----------

  function maybeFetchBlocks(i, st) {
    if (st.error) return;
    const key = st.height + ":" + str(st.tip);
    if (state.blocksKey[i] === key || state.blocksBusy[i]) return;
    state.blocksBusy[i] = true;
    getJSON("api/blocks?node=" + i + "&limit=" + BLOCKS)
      .then((blocks) => {
        if (!Array.isArray(blocks)) throw new Error("unexpected answer");
        state.blocksKey[i] = key;
        renderBlocks(i, blocks, st);
      })
      .catch((e) => setText("blockshint-" + i, "Could not load blocks: " + e.message))
      .finally(() => { state.blocksBusy[i] = false; });
  }

  // renderNewest shows when the newest block we fetched was mined, by the
  // node's clock.
  function renderNewest(i, st) {
    const nb = state.newest[i];
    const now = parseTime(st.time) / 1000;
    setText("tiptime-" + i, nb ? "block " + fmtNum(nb.height) + " mined " + fmtAgo(now - Number(nb.timestamp)) : "");
  }

  function renderBlocks(i, blocks, st) {
    const list = blocks.slice().reverse(); // newest first
    const total = list.length ? Math.max(st.height, Number(list[0].height) + 1) : st.height;
    state.newest[i] = list.length ? list[0] : null;
    renderNewest(i, st);
    setText("blockshint-" + i, list.length ? "The newest " + list.length + " of " + fmtNum(total) + " blocks." : "");
    const tbody = byId("blocks-" + i).tBodies[0];
    setRows(tbody, JSON.stringify(list), () => list.map((b) => {
      const msgs = el("div", { class: "msgs" });
      for (const m of Array.isArray(b.messages) ? b.messages : []) msgs.append(el("span", { class: "chip", text: str(m), title: str(m) }));
      if (!msgs.childNodes.length) msgs.append(el("span", { class: "muted-text", text: "(none)" }));
      return el("tr", { "data-height": String(b.height) },
        el("td", { class: "num", text: String(b.height) }),
        el("td", { class: "miner", text: str(b.minedBy), title: str(b.minedBy) }),
        el("td", null, msgs),
        el("td", { class: "time", text: fmtTime(b.timestamp) }),
        el("td", { class: "mono", text: str(b.hash).length > 20 ? str(b.hash).slice(0, 20) + "…" : str(b.hash), title: str(b.hash) }));
    }), "No blocks yet.", 5);
  }

  // ---------- polling ----------

  async function getJSON(url) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
    try {
      const r = await fetch(url, { cache: "no-store", signal: ctl.signal, headers: { Accept: "application/json" } });
      let body = null;
      try { body = await r.json(); } catch (_) { /* not JSON */ }
      if (!r.ok) throw new Error((body && body.error) || "HTTP " + r.status);
      return body;
    } catch (e) {
      if (e.name === "AbortError") throw new Error("timed out");
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  function setConn(kind, text) {
    const c = byId("conn");
    if (c.dataset.state !== kind) c.dataset.state = kind;
    setText("conn-text", text);
  }

  async function poll() {
    try {
      const data = await getJSON("api/status");
      if (!data || !Array.isArray(data.nodes)) throw new Error("unexpected answer");
      render(data.nodes);
      state.lastOK = Date.now();
      state.failures = 0;
      setConn("live", "live · updated " + new Date().toLocaleTimeString());
    } catch (e) {
      state.failures++;
      const since = state.lastOK ? " · last update " + fmtAgo((Date.now() - state.lastOK) / 1000) : "";
      setConn("down", "cannot reach the node (" + e.message + ")" + since);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  function fromHash() {
    const m = /^#node-(\d+)$/.exec(location.hash);
    return m ? Number(m[1]) : -1;
  }

  window.addEventListener("hashchange", () => {
    const i = fromHash();
    if (i < state.built) select(i, false);
  });

  state.selected = fromHash();
  poll();
})();
