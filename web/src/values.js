// Typed values, as manifests.ParseValue reads what a person types and
// manifests.FormatValue shows a result (manifests/README.md, "Typing
// values"): the same rules, so that a mistake is shown at its field before
// anything is sent. Values become JSON text, not JavaScript numbers: an
// int is 64 bits, more than a JavaScript number holds exactly.

const INT_MIN = -(2n ** 63n);
const INT_MAX = 2n ** 63n - 1n;
const EXAMPLES = { int: "1, 2, 3", float: "2.5, 3", char: "a, b", string: "x, y", bool: "true, false", bytes: "x, y" };
const JSON_EXAMPLES = { int: "1, 2, 3", float: "2.5, 3", char: '"a", "b"', string: '"x", "y"', bool: "true, false", bytes: '"x", "y"' };

const quote = (s) => JSON.stringify(s);
const utf8b64 = (s) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));

export const isList = (t) => t.endsWith("_list");
export const elem = (t) => (isList(t) ? t.slice(0, -5) : t);

// parseScalar returns the JSON text of s as type t, or throws.
function parseScalar(t, s) {
  const trimmed = s.trim();
  switch (t) {
    case "int": {
      if (!/^[+-]?\d+$/.test(trimmed)) throw new Error(`want a whole number, like 42; got ${quote(s)}`);
      const n = BigInt(trimmed);
      if (n < INT_MIN || n > INT_MAX) throw new Error(`${trimmed} is out of range: a whole number from ${INT_MIN} to ${INT_MAX}`);
      return n.toString();
    }
    case "float": {
      if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed)) {
        const f = Number(trimmed);
        if (!Number.isFinite(f)) throw new Error(`${trimmed} is out of range for a 64-bit float`);
        return JSON.stringify(f);
      }
      if (/^[^.]*,[^.,]*$/.test(trimmed)) throw new Error(`want a number with a decimal point, like 2.5; got ${quote(s)}`);
      throw new Error(`want a number, like 2.5 or -3 or 1e-3; got ${quote(s)}`);
    }
    case "char": {
      let c = [...s];
      if (c.length !== 1) c = [...trimmed];
      if (c.length === 1) return quote(c[0]);
      if (c.length === 0) throw new Error("want exactly one character, like x; got nothing");
      throw new Error(`want exactly one character, like x; got ${quote(s)} (${c.length} characters)`);
    }
    case "string":
      return quote(s);
    case "bool":
      switch (trimmed.toLowerCase()) {
        case "true": case "yes": case "y": return "true";
        case "false": case "no": case "n": return "false";
      }
      throw new Error(`want true or false (or yes or no); got ${quote(s)}`);
    case "bytes":
      return quote(utf8b64(s));
  }
  throw new Error(`the web app cannot send a ${t}`);
}

// parseValue returns the JSON text of what was typed for type t, or
// throws an Error saying what is wrong.
export function parseValue(t, s) {
  if (t === "stream") throw new Error("a stream is sent from a file: use dpc-cli (@PATH)");
  if (!isList(t)) return parseScalar(t, s);
  const e = elem(t);
  const trimmed = s.trim();
  const form = `a list of ${e} separated by commas, like ${EXAMPLES[e]}, or a JSON array, like [${JSON_EXAMPLES[e]}]`;
  const items = [];
  if (trimmed.startsWith("[")) {
    let raw;
    try {
      raw = JSON.parse(trimmed);
      if (!Array.isArray(raw)) throw new Error("not an array");
    } catch (err) {
      throw new Error(`want ${form}; this starts like a JSON array but is not one (${err.message})`);
    }
    raw.forEach((r, i) => {
      try {
        if (typeof r === "string") items.push(parseScalar(e, r));
        else if (r !== null && (typeof r === "number" || typeof r === "boolean")) items.push(parseScalar(e, String(r)));
        else throw new Error(`want ${e}; got ${JSON.stringify(r)}`);
      } catch (err) {
        throw new Error(`item ${i + 1}: ${err.message}`);
      }
    });
  } else if (trimmed !== "") {
    trimmed.split(",").forEach((item, i) => {
      item = item.trim();
      if (item === "") throw new Error(`item ${i + 1} is empty; want ${form}`);
      try {
        items.push(parseScalar(e, item));
      } catch (err) {
        throw new Error(`item ${i + 1}: ${err.message} (a list is ${form})`);
      }
    });
  }
  return `[${items.join(",")}]`;
}

// formatValue shows a result (JSON text) for a person.
export function formatValue(t, text) {
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    return text;
  }
  if (v === null) return isList(t) ? "[]" : "";
  if (typeof v === "string") return t === "bytes" ? decodeBytes(v) : v;
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    if (v.every((x) => typeof x !== "string" || (x !== "" && x === x.trim() && !/[,\n\r]/.test(x)))) {
      return v.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(", ");
    }
    return JSON.stringify(v);
  }
  // Numbers as sent: an int beyond 2^53 would lose digits through Number.
  return typeof v === "number" ? text.trim() : JSON.stringify(v);
}

function decodeBytes(b64) {
  try {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return `${b64} (base64)`;
  }
}
