// el builds an element: attributes (on* are listeners) and children
// (strings become text nodes, never HTML: manifests and results come from
// services, and nothing they say may become markup).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) e.append(c);
  }
  return e;
}

// leaving holds what the current screen must undo when another replaces
// it (a subscription to end).
let leaving = [];

// onLeave runs fn when the current screen is left.
export function onLeave(fn) {
  leaving.push(fn);
}

// leave runs the current screen's onLeave functions.
export function leave() {
  const fns = leaving;
  leaving = [];
  for (const fn of fns) fn();
}

// show replaces the main view.
export function show(...children) {
  const main = document.getElementById("main");
  main.replaceChildren(...children);
  main.querySelector("[autofocus]")?.focus();
}
