// The equity curve: a small SVG line chart of our own (no chart library).
// Geometry uses floats (pixels need no exactness); every figure shown as text is the API's own
// decimal string, formatted by format.js.

import { money, subtract, percent, dateTime, timeOfDay, dateOf } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const PAD = { top: 12, right: 14, bottom: 26, left: 70 };

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.append(node);
  return node;
}

/** A "nice" step (1, 2 or 5 times a power of ten) for about `count` intervals over `span`. */
function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  const nice = unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10;
  return nice * power;
}

function axisMoney(value, step) {
  const digits = step < 1 ? 2 : 0;
  return (
    (value < 0 ? "\u2212$" : "$") +
    Math.abs(value).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
  );
}

function timeLabel(iso, spanMs) {
  if (spanMs > 2 * 86400e3) return dateOf(iso).slice(5);
  if (spanMs < 10 * 60e3) return timeOfDay(iso);
  return timeOfDay(iso).slice(0, 5);
}

export class EquityChart {
  constructor(figure) {
    this.figure = figure;
    this.empty = figure.querySelector(".chart-empty");
    this.caption = figure.querySelector("figcaption");
    this.points = [];
    this.svg = null;
    this.tip = document.createElement("div");
    this.tip.className = "chart-tip";
    this.tip.hidden = true;
    this.tip.setAttribute("aria-hidden", "true");
    figure.append(this.tip);
    this.layout = null;
    this.pending = false;
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(() => this.schedule()).observe(figure);
    }
  }

  /** Points are [{at, equity}] oldest first; equity a decimal string. */
  setPoints(points) {
    this.points = points.filter((p) => p && p.at && p.equity !== null && p.equity !== undefined);
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  clear() {
    this.points = [];
    this.render();
  }

  render() {
    const figure = this.figure;
    const points = this.points;
    figure.dataset.points = String(points.length);
    if (this.svg) this.svg.remove();
    this.svg = null;
    this.tip.hidden = true;
    this.empty.hidden = points.length >= 2;
    if (points.length < 2) {
      this.caption.textContent = "Not enough equity samples yet.";
      return;
    }
    const width = Math.max(200, figure.clientWidth);
    const height = Math.max(120, figure.clientHeight);
    const narrow = width < 480;
    const pad = { ...PAD, left: narrow ? 58 : PAD.left };
    const w = width - pad.left - pad.right;
    const h = height - pad.top - pad.bottom;

    const values = points.map((p) => Number(p.equity));
    const times = points.map((p) => Date.parse(p.at));
    const byTime = times.every((t) => Number.isFinite(t)) && times[times.length - 1] > times[0];
    const x0 = byTime ? times[0] : 0;
    const xSpan = byTime ? times[times.length - 1] - times[0] : points.length - 1;
    let lo = Math.min(...values);
    let hi = Math.max(...values);
    if (hi - lo < 1e-9) {
      const bump = Math.max(1, Math.abs(hi) * 0.0005);
      lo -= bump;
      hi += bump;
    }
    const step = niceStep(hi - lo, narrow ? 3 : 4);
    const yMin = Math.floor(lo / step) * step;
    const yMax = Math.ceil(hi / step) * step;
    const xOf = (i) => pad.left + (((byTime ? times[i] : i) - x0) / xSpan) * w;
    const yOf = (v) => pad.top + (1 - (v - yMin) / (yMax - yMin)) * h;

    const first = points[0];
    const last = points[points.length - 1];
    const change = subtract(last.equity, first.equity);
    const up = !change || !change.startsWith("-");
    const tone = up ? "up" : "down";
    const color = up ? "#2ecc71" : "#ff5c5c";

    const svg = el("svg", {
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "img",
      "aria-labelledby": this.caption.id,
      focusable: "false",
    });
    const gradId = `eq-grad-${tone}`;
    const defs = el("defs", {}, svg);
    const grad = el("linearGradient", { id: gradId, x1: 0, y1: 0, x2: 0, y2: 1 }, defs);
    el("stop", { offset: "0%", "stop-color": color, "stop-opacity": 0.28 }, grad);
    el("stop", { offset: "100%", "stop-color": color, "stop-opacity": 0 }, grad);

    // Horizontal grid and y labels.
    for (let v = yMin; v <= yMax + step / 2; v += step) {
      const y = Math.round(yOf(v)) + 0.5;
      el("line", { class: "grid-line", x1: pad.left, x2: pad.left + w, y1: y, y2: y }, svg);
      const label = el("text", { class: "axis-label", x: pad.left - 8, y: y + 4, "text-anchor": "end" }, svg);
      label.textContent = axisMoney(v, step);
    }
    // X labels: start, end and a few between.
    const ticks = narrow ? 3 : 5;
    const spanMs = byTime ? xSpan : 0;
    let previous = "";
    for (let k = 0; k < ticks; k += 1) {
      let index = Math.round((k / (ticks - 1)) * (points.length - 1));
      if (byTime) {
        const target = x0 + (k / (ticks - 1)) * xSpan;
        index = nearestIndex(times, target);
      }
      const text = timeLabel(points[index].at, spanMs);
      if (text === previous) continue; // samples closer than a label's resolution
      previous = text;
      const x = byTime ? xOf(index) : pad.left + (k / (ticks - 1)) * w;
      const anchor = k === 0 ? "start" : k === ticks - 1 ? "end" : "middle";
      const label = el("text", { class: "axis-label", x, y: height - 6, "text-anchor": anchor }, svg);
      label.textContent = text;
    }

    // Baseline at the first sample, the area and the line.
    const yBase = yOf(values[0]);
    el("line", { class: "baseline", x1: pad.left, x2: pad.left + w, y1: yBase, y2: yBase }, svg);
    let d = "";
    for (let i = 0; i < points.length; i += 1) {
      d += `${i ? "L" : "M"}${xOf(i).toFixed(1)},${yOf(values[i]).toFixed(1)}`;
    }
    const bottom = (pad.top + h).toFixed(1);
    el(
      "path",
      { d: `${d}L${xOf(points.length - 1).toFixed(1)},${bottom}L${xOf(0).toFixed(1)},${bottom}Z`, fill: `url(#${gradId})` },
      svg,
    );
    el("path", { class: `line ${tone}`, d }, svg);
    el("circle", { class: `cursor-dot ${tone}`, cx: xOf(points.length - 1), cy: yOf(values[values.length - 1]), r: 3.5 }, svg);

    // Hover / touch: the nearest sample's exact figure.
    const cursor = el("line", { class: "cursor", y1: pad.top, y2: pad.top + h, visibility: "hidden" }, svg);
    const dot = el("circle", { class: `cursor-dot ${tone}`, r: 4.5, visibility: "hidden" }, svg);
    const hit = el("rect", { x: pad.left, y: pad.top, width: w, height: h, fill: "transparent" }, svg);
    const show = (event) => {
      const box = svg.getBoundingClientRect();
      const px = ((event.clientX - box.left) / box.width) * width;
      const t = x0 + ((px - pad.left) / w) * xSpan;
      const i = byTime ? nearestIndex(times, t) : Math.max(0, Math.min(points.length - 1, Math.round(t)));
      const cx = xOf(i);
      const cy = yOf(values[i]);
      cursor.setAttribute("x1", cx);
      cursor.setAttribute("x2", cx);
      cursor.setAttribute("visibility", "visible");
      dot.setAttribute("cx", cx);
      dot.setAttribute("cy", cy);
      dot.setAttribute("visibility", "visible");
      this.tip.replaceChildren();
      const strong = document.createElement("strong");
      strong.textContent = money(points[i].equity);
      this.tip.append(strong, document.createTextNode(dateTime(points[i].at)));
      this.tip.hidden = false;
      const left = (cx / width) * figure.clientWidth;
      const half = this.tip.offsetWidth / 2;
      this.tip.style.left = `${Math.max(half, Math.min(figure.clientWidth - half, left))}px`;
    };
    const hide = () => {
      cursor.setAttribute("visibility", "hidden");
      dot.setAttribute("visibility", "hidden");
      this.tip.hidden = true;
    };
    hit.addEventListener("pointermove", show);
    hit.addEventListener("pointerdown", show);
    hit.addEventListener("pointerleave", hide);

    figure.insertBefore(svg, this.tip);
    this.svg = svg;

    let hiIdx = 0;
    let loIdx = 0;
    values.forEach((v, i) => {
      if (v > values[hiIdx]) hiIdx = i;
      if (v < values[loIdx]) loIdx = i;
    });
    this.caption.textContent =
      `Equity from ${money(first.equity)} at ${dateTime(first.at)} to ${money(last.equity)} at ` +
      `${dateTime(last.at)} (${money(change, { signed: true })}), ${points.length} samples; ` +
      `high ${money(points[hiIdx].equity)}, low ${money(points[loIdx].equity)}.`;
  }
}

function nearestIndex(sorted, target) {
  let lo = 0;
  let hi = sorted.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < target) lo = mid;
    else hi = mid;
  }
  return Math.abs(sorted[lo] - target) <= Math.abs(sorted[hi] - target) ? lo : hi;
}

/** "+$12.34 (+0.01%)" for the period the chart shows, or "". */
export function describeChange(points) {
  if (points.length < 2) return { text: "", sign: 0 };
  const first = points[0].equity;
  const last = points[points.length - 1].equity;
  const change = subtract(last, first);
  if (change === null) return { text: "", sign: 0 };
  // The percentage is display-only: a float ratio of exact figures is fine for two decimals.
  const ratio = Number(first) ? (Number(change) / Number(first)).toFixed(8) : null;
  const pct = ratio === null ? "" : ` (${percent(ratio)})`;
  const sign = change.startsWith("-") ? -1 : /[1-9]/.test(change) ? 1 : 0;
  return { text: `${money(change, { signed: true })}${pct}`, sign };
}
