// PulseTrader dashboard: plain ES module, no dependencies, nothing fetched from outside.
// Tokens live in sessionStorage (gone with the tab), never in a URL: the live updates are
// read with fetch() and a ReadableStream so the Bearer header can be sent.

const $ = (id) => document.getElementById(id);
const session = {
  get access() { return sessionStorage.getItem("pt.access"); },
  get refresh() { return sessionStorage.getItem("pt.refresh"); },
  get user() { return sessionStorage.getItem("pt.user"); },
  save(tokens, user) {
    sessionStorage.setItem("pt.access", tokens.access_token);
    sessionStorage.setItem("pt.refresh", tokens.refresh_token);
    if (user) sessionStorage.setItem("pt.user", user);
    scheduleRefresh(tokens.expires_in);
  },
  clear() { sessionStorage.clear(); },
};

let refreshTimer = null;
let streamAbort = null;
let reloadTimer = null;

// -- formatting: the API sends amounts as decimal strings; round them as strings ------------

function roundDecimal(text, places) {
  if (text === null || text === undefined || text === "") return null;
  let s = String(text).trim();
  const negative = s.startsWith("-");
  if (negative || s.startsWith("+")) s = s.slice(1);
  let [whole, frac = ""] = s.split(".");
  frac = frac.padEnd(places + 1, "0");
  const keep = whole + frac.slice(0, places);
  const up = Number(frac[places]) >= 5;
  let digits = keep.split("").map(Number);
  if (up) {
    let i = digits.length - 1;
    while (i >= 0) { if (digits[i] === 9) { digits[i] = 0; i -= 1; } else { digits[i] += 1; break; } }
    if (i < 0) digits.unshift(1);
  }
  const all = digits.join("");
  const intPart = (all.slice(0, all.length - places) || "0").replace(/^0+(?=\d)/, "");
  const fracPart = places ? all.slice(all.length - places) : "";
  const zero = /^0*$/.test(intPart + fracPart);
  return { negative: negative && !zero, intPart, fracPart };
}

function money(text, { signed = false } = {}) {
  const r = roundDecimal(text, 2);
  if (!r) return "–";
  const grouped = r.intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const sign = r.negative ? "−" : signed && !/^0*$/.test(r.intPart + r.fracPart) ? "+" : "";
  return `${sign}${grouped}.${r.fracPart}`;
}

function qty(text) {
  if (text === null || text === undefined) return "–";
  const s = String(text);
  return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
}

function signClass(text) {
  if (!text) return "";
  const r = roundDecimal(text, 2);
  if (!r || /^0*$/.test(r.intPart + r.fracPart)) return "";
  return r.negative ? "neg" : "pos";
}

function time(text) {
  if (!text) return "";
  const d = new Date(text);
  return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function fillRows(tbody, rows, columns, emptyText) {
  tbody.replaceChildren();
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell(emptyText, "empty");
    td.colSpan = columns;
    tr.append(td);
    tbody.append(tr);
    return;
  }
  for (const row of rows) tbody.append(row);
}

// -- HTTP ---------------------------------------------------------------------------------

async function api(path, { method = "GET", body, retry = true } = {}) {
  const headers = { Authorization: `Bearer ${session.access}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && retry && (await refreshTokens())) return api(path, { method, body, retry: false });
  if (res.status === 401) { logout("Your session ended: please log in again."); throw new Error("unauthorized"); }
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : null;
  if (!res.ok) throw new Error((data && data.detail) || `${res.status} ${res.statusText}`);
  return data;
}

async function login(username, password) {
  const form = new URLSearchParams({ username, password });
  const res = await fetch("/api/auth/token", { method: "POST", body: form });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.detail || `login failed (${res.status})`);
  session.save(data, username);
}

async function refreshTokens() {
  const token = session.refresh;
  if (!token) return false;
  const res = await fetch("/api/auth/refresh", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: token }),
  });
  if (!res.ok) return false;
  session.save(await res.json());
  return true;
}

function scheduleRefresh(expiresIn) {
  clearTimeout(refreshTimer);
  const wait = Math.max(10, (Number(expiresIn) || 900) - 60) * 1000;
  refreshTimer = setTimeout(async () => {
    if (!(await refreshTokens())) logout("Your session ended: please log in again.");
  }, wait);
}

// -- rendering ------------------------------------------------------------------------------

function renderStatus(s) {
  const state = $("state");
  state.textContent = s.trading_state;
  state.className = `badge ${s.trading_state}`;
  const health = $("health");
  health.textContent = s.healthy ? "healthy" : "unhealthy";
  health.className = `badge ${s.healthy ? "healthy" : "unhealthy"}`;
  $("state-reason").textContent = s.state_reason || "";
  $("mode").textContent = `${s.mode} mode`;
  $("clock").textContent = time(s.simulated_time);
  $("equity").textContent = money(s.equity);
  for (const [id, value] of [["day-pl", s.day_pl], ["realized", s.realized_pl], ["unrealized", s.unrealized_pl]]) {
    const el = $(id);
    el.textContent = money(value, { signed: true });
    el.className = signClass(value);
  }
  $("open-count").textContent = String(s.open_orders);
  $("halt").disabled = s.trading_state === "HALTED";
  $("resume").disabled = s.trading_state === "ACTIVE";
}

function actionButton(label, handler, testid) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "small";
  b.textContent = label;
  if (testid) b.dataset.testid = testid;
  b.addEventListener("click", handler);
  const td = document.createElement("td");
  td.append(b);
  return td;
}

function renderPositions(positions) {
  const rows = positions.map((p) => {
    const tr = document.createElement("tr");
    tr.dataset.symbol = p.symbol;
    tr.append(
      cell(p.symbol), cell(qty(p.qty), "num"), cell(money(p.avg_entry_price), "num"),
      cell(money(p.current_price), "num"),
      cell(money(p.unrealized_pl, { signed: true }), `num ${signClass(p.unrealized_pl)}`),
      actionButton("Close", () => act(`Close the whole ${p.symbol} position at market?`,
        `/api/positions/${encodeURIComponent(p.symbol)}`, "DELETE", `closing ${p.symbol}`), "close-position"),
    );
    return tr;
  });
  fillRows($("positions"), rows, 6, "No open positions");
}

function renderOrders(page) {
  const rows = page.orders.map((o) => {
    const tr = document.createElement("tr");
    tr.dataset.orderId = o.client_order_id;
    tr.append(
      cell(o.symbol), cell(o.side), cell(o.qty !== null ? qty(o.qty) : `$${money(o.notional)}`, "num"),
      cell(o.type + (o.limit_price ? ` @ ${money(o.limit_price)}` : "")), cell(o.status), cell(o.strategy || "manual"),
      actionButton("Cancel", () => act(null, `/api/orders/${encodeURIComponent(o.client_order_id)}`, "DELETE",
        `cancel of ${o.symbol} requested`), "cancel-order"),
    );
    return tr;
  });
  fillRows($("orders"), rows, 7, "No open orders");
}

function renderFills(page) {
  const rows = page.fills.map((f) => {
    const tr = document.createElement("tr");
    tr.append(
      cell(time(f.timestamp)), cell(f.symbol), cell(f.side), cell(qty(f.qty), "num"), cell(money(f.price), "num"),
      cell(f.realized_pl ? money(f.realized_pl, { signed: true }) : "", `num ${signClass(f.realized_pl)}`),
    );
    return tr;
  });
  fillRows($("fills"), rows, 6, "No fills yet");
}

function renderStrategies(list) {
  const rows = list.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.strategy = s.name;
    const paused = s.state === "PAUSED";
    const state = cell(s.state);
    state.title = s.error || s.reason || "";
    tr.append(cell(s.name), state, cell(s.symbols.join(", ")), cell(String(s.bars), "num"));
    if (s.state === "RUNNING" || paused) {
      const verb = paused ? "resume" : "pause";
      tr.append(actionButton(paused ? "Resume" : "Pause", () => act(null,
        `/api/strategies/${encodeURIComponent(s.name)}/${verb}`, "POST", `${s.name}: ${verb}d`), `strategy-${verb}`));
    } else {
      tr.append(cell(""));
    }
    return tr;
  });
  fillRows($("strategies"), rows, 5, "No strategies running");
}

function renderEquity(points) {
  const svg = $("equity-chart");
  svg.replaceChildren();
  if (points.length < 2) { $("equity-range").textContent = "Not enough samples yet"; return; }
  // Display only: floats are fine for drawing a line.
  const values = points.map((p) => Number(p.equity));
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi === lo) { hi += 1; lo -= 1; }
  const w = 600, h = 160, pad = 6;
  const xy = values.map((v, i) => [(i / (values.length - 1)) * w, h - pad - ((v - lo) / (hi - lo)) * (h - 2 * pad)]);
  const d = xy.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  const ns = "http://www.w3.org/2000/svg";
  const area = document.createElementNS(ns, "path");
  area.setAttribute("d", `${d} L${w},${h} L0,${h} Z`);
  area.setAttribute("class", "area");
  const line = document.createElementNS(ns, "path");
  line.setAttribute("d", d);
  line.setAttribute("class", "line");
  svg.append(area, line);
  $("equity-range").textContent =
    `${time(points[0].at)} → ${time(points[points.length - 1].at)} · low ${money(String(Math.min(...values)))} · high ${money(String(Math.max(...values)))}`;
}

// -- loading and live updates --------------------------------------------------------------

async function loadAll() {
  const [status, positions, orders, fills, strategies, equity] = await Promise.all([
    api("/api/status"), api("/api/positions"), api("/api/orders?status=open&limit=100"),
    api("/api/fills?limit=25"), api("/api/strategies"), api("/api/equity?limit=500"),
  ]);
  renderStatus(status); renderPositions(positions); renderOrders(orders);
  renderFills(fills); renderStrategies(strategies); renderEquity(equity.points);
}

function reloadSoon() {
  // Orders and fills come in bursts: one reload for the burst.
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => { reloadTimer = null; loadAll().catch(showError); }, 300);
}

async function stream() {
  while (session.access) {
    streamAbort = new AbortController();
    try {
      const res = await fetch("/api/events", { headers: { Authorization: `Bearer ${session.access}` }, signal: streamAbort.signal });
      if (res.status === 401) { if (!(await refreshTokens())) { logout("Your session ended: please log in again."); return; } continue; }
      if (!res.ok || !res.body) throw new Error(`live updates: ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      let positionsTick = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let name = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (!data) continue;
          const payload = JSON.parse(data);
          if (name === "status") {
            renderStatus(payload);
            // Prices move without orders: refresh positions and the curve every few seconds.
            positionsTick = (positionsTick + 1) % 3;
            if (positionsTick === 0) {
              api("/api/positions").then(renderPositions).catch(() => {});
              api("/api/equity?limit=500").then((e) => renderEquity(e.points)).catch(() => {});
            }
          } else if (name === "order" || name === "fill" || name === "strategy") reloadSoon();
          else if (name === "state") api("/api/status").then(renderStatus).catch(() => {});
        }
      }
    } catch (err) {
      if (err.name === "AbortError") return;
    }
    await new Promise((r) => setTimeout(r, 1000)); // the server ended the stream: reconnect
  }
}

// -- actions ------------------------------------------------------------------------------

function showError(err) { $("message").textContent = `Error: ${err.message}`; $("message").className = "message error"; }
function showMessage(text) { $("message").textContent = text; $("message").className = "message"; }

async function act(question, path, method, done, body) {
  if (question && !window.confirm(question)) return;
  try {
    const result = await api(path, { method, body });
    if (result && result.denied) showMessage(`Refused by the risk manager: ${result.denied.reason}`);
    else showMessage(done);
    await loadAll();
  } catch (err) { showError(err); }
}

// -- screens ------------------------------------------------------------------------------

function showApp() {
  $("login").hidden = true; $("app").hidden = false; $("logout").hidden = false;
  $("user").textContent = session.user || "";
  loadAll().catch(showError);
  stream();
}

function logout(reason) {
  clearTimeout(refreshTimer);
  if (streamAbort) streamAbort.abort();
  session.clear();
  $("app").hidden = true; $("logout").hidden = true; $("user").textContent = "";
  $("login").hidden = false;
  $("login-error").textContent = reason || "";
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("login-error").textContent = "";
    try {
      await login($("username").value.trim(), $("password").value);
      $("password").value = "";
      showApp();
    } catch (err) { $("login-error").textContent = err.message; }
  });
  $("logout").addEventListener("click", () => logout(""));
  $("halt").addEventListener("click", () => act(null, "/api/trading/halt", "POST", "Trading halted", { reason: "halted from the dashboard" }));
  $("resume").addEventListener("click", () => act(null, "/api/trading/resume", "POST", "Trading resumed"));
  $("close-all").addEventListener("click", () => act("Cancel every open order and close every position at market?",
    "/api/positions/close-all", "POST", "Closing every position"));
  if (session.access) showApp(); else $("login").hidden = false;
});
