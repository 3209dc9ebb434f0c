// Display formatting of the API's values. Amounts arrive as decimal strings ("1234.5",
// "-0.000012"); they are rounded and grouped as text (BigInt where arithmetic is needed), never
// through floating point, so what is shown is what the engine computed.

const DECIMAL = /^([+-])?(\d*)(?:\.(\d*))?$/;
const MINUS = "\u2212"; // a real minus sign: same width as "+", reads better than a hyphen

/** {neg, int, frac} of a decimal string, or null when it is not one (null, "", "abc", "1e5"). */
export function parseDecimal(text) {
  if (text === null || text === undefined) return null;
  const m = DECIMAL.exec(String(text).trim());
  if (!m) return null;
  const int = m[2] || "";
  const frac = m[3] || "";
  if (!int && !frac) return null;
  return { neg: m[1] === "-", int: int.replace(/^0+(?=\d)/, "") || "0", frac };
}

function isZeroDigits(s) {
  return /^0*$/.test(s);
}

/** -1, 0 or 1: the sign of a decimal string (0 for anything that is not a number). */
export function sign(text) {
  const d = parseDecimal(text);
  if (!d || isZeroDigits(d.int + d.frac)) return 0;
  return d.neg ? -1 : 1;
}

/** Round to `places` decimals, half away from zero (as shown on a statement): {neg, int, frac}. */
export function roundDecimal(text, places) {
  const d = parseDecimal(text);
  if (!d) return null;
  let { int, frac } = d;
  if (frac.length > places) {
    const digits = BigInt(int + frac);
    const divisor = 10n ** BigInt(frac.length - places);
    let q = digits / divisor;
    if ((digits % divisor) * 2n >= divisor) q += 1n;
    const s = q.toString().padStart(places + 1, "0");
    int = s.slice(0, s.length - places);
    frac = s.slice(s.length - places);
  } else {
    frac = frac.padEnd(places, "0");
  }
  int = int.replace(/^0+(?=\d)/, "");
  return { neg: d.neg && !isZeroDigits(int + frac), int, frac };
}

/** "1234567" -> "1,234,567". */
export function group(intDigits) {
  return intDigits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function signOf(r, signed) {
  if (r.neg) return MINUS;
  if (signed && !isZeroDigits(r.int + r.frac)) return "+";
  return "";
}

/**
 * A number for display: `places` fixed decimals, or between `minPlaces` and `maxPlaces`
 * (trailing zeros beyond `minPlaces` dropped). `signed` puts "+" on positive values;
 * `prefix` goes between the sign and the digits ("$"), `suffix` after them ("%").
 */
export function formatDecimal(text, opts = {}) {
  const { places, signed = false, prefix = "", suffix = "", empty = "\u2014" } = opts;
  const maxPlaces = places ?? opts.maxPlaces ?? 2;
  const minPlaces = places ?? opts.minPlaces ?? 0;
  const r = roundDecimal(text, maxPlaces);
  if (!r) return text === null || text === undefined || text === "" ? empty : String(text);
  let frac = r.frac;
  while (frac.length > minPlaces && frac.endsWith("0")) frac = frac.slice(0, -1);
  const body = group(r.int) + (frac ? `.${frac}` : "");
  return `${signOf(r, signed)}${prefix}${body}${suffix}`;
}

/** Dollars with cents: "$1,234.50"; `signed` for P/L ("+$12.30", "−$4.00"). */
export function money(text, { signed = false } = {}) {
  return formatDecimal(text, { places: 2, signed, prefix: "$" });
}

/** A price: cents at least, up to 4 decimals (6 below one dollar, for cheap crypto). */
export function price(text) {
  const d = parseDecimal(text);
  const small = d && d.int === "0";
  return formatDecimal(text, { minPlaces: 2, maxPlaces: small ? 6 : 4, prefix: "$" });
}

/** A quantity as the engine has it (fractional crypto included), grouped: "1,200", "0.0235". */
export function quantity(text) {
  return formatDecimal(text, { minPlaces: 0, maxPlaces: 9 });
}

/** Move the decimal point `n` places right (exact): "0.01234" * 10^2 -> "1.234". */
export function shiftDecimal(text, n) {
  const d = parseDecimal(text);
  if (!d) return null;
  const frac = d.frac.padEnd(n, "0");
  const int = (d.int + frac.slice(0, n)).replace(/^0+(?=\d)/, "");
  const rest = frac.slice(n);
  return `${d.neg ? "-" : ""}${int}${rest ? `.${rest}` : ""}`;
}

/** A fraction as a percentage: "0.01234" -> "+1.23%". */
export function percent(fractionText, { signed = true } = {}) {
  const shifted = shiftDecimal(fractionText, 2);
  if (shifted === null) return "";
  return formatDecimal(shifted, { places: 2, signed, suffix: "%" });
}

function scaled(d, scale) {
  const digits = BigInt(d.int + d.frac.padEnd(scale, "0"));
  return d.neg ? -digits : digits;
}

/** a - b, exactly, as a decimal string (null when either is not a number). */
export function subtract(a, b) {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  if (!x || !y) return null;
  const scale = Math.max(x.frac.length, y.frac.length);
  const diff = scaled(x, scale) - scaled(y, scale);
  const neg = diff < 0n;
  const s = (neg ? -diff : diff).toString().padStart(scale + 1, "0");
  const int = s.slice(0, s.length - scale);
  const frac = s.slice(s.length - scale);
  return `${neg ? "-" : ""}${int}${frac ? `.${frac}` : ""}`;
}

/** Compare two decimal strings exactly: -1, 0 or 1. */
export function compare(a, b) {
  return sign(subtract(a, b));
}

const STAMP = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2})?/;

/** "2024-01-03T14:31:02.5Z" -> "2024-01-03 14:31:02 UTC" (the API's times are UTC). */
export function dateTime(iso) {
  const m = STAMP.exec(iso || "");
  return m ? `${m[1]} ${m[2]}${m[3] || ":00"} UTC` : iso || "";
}

/** "2024-01-03T14:31:02Z" -> "14:31:02". */
export function timeOfDay(iso) {
  const m = STAMP.exec(iso || "");
  return m ? `${m[2]}${m[3] || ":00"}` : iso || "";
}

/** "2024-01-03T14:31:02Z" -> "2024-01-03". */
export function dateOf(iso) {
  const m = STAMP.exec(iso || "");
  return m ? m[1] : "";
}
