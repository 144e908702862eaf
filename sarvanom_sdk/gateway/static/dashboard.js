// The gateway dashboard: polls dashboard/state.json (schema: sarvanom_sdk/gateway/dashboard.py)
// and draws it. No library, no build step. Every value from the server is put into the page
// as text (textContent / SVG attributes), never as HTML.
"use strict";

(function () {
  const STATE_URL = "dashboard/state.json";
  const TOKEN_KEY = "sarvanom.dashboard.token";
  const POLL_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";

  let timer = null;
  let failures = 0;

  // -- small DOM helpers ---------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = String(v);
      else node.setAttribute(k, String(v));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function $(id) { return document.getElementById(id); }

  // -- formatting ----------------------------------------------------------------------------
  function ms(value) {
    if (value === null || value === undefined) return "–";
    if (value >= 10000) return (value / 1000).toFixed(1) + " s";
    if (value >= 1000) return (value / 1000).toFixed(2) + " s";
    if (value >= 100) return Math.round(value) + " ms";
    return value.toFixed(1) + " ms";
  }
  function pct(rate) { return rate === null || rate === undefined ? "–" : (rate * 100).toFixed(1) + "%"; }
  function usd(value) {
    if (value === null || value === undefined) return "–";
    return "$" + (value < 1 ? value.toFixed(4) : value.toFixed(2));
  }
  function seconds(s) {
    if (s === null || s === undefined) return "";
    if (s < 90) return Math.ceil(s) + " s";
    return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
  }
  function clock(unix) { return new Date(unix * 1000).toLocaleTimeString([], { hour12: false }); }

  // -- token and fetching --------------------------------------------------------------------
  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  function askToken(message) {
    stop();
    setStatus("unknown", "token needed");
    $("main").hidden = true;
    $("login").hidden = false;
    const error = $("login-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("token").value = "";
    $("token").focus();
  }

  async function poll() {
    timer = null;
    const headers = { Accept: "application/json" };
    const t = token();
    if (t) headers.Authorization = "Bearer " + t;
    let response;
    try {
      response = await fetch(STATE_URL, { headers, cache: "no-store", credentials: "omit" });
    } catch (err) {
      return retry("gateway unreachable");
    }
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      return askToken(t ? "That token was refused." : "");
    }
    if (!response.ok) return retry("state.json answered HTTP " + response.status);
    let state;
    try {
      state = await response.json();
    } catch (err) {
      return retry("state.json is not JSON");
    }
    failures = 0;
    $("banner").hidden = true;
    $("login").hidden = true;
    $("main").hidden = false;
    $("forget").hidden = !t;
    render(state);
    schedule(POLL_MS);
  }

  function retry(message) {
    failures += 1;
    const banner = $("banner");
    banner.textContent = message + " — retrying…";
    banner.hidden = false;
    setStatus("unknown", "no data");
    schedule(Math.min(POLL_MS * 2 ** Math.min(failures, 4), 30000));
  }

  function schedule(delay) { stop(); timer = setTimeout(poll, delay); }
  function stop() { if (timer !== null) clearTimeout(timer); timer = null; }

  // -- rendering -----------------------------------------------------------------------------
  function setStatus(kind, text) {
    const pill = $("status");
    pill.className = "pill pill-" + kind;
    pill.dataset.status = kind;
    pill.textContent = text;
  }

  function render(state) {
    setStatus(state.status, state.status);
    $("meta").textContent =
      "updated " + clock(Date.parse(state.generated_at) / 1000) +
      " · up " + seconds(state.uptime_s) +
      " · in flight " + state.gateway.in_flight + " · waiting " + state.gateway.waiting;
    $("window-label").textContent =
      "(last " + Math.round(state.window.seconds / 60) + " min, " + state.window.bucket_seconds + " s buckets)";
    renderTiles(state);
    $("overall-chart").replaceChildren(requestsChart(state.series));
    renderProviders(state.providers, state.window.bucket_seconds);
    renderRecent(state.recent);
  }

  function tile(label, value, note, kind) {
    return el("div", { class: "tile" + (kind ? " tile-" + kind : "") },
      el("div", { class: "tile-label", text: label }),
      el("div", { class: "tile-value", text: value }),
      el("div", { class: "tile-note", text: note || "" }));
  }

  function renderTiles(state) {
    const t = state.totals;
    const answered = t.requests - t.stub - t.stale;
    const budget = state.budget;
    let budgetTile;
    if (budget.budget_usd !== null && budget.budget_usd !== undefined) {
      const left = budget.remaining_usd;
      const low = left !== null && left < budget.budget_usd * 0.1;
      budgetTile = tile("budget left", left === null ? "?" : usd(left),
        budget.error || ("of " + usd(budget.budget_usd) + " · spent " + usd(budget.spent_usd)),
        low ? "bad" : null);
    } else {
      budgetTile = tile("cost", usd(t.cost_usd), "no budget set · spent " + usd(budget.spent_usd));
    }
    $("tiles").replaceChildren(
      tile("requests", String(t.requests), "in the window"),
      tile("answered", t.requests ? pct(answered / t.requests) : "–", "by a provider or the cache",
        t.requests && answered / t.requests < 0.9 ? "bad" : null),
      tile("stub fallbacks", String(t.stub), "no provider answered", t.stub ? "warn" : null),
      tile("stale answers", String(t.stale), "expired cache served", t.stale ? "warn" : null),
      tile("cache hits", String(t.cache_hits), ""),
      tile("hedges", String(t.hedges), state.hedges_total + " since start"),
      budgetTile);
  }

  // Stacked bars: requests per bucket by how they were answered.
  function requestsChart(series) {
    const W = 900, H = 90, pad = 2;
    const max = Math.max(1, ...series.map((b) => b.requests));
    const bw = W / series.length;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H + 14}`, class: "chart", role: "img",
      "aria-label": "requests per time bucket" });
    root.append(svg("line", { x1: 0, y1: H, x2: W, y2: H, class: "axis" }));
    series.forEach((b, i) => {
      const parts = [
        ["stub", b.stub], ["stale", b.stale], ["cached", b.cache_hits],
        ["ok", b.requests - b.stub - b.stale - b.cache_hits],
      ];
      let y = H;
      for (const [kind, n] of parts) {
        if (n <= 0) continue;
        const h = (n / max) * (H - 4);
        y -= h;
        root.append(svg("rect", { x: i * bw + pad, y, width: Math.max(bw - 2 * pad, 1), height: h,
          class: "bar bar-" + kind }, svg("title", {}, document.createTextNode(
            clock(b.t) + ": " + n + " " + kind))));
      }
    });
    root.append(svgText(4, 10, "max " + max, "chart-label"));
    root.append(svgText(0, H + 12, clock(series[0].t), "chart-label"));
    root.append(svgText(W, H + 12, "now", "chart-label end"));
    return root;
  }

  function svgText(x, y, text, cls) {
    const node = svg("text", { x, y, class: cls });
    node.textContent = text;
    return node;
  }

  // p50 and p95 latency lines over the window (log scale), failures as red ticks.
  function latencyChart(series, bucketSeconds) {
    const W = 300, H = 70, L = 44, R = 6;
    const values = series.flatMap((b) => [b.p50_ms, b.p95_ms]).filter((v) => v !== null);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H + 12}`, class: "chart", role: "img",
      "aria-label": "latency p50 and p95" });
    root.append(svg("line", { x1: L, y1: H, x2: W - R, y2: H, class: "axis" }));
    const step = (W - L - R) / Math.max(series.length - 1, 1);
    const x = (i) => L + i * step;
    series.forEach((b, i) => {
      if (b.failed > 0) root.append(svg("rect", { x: x(i) - 2, y: H - 6, width: 4, height: 6,
        class: "tick-failed" }));
    });
    if (!values.length) {
      root.append(svgText((W + L) / 2, H / 2, "no calls in the window", "chart-label middle"));
      return root;
    }
    const lo = Math.log(Math.max(Math.min(...values), 0.5));
    const hi = Math.max(Math.log(Math.max(...values)), lo + Math.log(4));
    const y = (v) => H - 6 - ((Math.log(Math.max(v, 0.5)) - lo) / (hi - lo)) * (H - 14);
    for (const [key, cls] of [["p95_ms", "line-p95"], ["p50_ms", "line-p50"]]) {
      let d = "";
      let pen = false;
      series.forEach((b, i) => {
        if (b[key] === null) { pen = false; return; }
        d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(b[key]).toFixed(1) + " ";
        pen = true;
      });
      root.append(svg("path", { d, class: "line " + cls }));
      series.forEach((b, i) => {
        if (b[key] !== null) root.append(svg("circle", { cx: x(i), cy: y(b[key]), r: 1.8,
          class: "dot " + cls }, svg("title", {}, document.createTextNode(
            clock(b.t) + " " + key.replace("_ms", "") + " " + ms(b[key])))));
      });
    }
    root.append(svg("line", { x1: L, y1: y(Math.exp(hi)), x2: W - R, y2: y(Math.exp(hi)), class: "grid" }));
    root.append(svgText(L - 4, y(Math.exp(hi)) + 3, ms(Math.exp(hi)), "chart-label end"));
    root.append(svgText(L - 4, y(Math.exp(lo)) + 3, ms(Math.exp(lo)), "chart-label end"));
    root.append(svgText(L, H + 10, "−" + Math.round(series.length * bucketSeconds / 60) + " min", "chart-label"));
    root.append(svgText(W - R, H + 10, "now", "chart-label end"));
    return root;
  }

  function breakerBadge(entity, short) {
    const state = entity.circuit_state;
    let text = (short ? "" : "breaker ") + state;
    if (state === "open" && entity.reopens_in_s !== null) {
      text += (short ? " · " : " · trial in ") + seconds(entity.reopens_in_s);
    }
    return el("span", { class: "badge badge-" + state, "data-breaker": state, text });
  }

  function stat(label, value) {
    return el("div", { class: "stat" }, el("span", { class: "stat-label", text: label }),
      el("span", { class: "stat-value", text: value }));
  }

  function renderProviders(providers, bucketSeconds) {
    const cards = providers.map((p) => {
      const w = p.window || {};
      const endpoints = el("div", { class: "endpoints" }, ...p.endpoints.map((e) => {
        const w = e.window;
        const latency = w && w.p95_ms !== null ? "p95 " + ms(w.p95_ms) : "latency ~" + ms(e.latency_ms);
        return el("div", { class: "endpoint", "data-endpoint": e.url },
          el("div", { class: "endpoint-head" },
            el("span", { class: "mono url", title: e.url, text: e.url }),
            breakerBadge(e, true)),
          el("div", { class: "endpoint-stats muted", text: [
            w && w.attempts ? w.attempts + (w.attempts === 1 ? " call, " : " calls, ") +
              pct(w.success_rate) + " ok" : "no calls",
            latency, e.in_flight + " in flight"].join(" · ") }));
      }));
      return el("article", { class: "card card-" + p.circuit_state, "data-provider": p.name },
        el("div", { class: "card-head" },
          el("h3", { text: p.name }),
          p.status === "circuit_open" ? null :
            el("span", { class: "status status-" + p.status, text: p.status }),
          el("span", { class: "spacer" }),
          breakerBadge(p)),
        el("div", { class: "stats" },
          stat("success", pct(w.success_rate)),
          stat("calls", String(w.attempts ?? 0)),
          stat("failed", String(w.failed ?? 0)),
          stat("skipped", String(w.skipped ?? 0)),
          stat("p50", ms(w.p50_ms)),
          stat("p95", ms(w.p95_ms))),
        el("div", { class: "chart-small" }, latencyChart(p.series, bucketSeconds)),
        el("div", { class: "legend small" },
          el("span", { class: "key key-p50" }), "p50",
          el("span", { class: "key key-p95" }), "p95",
          el("span", { class: "key key-failed" }), "failures",
          el("span", { class: "muted", text: " · since start " + p.success_count + " ok / " +
            p.error_count + " failed" })),
        endpoints,
        p.last_failure_reason ? el("p", { class: "reason", title: p.last_failure_reason },
          el("span", { class: "muted", text: "last failure: " }), p.last_failure_reason) : null);
    });
    if (!cards.length) {
      cards.push(el("p", { class: "muted", text: "No provider is configured: only the stub answers." }));
    }
    $("providers").replaceChildren(...cards);
  }

  function renderRecent(recent) {
    const rows = recent.map((r) => el("tr", { class: "outcome-" + r.outcome },
      el("td", { class: "mono", text: clock(r.time) }),
      el("td", { class: "mono id", title: r.trace_id, text: r.trace_id.slice(0, 12) }),
      el("td", { text: r.provider }),
      el("td", {}, el("span", { class: "badge badge-" + r.outcome, text: r.outcome })),
      el("td", { class: "num", text: ms(r.latency_ms) }),
      el("td", { class: "num", text: r.cost_usd ? usd(r.cost_usd) : "" }),
      el("td", {}, el("div", { class: "trail" }, ...(r.trail.length ? [] : [
        el("span", { class: "muted", text: r.outcome === "cached" ? "from the cache" : "—" })]),
        ...r.trail.map((a) => el("span", {
        class: "step step-" + a.outcome,
        title: [a.provider, a.outcome, a.status ? "HTTP " + a.status : "", ms(a.latency_ms), a.reason]
          .filter(Boolean).join(" · "),
      }, a.provider + " " + a.outcome + (a.status ? " " + a.status : "") +
         (a.reason ? " — " + a.reason : "")))))));
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 7, class: "muted", text: "no requests yet" })));
    $("recent").replaceChildren(...rows);
  }

  // -- start ---------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      $("token").value = "";
      $("login").hidden = true;
      poll();
    });
    $("forget").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      askToken("");
    });
    poll();
  });
})();
