// PulseTrader dashboard: a plain ES module, no dependencies, nothing fetched from outside.
//
// * Tokens live in this module's memory only (not localStorage, not sessionStorage): a reload
//   or a closed tab signs out. The access token is refreshed before it expires
//   (/api/auth/refresh; each refresh token works once, so refreshes never run in parallel).
// * Live updates come from /api/events, read with fetch() and a ReadableStream so that the
//   token travels in the Authorization header, never in a URL. The stream ends when the token
//   it was opened with expires; it is then reopened with the current one.
// * Any 401 that a refresh cannot cure returns to the sign-in form.

import { money, price, quantity, percent, sign, dateTime, timeOfDay, dateOf } from "./format.js";
import { EquityChart, describeChange } from "./chart.js";

const $ = (id) => document.getElementById(id);

// -- session ---------------------------------------------------------------------------------

const auth = {
  access: null,
  refresh: null,
  user: null,
  expiresAt: 0,
  refreshTimer: null,
  refreshing: null, // the refresh in flight, shared by everyone who needs it
  gen: 0, // bumped on sign-in and sign-out: late answers of an old session are dropped
};

class SessionEnded extends Error {}

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function setTokens(data) {
  auth.access = data.access_token;
  auth.refresh = data.refresh_token;
  const ttl = Math.max(1, Number(data.expires_in) || 900);
  auth.expiresAt = Date.now() + ttl * 1000;
  // Refresh with a quarter of the lifetime (at most a minute) to spare.
  const lead = Math.min(60, ttl * 0.25);
  scheduleRefresh((ttl - lead) * 1000);
}

function scheduleRefresh(ms) {
  clearTimeout(auth.refreshTimer);
  const gen = auth.gen;
  auth.refreshTimer = setTimeout(async () => {
    if (gen !== auth.gen) return;
    const outcome = await refreshTokens();
    if (gen !== auth.gen) return;
    if (outcome === "denied") sessionEnded();
    else if (outcome === "failed") scheduleRefresh(3000); // the server is away: try again soon
  }, Math.max(500, ms));
}

/** Exchange the refresh token: "ok", "denied" (sign in again) or "failed" (try later). */
function refreshTokens() {
  if (auth.refreshing) return auth.refreshing;
  const gen = auth.gen;
  const token = auth.refresh;
  if (!token) return Promise.resolve("denied");
  auth.refreshing = (async () => {
    try {
      const res = await fetch("/api/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ refresh_token: token }),
        cache: "no-store",
      });
      if (gen !== auth.gen) return "denied";
      if (res.status === 401 || res.status === 422) return "denied";
      if (!res.ok) return "failed";
      setTokens(await res.json());
      return "ok";
    } catch {
      return "failed";
    } finally {
      auth.refreshing = null;
    }
  })();
  return auth.refreshing;
}

/** After a 401 with `used`: "ok" when a newer token is (now) there, else why not. */
async function renewAfter401(used) {
  if (auth.access && auth.access !== used) return "ok";
  return refreshTokens();
}

async function readJson(res) {
  if (!(res.headers.get("content-type") || "").includes("json")) return null;
  try {
    return await res.json();
  } catch {
    return null;
  }
}

function detailOf(data, res) {
  if (data && typeof data.detail === "string") return data.detail;
  return `${res.status} ${res.statusText || "error"}`.trim();
}

/** A JSON call to the API with the access token; one refresh-and-retry on 401. */
async function api(path, { method = "GET", body } = {}) {
  const gen = auth.gen;
  for (let attempt = 0; ; attempt += 1) {
    const token = auth.access;
    if (!token || gen !== auth.gen) throw new SessionEnded("signed out");
    const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "cannot reach the engine");
    }
    if (gen !== auth.gen) throw new SessionEnded("signed out");
    if (res.status === 401) {
      const outcome = attempt === 0 ? await renewAfter401(token) : "denied";
      if (gen !== auth.gen) throw new SessionEnded("signed out");
      if (outcome === "ok") continue;
      if (outcome === "failed") throw new ApiError(0, "cannot reach the engine");
      sessionEnded();
      throw new SessionEnded("unauthorized");
    }
    const data = await readJson(res);
    if (!res.ok) throw new ApiError(res.status, detailOf(data, res));
    return data;
  }
}

// -- small DOM helpers -----------------------------------------------------------------------

function setText(node, text) {
  const value = text ?? "";
  if (node.textContent !== value) node.textContent = value;
}

function setTone(node, value) {
  const s = sign(value);
  node.classList.toggle("pos", s > 0);
  node.classList.toggle("neg", s < 0);
}

function make(tag, { cls, text, attrs } = {}) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  if (attrs) for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function cell(label, cls = "") {
  const td = make("td", { cls });
  td.dataset.label = label;
  return td;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function sideTag(side) {
  const s = String(side || "").toLowerCase();
  return make("span", { cls: `side side-${s}`, text: s || "\u2014" });
}

/**
 * Keep `tbody`'s rows in step with `items`: rows are kept by key and updated in place (so
 * focus and hover survive an update), new ones are made, gone ones removed.
 */
function syncRows(container, items, key, create, update) {
  const existing = new Map();
  for (const row of container.children) existing.set(row.dataset.key, row);
  const fresh = existing.size > 0 || container.dataset.loaded === "true";
  let index = 0;
  for (const item of items) {
    const k = String(key(item));
    let row = existing.get(k);
    if (row) {
      existing.delete(k);
    } else {
      row = create(item);
      row.dataset.key = k;
      if (fresh) row.classList.add("flash");
    }
    update(row, item);
    if (container.children[index] !== row) container.insertBefore(row, container.children[index] || null);
    index += 1;
  }
  for (const row of existing.values()) row.remove();
  container.dataset.loaded = "true";
}

// -- notices ---------------------------------------------------------------------------------

function notify(text, tone = "info", ms) {
  const box = $("notices");
  const note = make("div", { cls: `notice ${tone}` });
  note.dataset.testid = "notice";
  note.dataset.tone = tone;
  if (tone === "error") note.setAttribute("role", "alert");
  const span = make("span", { cls: "notice-text", text });
  const close = make("button", { cls: "notice-close", text: "\u00d7", attrs: { type: "button", "aria-label": "Dismiss" } });
  close.addEventListener("click", () => note.remove());
  note.append(span, close);
  box.append(note);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(() => note.remove(), ms ?? (tone === "error" ? 10000 : 5000));
}

function failed(what, err) {
  if (err instanceof SessionEnded) return;
  notify(`${what}: ${err.message}`, "error");
}

// -- confirmation ----------------------------------------------------------------------------

function confirmAction({ title, message, confirm = "Confirm" }) {
  const dialog = $("confirm-dialog");
  if (dialog.open) return Promise.resolve(false); // one question at a time
  setText($("confirm-title"), title);
  setText($("confirm-message"), message);
  setText($("confirm-ok"), confirm);
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    $("confirm-cancel").focus(); // the safe choice is the default
  });
}

// -- state held for rendering ----------------------------------------------------------------

const view = {
  status: null,
  positions: [],
  openOrders: [],
  equityPoints: [], // from /api/equity
  liveTail: [], // equity from status events since the last /api/equity
  chart: null,
  live: false,
  lastEventAt: 0,
};

// -- status, trading state -------------------------------------------------------------------

function renderState(state, reason) {
  const badge = $("trading-state");
  if (state && badge.dataset.state !== state) {
    badge.dataset.state = state;
    setText(badge, state);
  }
  setText($("state-reason"), reason || "");
  $("halt-button").disabled = state === "HALTED";
  $("resume-button").disabled = state === "ACTIVE";
}

function renderHealthBadge(healthy) {
  const badge = $("health-status");
  const value = healthy ? "true" : "false";
  if (badge.dataset.healthy !== value) {
    badge.dataset.healthy = value;
    setText(badge, healthy ? "Healthy" : "Unhealthy");
  }
}

function renderStatus(s) {
  const previous = view.status;
  view.status = s;
  setText($("mode"), s.mode ? `${s.mode}` : "");
  setText($("sim-time"), dateTime(s.simulated_time));
  renderState(s.trading_state, s.state_reason);
  renderHealthBadge(Boolean(s.healthy));
  setText($("kpi-equity"), money(s.equity));
  setText($("kpi-cash"), money(s.cash));
  for (const [id, value] of [
    ["kpi-day-pl", s.day_pl],
    ["kpi-unrealized", s.unrealized_pl],
    ["kpi-realized", s.realized_pl],
  ]) {
    const node = $(id);
    setText(node, money(value, { signed: true }));
    setTone(node, value);
  }
  setText($("kpi-positions"), plural(s.positions ?? 0, "open position"));
  setText($("kpi-orders"), plural(s.open_orders ?? 0, "open order"));
  if (previous && (previous.positions !== s.positions || previous.open_orders !== s.open_orders)) {
    markDirty("positions", "orders");
  }
  if (s.equity && s.simulated_time) addLivePoint({ at: s.simulated_time, equity: s.equity });
}

// -- equity ----------------------------------------------------------------------------------

let chartDrawnAt = 0;

function addLivePoint(point) {
  const all = view.equityPoints;
  const lastAt = (view.liveTail.at(-1) || all.at(-1) || {}).at;
  if (lastAt && Date.parse(point.at) <= Date.parse(lastAt)) return;
  view.liveTail.push(point);
  if (view.liveTail.length > 600) view.liveTail.shift();
  if (Date.now() - chartDrawnAt > 1000) drawChart();
}

function drawChart() {
  chartDrawnAt = Date.now();
  const points = view.equityPoints.concat(view.liveTail);
  view.chart.setPoints(points);
  const change = describeChange(points);
  const node = $("equity-change");
  setText(node, change.text);
  node.classList.toggle("pos", change.sign > 0);
  node.classList.toggle("neg", change.sign < 0);
}

async function loadEquity() {
  const data = await api("/api/equity?limit=500");
  view.equityPoints = data.points || [];
  const lastAt = Date.parse((view.equityPoints.at(-1) || {}).at || 0);
  view.liveTail = view.liveTail.filter((p) => Date.parse(p.at) > lastAt);
  drawChart();
}

// -- positions -------------------------------------------------------------------------------

function positionRow(p) {
  const tr = make("tr");
  tr.dataset.testid = "position-row";
  tr.dataset.symbol = p.symbol;
  const symbol = cell("Symbol", "lead c-sym");
  const name = make("span", { cls: "symbol", text: p.symbol });
  const cls = make("span", { cls: "sub" });
  symbol.append(name, cls);
  const pl = cell("Unrealized P/L", "num c-pl");
  pl.dataset.testid = "position-pl";
  pl.append(make("span", { cls: "pl-amount" }), make("span", { cls: "sub pl-pct" }));
  const actions = cell("", "actions c-act");
  const close = make("button", { cls: "btn btn-sm btn-outline-danger", text: "Close", attrs: { type: "button" } });
  close.dataset.testid = "close-position";
  close.setAttribute("aria-label", `Close the ${p.symbol} position`);
  close.addEventListener("click", () => closePosition(tr.dataset.symbol, close));
  actions.append(close);
  tr.append(
    symbol,
    cell("Side", "c-side"),
    cell("Qty", "num c-qty"),
    cell("Avg entry", "num c-entry"),
    cell("Price", "num c-price"),
    cell("Market value", "num c-value"),
    pl,
    actions,
  );
  return tr;
}

function updatePositionRow(tr, p) {
  const [symbol, side, qty, entry, last, value, pl] = tr.children;
  setText(symbol.querySelector(".sub"), p.asset_class === "crypto" ? "crypto" : "stock");
  if (side.dataset.side !== p.side) {
    side.dataset.side = p.side;
    side.replaceChildren(sideTag(p.side));
  }
  setText(qty, quantity(String(p.qty).replace(/^-/, "")));
  setText(entry, price(p.avg_entry_price));
  setText(last, price(p.current_price));
  setText(value, money(p.market_value));
  const amount = pl.querySelector(".pl-amount");
  setText(amount, money(p.unrealized_pl, { signed: true }));
  setText(pl.querySelector(".pl-pct"), p.unrealized_plpc == null ? "" : percent(p.unrealized_plpc));
  setTone(pl, p.unrealized_pl);
  tr.dataset.qty = p.qty;
}

async function loadPositions() {
  const positions = await api("/api/positions");
  view.positions = positions;
  syncRows($("positions-body"), positions, (p) => p.symbol, positionRow, updatePositionRow);
  $("positions-empty").hidden = positions.length > 0;
  setText($("positions-updated"), view.status ? `as of ${timeOfDay(view.status.simulated_time)} UTC` : "");
}

async function closePosition(symbol, button) {
  const p = view.positions.find((x) => x.symbol === symbol);
  const held = p ? `${quantity(String(p.qty).replace(/^-/, ""))} ${symbol} (${p.side})` : symbol;
  const pl = p ? ` Unrealized P/L now ${money(p.unrealized_pl, { signed: true })}.` : "";
  const ok = await confirmAction({
    title: `Close ${symbol}?`,
    message: `This sends a market order for the whole position: ${held}.${pl}`,
    confirm: "Close position",
  });
  if (!ok) return;
  button.disabled = true;
  try {
    const result = await api(`/api/positions/${encodeURIComponent(symbol)}`, { method: "DELETE" });
    if (result.submitted) notify(`Close order sent for ${symbol}.`, "ok");
    else notify(`Closing ${symbol} was refused: ${result.denied?.reason || "denied"}`, "warn", 9000);
  } catch (err) {
    failed(`Closing ${symbol} failed`, err);
  } finally {
    button.disabled = false;
    markDirty("positions", "orders", "fills");
  }
}

async function closeAll() {
  const n = view.status?.positions ?? view.positions.length;
  const m = view.status?.open_orders ?? view.openOrders.length;
  const ok = await confirmAction({
    title: "Close all positions?",
    message:
      `This cancels every open order (${m}) and closes every position (${n}) with market orders. ` +
      "Strategies keep running; halt trading first to stop them from opening new ones.",
    confirm: "Close everything",
  });
  if (!ok) return;
  const button = $("close-all-button");
  button.disabled = true;
  try {
    const result = await api("/api/positions/close-all", { method: "POST" });
    const denied = (result.results || []).filter((r) => !r.submitted).length;
    const sent = (result.count ?? 0) - denied;
    notify(
      `Close orders sent for ${sent} position${sent === 1 ? "" : "s"}` +
        (denied ? `; ${denied} refused.` : "."),
      denied ? "warn" : "ok",
    );
  } catch (err) {
    failed("Close all failed", err);
  } finally {
    button.disabled = false;
    markDirty("positions", "orders", "fills");
  }
}

// -- orders ----------------------------------------------------------------------------------

function orderRow(o) {
  const tr = make("tr");
  tr.dataset.testid = "order-row";
  tr.dataset.orderId = o.client_order_id;
  tr.dataset.symbol = o.symbol;
  const symbol = cell("Symbol", "lead");
  symbol.append(make("span", { cls: "symbol", text: o.symbol }), make("span", { cls: "sub" }));
  const actions = cell("", "actions");
  const cancel = make("button", { cls: "btn btn-sm btn-ghost", text: "Cancel", attrs: { type: "button" } });
  cancel.dataset.testid = "cancel-order";
  cancel.setAttribute("aria-label", `Cancel the ${o.side} ${o.symbol} order`);
  cancel.addEventListener("click", () => cancelOrder(tr.dataset.orderId, tr.dataset.symbol, cancel));
  actions.append(cancel);
  tr.append(
    symbol,
    cell("Side"),
    cell("Type"),
    cell("Qty", "num"),
    cell("Price", "num"),
    cell("Status"),
    cell("Strategy"),
    actions,
  );
  return tr;
}

function orderPrice(o) {
  const parts = [];
  if (o.limit_price) parts.push(price(o.limit_price));
  if (o.stop_price) parts.push(`stop ${price(o.stop_price)}`);
  if (o.trail_price) parts.push(`trail ${price(o.trail_price)}`);
  if (o.trail_percent) parts.push(`trail ${o.trail_percent}%`);
  return parts.join(", ") || "market";
}

function updateOrderRow(tr, o) {
  const [symbol, side, type, qty, px, status, strategy] = tr.children;
  setText(symbol.querySelector(".sub"), o.created_at ? `${dateOf(o.created_at)} ${timeOfDay(o.created_at)}` : "");
  if (side.dataset.side !== o.side) {
    side.dataset.side = o.side;
    side.replaceChildren(sideTag(o.side));
  }
  setText(type, `${String(o.type || "").replaceAll("_", " ")} \u00b7 ${o.time_in_force}`);
  setText(px, orderPrice(o));
  const size = o.qty != null ? quantity(o.qty) : `${money(o.notional)}`;
  const filled = o.filled_qty && sign(o.filled_qty) > 0 ? ` (${quantity(o.filled_qty)} filled)` : "";
  setText(qty, size + filled);
  setText(status, String(o.status || "").replaceAll("_", " "));
  setText(strategy, o.strategy || "manual");
}

async function loadOrders() {
  const page = await api("/api/orders?status=open&limit=100");
  view.openOrders = page.orders || [];
  syncRows($("orders-body"), view.openOrders, (o) => o.client_order_id, orderRow, updateOrderRow);
  $("orders-empty").hidden = view.openOrders.length > 0;
}

async function cancelOrder(id, symbol, button) {
  button.disabled = true;
  try {
    const result = await api(`/api/orders/${encodeURIComponent(id)}`, { method: "DELETE" });
    if (result.requested) notify(`Cancel requested for the ${symbol} order.`, "ok");
    else notify(`The broker did not accept the cancel of the ${symbol} order.`, "warn");
  } catch (err) {
    failed(`Cancelling the ${symbol} order failed`, err);
    button.disabled = false;
  } finally {
    markDirty("orders", "positions");
  }
}

// -- fills -----------------------------------------------------------------------------------

function fillRow() {
  const tr = make("tr");
  tr.dataset.testid = "fill-row";
  const time = cell("Time (UTC)", "c-time");
  time.append(make("span", { cls: "date" }), make("span", { cls: "tod" }));
  const symbol = cell("Symbol", "c-sym");
  symbol.append(make("span", { cls: "symbol" }));
  tr.append(
    time,
    symbol,
    cell("Side", "c-side"),
    cell("Qty", "num c-qty"),
    cell("Price", "num c-price"),
    cell("Realized P/L", "num c-pl"),
    cell("Strategy", "c-strat"),
  );
  return tr;
}

function updateFillRow(tr, f) {
  const [time, symbol, side, qty, px, pl, strategy] = tr.children;
  tr.dataset.symbol = f.symbol;
  setText(time.firstChild, dateOf(f.timestamp));
  setText(time.lastChild, timeOfDay(f.timestamp));
  setText(symbol.firstChild, f.symbol);
  if (side.dataset.side !== f.side) {
    side.dataset.side = f.side;
    side.replaceChildren(sideTag(f.side));
  }
  setText(qty, quantity(f.qty));
  setText(px, price(f.price));
  setText(pl, f.realized_pl == null || sign(f.realized_pl) === 0 ? "\u2014" : money(f.realized_pl, { signed: true }));
  setTone(pl, f.realized_pl);
  pl.classList.toggle("none", sign(f.realized_pl) === 0);
  setText(strategy, f.strategy || "manual");
}

async function loadFills() {
  const page = await api("/api/fills?limit=25");
  const fills = page.fills || [];
  syncRows($("fills-body"), fills, (f) => f.execution_id, fillRow, updateFillRow);
  $("fills-empty").hidden = fills.length > 0;
}

// -- strategies ------------------------------------------------------------------------------

const STRATEGY_TONE = { RUNNING: "ok", PAUSED: "warn", FAILED: "bad" };

function strategyItem(s) {
  const li = make("li", { cls: "strategy" });
  li.dataset.testid = "strategy-row";
  li.dataset.name = s.name;
  const head = make("div", { cls: "strategy-head" });
  const state = make("span", { cls: "badge" });
  state.dataset.testid = "strategy-state";
  head.append(make("span", { cls: "strategy-name", text: s.name }), state);
  const button = make("button", { cls: "btn btn-sm btn-ghost", attrs: { type: "button" } });
  button.addEventListener("click", () => toggleStrategy(li.dataset.name, button));
  li.append(head, button, make("div", { cls: "strategy-meta" }), make("div", { cls: "strategy-note" }));
  return li;
}

function updateStrategyItem(li, s) {
  const state = li.querySelector("[data-testid=strategy-state]");
  if (state.textContent !== s.state) {
    state.textContent = s.state;
    state.dataset.tone = STRATEGY_TONE[s.state] || "";
  }
  const button = li.querySelector("button");
  const paused = s.state === "PAUSED";
  const verb = paused ? "Resume" : "Pause";
  if (button.textContent !== verb) {
    button.textContent = verb;
    button.dataset.testid = paused ? "strategy-resume" : "strategy-pause";
    button.dataset.action = paused ? "resume" : "pause";
    button.setAttribute("aria-label", `${verb} strategy ${s.name}`);
  }
  if (!button.dataset.busy) button.disabled = !(paused || s.state === "RUNNING");
  const orders = s.orders ? ` \u00b7 ${plural(s.orders.submitted ?? 0, "order")}` : "";
  const symbols = (s.symbols || []).join(", ");
  setText(
    li.querySelector(".strategy-meta"),
    `${s.kind} \u00b7 ${symbols}${s.timeframe ? ` \u00b7 ${s.timeframe}` : ""} \u00b7 ${plural(s.bars ?? 0, "bar")}${orders}` +
      (s.warming_up ? " \u00b7 warming up" : ""),
  );
  const note = li.querySelector(".strategy-note");
  const text = s.error || (s.state !== "RUNNING" ? s.reason : "") || "";
  setText(note, text);
  note.hidden = !text;
  note.classList.toggle("error", Boolean(s.error));
}

async function loadStrategies() {
  const list = await api("/api/strategies");
  syncRows($("strategies-list"), list, (s) => s.name, strategyItem, updateStrategyItem);
  $("strategies-empty").hidden = list.length > 0;
}

async function toggleStrategy(name, button) {
  const action = button.dataset.action || "pause";
  button.disabled = true;
  button.dataset.busy = "1";
  try {
    const status = await api(`/api/strategies/${encodeURIComponent(name)}/${action}`, { method: "POST" });
    const li = [...$("strategies-list").children].find((x) => x.dataset.name === name);
    delete button.dataset.busy;
    if (li && status && status.name) updateStrategyItem(li, status);
    notify(`Strategy ${name} ${action === "pause" ? "paused" : "resumed"}.`, "ok");
  } catch (err) {
    failed(`Could not ${action} ${name}`, err);
  } finally {
    delete button.dataset.busy;
    button.disabled = false;
    markDirty("strategies");
  }
}

// -- health ----------------------------------------------------------------------------------

function seconds(value) {
  if (value === null || value === undefined) return "\u2014";
  const n = Number(value);
  return n < 1 ? `${Math.round(n * 1000)} ms` : `${n.toFixed(2)} s`;
}

async function loadHealth() {
  const h = await api("/api/health/details");
  renderHealthBadge(Boolean(h.healthy));
  setText(
    $("health-preservation"),
    h.preservation ? `On${h.preservation_since ? ` since ${timeOfDay(h.preservation_since)}` : ""}` : "Off",
  );
  setText($("health-errors"), `${h.consecutive_errors ?? 0} / ${h.error_threshold ?? "?"}`);
  setText($("health-calls"), `${h.calls ?? 0} (${h.total_errors ?? 0} failed)`);
  const ping = h.ping || {};
  setText($("health-ping"), ping.last_at ? `${ping.last_ok ? "ok" : "failed"}, ${seconds(ping.last_seconds)}` : "\u2014");
  const streams = Object.entries(h.streams || {});
  syncRows(
    $("health-streams"),
    streams,
    ([name]) => name,
    ([name]) => {
      const li = make("li");
      li.append(make("span", { cls: "stream-name", text: name }), make("span", { cls: "badge" }));
      return li;
    },
    (li, [, s]) => {
      const badge = li.querySelector(".badge");
      const text = s.connected ? "connected" : "down";
      if (badge.textContent !== text) {
        badge.textContent = text;
        badge.dataset.tone = s.connected ? "ok" : "bad";
      }
      li.title = `${s.reconnects ?? 0} reconnects, ${s.faults ?? 0} faults`;
    },
  );
  const lastError = h.last_error_text ? `Last error ${timeOfDay(h.last_error)}: ${h.last_error_text}` : "";
  setText($("health-last-error"), lastError);
}

// -- loading: polled on a schedule, sooner when an event says something changed ----------------

const loaders = {
  status: { every: 10000, load: async () => renderStatus(await api("/api/status")), onlyOffline: true },
  positions: { every: 3000, load: loadPositions },
  orders: { every: 10000, load: loadOrders },
  fills: { every: 10000, load: loadFills },
  equity: { every: 5000, load: loadEquity },
  strategies: { every: 5000, load: loadStrategies },
  health: { every: 5000, load: loadHealth },
};
let ticker = null;

function resetLoaders() {
  for (const l of Object.values(loaders)) Object.assign(l, { last: 0, dirty: true, busy: false, errors: 0 });
}

function markDirty(...names) {
  for (const name of names) if (loaders[name]) loaders[name].dirty = true;
}

function tick() {
  const now = Date.now();
  const gen = auth.gen;
  for (const [name, l] of Object.entries(loaders)) {
    if (l.busy || !auth.access) continue;
    if (l.onlyOffline && view.live && !l.dirty) continue;
    const due = l.dirty ? now - l.last >= 250 : now - l.last >= l.every * (document.hidden ? 3 : 1);
    if (!due) continue;
    l.busy = true;
    l.dirty = false;
    l.last = now;
    l.load()
      .then(() => {
        l.errors = 0;
      })
      .catch((err) => {
        if (err instanceof SessionEnded || gen !== auth.gen) return;
        l.errors += 1;
        if (l.errors === 1) console.warn(`loading ${name} failed:`, err.message);
        if (l.errors === 3) notify(`Loading ${name} keeps failing: ${err.message}`, "error");
      })
      .finally(() => {
        l.busy = false;
      });
  }
  // No event for a while on an open stream (pings come every 15 s): reconnect.
  if (view.live && stream.controller && now - view.lastEventAt > 45000) stream.controller.abort();
}

// -- live updates: Server-Sent Events over fetch() -------------------------------------------

const stream = { controller: null };

function setLive(live) {
  view.live = live;
  const node = $("connection");
  node.dataset.live = String(live);
  setText(node.querySelector(".conn-text"), live ? "Live" : "Reconnecting\u2026");
}

/** Parse a text/event-stream body, calling `dispatch(event, data)` per event. */
async function readEvents(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let name = "";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    view.lastEventAt = Date.now();
    buffer += value;
    for (;;) {
      const at = buffer.search(/\r\n|\r|\n/);
      if (at < 0) break;
      if (buffer[at] === "\r" && at === buffer.length - 1) break; // maybe "\r\n" split in two
      const width = buffer.startsWith("\r\n", at) ? 2 : 1;
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + width);
      if (line === "") {
        if (data.length) dispatch(name || "message", data.join("\n"));
        name = "";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue; // a keep-alive comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let content = colon < 0 ? "" : line.slice(colon + 1);
      if (content.startsWith(" ")) content = content.slice(1);
      if (field === "event") name = content;
      else if (field === "data") data.push(content);
    }
  }
}

function onEvent(name, text) {
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    return;
  }
  switch (name) {
    case "status":
      renderStatus(data);
      break;
    case "order":
      markDirty("orders", "positions");
      break;
    case "fill":
      markDirty("fills", "positions", "equity");
      break;
    case "state": {
      const state = data.state || data.to;
      renderState(state, data.reason);
      const tone = state === "ACTIVE" ? "ok" : state === "HALTED" ? "error" : "warn";
      notify(`Trading is ${state}${data.reason ? `: ${data.reason}` : ""}.`, tone, 7000);
      markDirty("health");
      break;
    }
    case "strategy":
      markDirty("strategies");
      break;
    default:
      break;
  }
}

async function runStream(gen) {
  let backoff = 1000;
  while (gen === auth.gen && auth.access) {
    const token = auth.access;
    const controller = new AbortController();
    stream.controller = controller;
    let opened = false;
    try {
      const res = await fetch("/api/events", {
        headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" },
        signal: controller.signal,
        cache: "no-store",
      });
      if (gen !== auth.gen) return;
      if (res.status === 401) {
        const outcome = await renewAfter401(token);
        if (gen !== auth.gen) return;
        if (outcome === "denied") {
          sessionEnded();
          return;
        }
        if (outcome === "ok") continue;
        throw new Error("cannot refresh the session");
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      opened = true;
      backoff = 1000;
      view.lastEventAt = Date.now();
      setLive(true);
      await readEvents(res.body, (event, data) => {
        if (gen === auth.gen) onEvent(event, data);
      });
      // The server ended the stream (the token it was opened with expired, or it is stopping).
    } catch (err) {
      if (gen !== auth.gen) return;
      if (err.name !== "AbortError") console.warn("event stream:", err.message);
    }
    if (gen !== auth.gen) return;
    setLive(false);
    markDirty("status");
    await new Promise((resolve) => setTimeout(resolve, opened ? 200 : backoff));
    if (!opened) backoff = Math.min(backoff * 2, 15000);
  }
}

// -- sign in and out -------------------------------------------------------------------------

function showLogin(message) {
  $("app-view").hidden = true;
  $("login-view").hidden = false;
  const error = $("login-error");
  error.hidden = !message;
  setText(error, message || "");
  const user = $("username");
  (user.value ? $("password") : user).focus();
}

function clearDashboard() {
  for (const id of ["positions-body", "orders-body", "fills-body", "strategies-list", "health-streams"]) {
    $(id).replaceChildren();
    delete $(id).dataset.loaded;
  }
  $("notices").replaceChildren();
  view.status = null;
  view.positions = [];
  view.openOrders = [];
  view.equityPoints = [];
  view.liveTail = [];
  view.chart.clear();
  const badge = $("trading-state");
  badge.dataset.state = "";
  setText(badge, "\u2014");
  for (const id of ["kpi-equity", "kpi-cash", "kpi-day-pl", "kpi-unrealized", "kpi-realized"]) setText($(id), "\u2014");
}

function stopSession() {
  auth.gen += 1;
  clearTimeout(auth.refreshTimer);
  clearInterval(ticker);
  ticker = null;
  if (stream.controller) stream.controller.abort();
  stream.controller = null;
  Object.assign(auth, { access: null, refresh: null, user: null, expiresAt: 0, refreshing: null });
  setLive(false);
  const dialog = $("confirm-dialog");
  if (dialog.open) dialog.close("cancel");
}

function sessionEnded() {
  if (!auth.access && $("app-view").hidden) return;
  stopSession();
  clearDashboard();
  showLogin("Your session has ended. Please sign in again.");
}

function signOut() {
  stopSession();
  clearDashboard();
  $("password").value = "";
  showLogin("");
}

function startSession(username, tokens) {
  stopSession(); // a clean slate (and a new generation)
  auth.user = username;
  setTokens(tokens);
  setText($("current-user"), username);
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  resetLoaders();
  tick();
  ticker = setInterval(tick, 250);
  runStream(auth.gen);
  $("main").focus({ preventScroll: true });
}

async function onLogin(event) {
  event.preventDefault();
  const username = $("username").value.trim();
  const password = $("password").value;
  const error = $("login-error");
  if (!username || !password) {
    error.hidden = false;
    setText(error, "Enter your user name and password.");
    return;
  }
  const button = $("login-submit");
  button.disabled = true;
  setText(button, "Signing in\u2026");
  error.hidden = true;
  try {
    const res = await fetch("/api/auth/token", {
      method: "POST",
      headers: { Accept: "application/json" },
      body: new URLSearchParams({ username, password }),
      cache: "no-store",
    });
    const data = await readJson(res);
    if (res.ok && data && data.access_token) {
      $("password").value = "";
      startSession(username, data);
      return;
    }
    let message;
    if (res.status === 401) message = "Wrong user name or password.";
    else if (res.status === 429) {
      const wait = Number(res.headers.get("Retry-After"));
      message = `Too many failed sign-ins. Try again in ${wait > 0 ? `${wait} s` : "a while"}.`;
    } else message = `Sign-in failed: ${detailOf(data, res)}`;
    error.hidden = false;
    setText(error, message);
    $("password").select();
  } catch {
    error.hidden = false;
    setText(error, "Cannot reach the engine. Is it running?");
  } finally {
    button.disabled = false;
    setText(button, "Sign in");
  }
}

// -- trading state actions -------------------------------------------------------------------

async function halt() {
  const reasonInput = $("halt-reason");
  const reason = reasonInput.value.trim();
  const buttons = [$("halt-button"), $("resume-button")];
  buttons.forEach((b) => {
    b.disabled = true;
  });
  try {
    const result = await api("/api/trading/halt", { method: "POST", body: reason ? { reason } : {} });
    renderState(result.state, result.reason);
    reasonInput.value = "";
    if (!result.changed) notify("Trading was already halted.", "info");
  } catch (err) {
    failed("Halting failed", err);
    renderState(view.status?.trading_state, view.status?.state_reason);
  } finally {
    markDirty("status", "health");
  }
}

async function resume() {
  const buttons = [$("halt-button"), $("resume-button")];
  buttons.forEach((b) => {
    b.disabled = true;
  });
  try {
    const result = await api("/api/trading/resume", { method: "POST" });
    renderState(result.state, result.reason);
    if (!result.changed) notify("Trading was already active.", "info");
  } catch (err) {
    failed("Resuming failed", err);
    renderState(view.status?.trading_state, view.status?.state_reason);
  } finally {
    markDirty("status", "health");
  }
}

// -- start -----------------------------------------------------------------------------------

function init() {
  view.chart = new EquityChart($("equity-chart"));
  $("login-form").addEventListener("submit", onLogin);
  $("logout-button").addEventListener("click", signOut);
  $("halt-button").addEventListener("click", halt);
  $("resume-button").addEventListener("click", resume);
  $("close-all-button").addEventListener("click", closeAll);
  $("halt-reason").addEventListener("keydown", (e) => {
    if (e.key === "Enter") halt();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) markDirty("positions", "orders", "fills", "equity", "strategies", "health");
  });
  showLogin("");
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
