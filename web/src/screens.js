// The screens: applications, an application's functions, a function's
// form and result. Each reads the catalog (docs/PROTOCOL.md §11) as the
// device, as dpc-cli's menus do.

import { el, show } from "./dom.js";
import { call, callRaw, CallError, NotAvailable } from "./call.js";
import { formatValue, parseValue, isList, elem } from "./values.js";

const failure = (err) => el("p", { class: "error", role: "alert", text: err.message || String(err) });

export async function appsScreen(nc) {
  show(el("h2", { text: "Applications" }), el("p", { class: "muted", text: "Loading…" }));
  let apps;
  try {
    apps = await call(nc, "catalog", "apps");
  } catch (err) {
    return show(el("h2", { text: "Applications" }), failure(err));
  }
  show(
    el("h2", { text: "Applications" }),
    apps.length === 0 ? el("p", { class: "muted", text: "No service is running." }) : null,
    el("nav", { class: "list" }, apps.map((a) => el("a", { class: "item", href: `#app/${encodeURIComponent(a)}`, "data-app": a, text: a }))),
  );
}

export async function appScreen(nc, app) {
  const title = el("h2", { text: app });
  const back = el("a", { class: "back", href: "#apps", text: "‹ Applications" });
  show(back, title, el("p", { class: "muted", text: "Loading…" }));
  let fns;
  try {
    fns = await call(nc, "catalog", "funcs", JSON.stringify([app]));
  } catch (err) {
    return show(back, title, failure(err));
  }
  show(
    back,
    title,
    el("nav", { class: "list" }, fns.map((f) =>
      el("a", { class: "item", href: `#fn/${encodeURIComponent(app)}/${encodeURIComponent(f.name)}`, "data-fn": f.name },
        el("span", { class: "name", text: f.name }),
        el("span", { class: "desc", text: f.function.description || "" }),
        el("span", { class: "badge", text: f.asleep ? "asleep" : f.instances === 1 ? "1 instance" : `${f.instances} instances` })))),
  );
}

// input is the control for one argument, by its type.
function input(arg) {
  const t = arg.arg_type;
  const id = `arg-${arg.arg_name}`;
  const common = { id, name: arg.arg_name, "data-type": t, "aria-describedby": `err-${arg.arg_name}`, autocomplete: "off", autocapitalize: "off", spellcheck: "false" };
  if (t === "bool") return el("input", { ...common, type: "checkbox", class: "toggle" });
  if (t === "stream") return el("input", { ...common, type: "text", disabled: true, placeholder: "a file: use dpc-cli (@PATH)" });
  if (t === "string" || t === "bytes") return el("textarea", { ...common, rows: 2 });
  const mode = { int: "numeric", float: "decimal" }[elem(t)];
  const placeholder = isList(t) ? `items separated by commas` : { int: "a whole number", float: "a number", char: "one character" }[t];
  return el("input", { ...common, type: "text", inputmode: isList(t) ? undefined : mode, placeholder, enterkeyhint: "go" });
}

// value is the JSON text of an argument's control, or throws.
function value(arg, control) {
  if (arg.arg_type === "bool") return control.checked ? "true" : "false";
  return parseValue(arg.arg_type, control.value);
}

export async function functionScreen(nc, app, name) {
  const back = el("a", { class: "back", href: `#app/${encodeURIComponent(app)}`, text: `‹ ${app}` });
  show(back, el("h2", { text: name }), el("p", { class: "muted", text: "Loading…" }));
  let entry;
  try {
    entry = await call(nc, "catalog", "describe", JSON.stringify([name]));
  } catch (err) {
    return show(back, el("h2", { text: name }), failure(err));
  }
  const fn = entry.function;
  const args = fn.args_list || [];
  const controls = new Map();
  const errors = new Map();
  const result = el("output", { id: "result", "aria-live": "polite" });

  // check shows the argument's error at its field; true if it is good.
  const check = (arg) => {
    const e = errors.get(arg.arg_name);
    try {
      value(arg, controls.get(arg.arg_name));
      e.textContent = "";
      controls.get(arg.arg_name).removeAttribute("aria-invalid");
      return true;
    } catch (err) {
      e.textContent = err.message;
      controls.get(arg.arg_name).setAttribute("aria-invalid", "true");
      return false;
    }
  };

  const fields = args.map((arg) => {
    const c = input(arg);
    controls.set(arg.arg_name, c);
    const err = el("p", { class: "field-error", id: `err-${arg.arg_name}`, role: "alert" });
    errors.set(arg.arg_name, err);
    c.addEventListener("input", () => {
      check(arg);
      result.replaceChildren(); // the result was of other arguments
      result.className = "";
    });
    return el("div", { class: "field" },
      el("label", { for: c.id },
        el("span", { class: "label", text: arg.arg_description || arg.arg_name }),
        el("span", { class: "type", text: `${arg.arg_name} · ${arg.arg_type}` })),
      c, err);
  });

  const submit = async (ev) => {
    ev.preventDefault();
    const good = args.map(check).every(Boolean);
    result.className = "";
    if (!good) {
      result.textContent = "";
      return;
    }
    const body = `[${args.map((a) => value(a, controls.get(a.arg_name))).join(",")}]`;
    result.textContent = "Calling…";
    button.disabled = true;
    try {
      const text = await callRaw(nc, entry.service, fn.funct_name, body, 30000);
      result.className = "ok";
      result.replaceChildren(el("span", { class: "label", text: "Result" }), el("span", { class: "value", text: formatValue(fn.return_type || "", text) || "done" }));
    } catch (err) {
      if (err instanceof NotAvailable) {
        result.className = "unavailable";
        result.textContent = `Not available: no instance of ${entry.service} answers.`;
      } else if (err instanceof CallError && err.code === 400 && showAtFields(err.message, errors)) {
        result.className = "error";
        result.textContent = "The service refused the arguments: see above.";
      } else {
        result.className = "error";
        result.textContent = err instanceof CallError ? `Error ${err.code}: ${err.message}` : err.message || String(err);
      }
    } finally {
      button.disabled = false;
    }
  };
  const button = el("button", { id: "call", type: "submit", class: "primary", text: "Call" });
  show(
    back,
    el("h2", { text: name }),
    fn.description ? el("p", { class: "desc", text: fn.description }) : null,
    el("form", { id: "call-form", novalidate: true, onsubmit: submit }, fields, button),
    result,
  );
}

// showAtFields puts each part of a 400's description naming an argument
// ('add: argument "a" (int): got "x", a string; …') at that field.
function showAtFields(description, errors) {
  let shown = false;
  for (const part of description.split("; ")) {
    const m = /argument "([^"]+)"/.exec(part);
    if (m && errors.has(m[1])) {
      errors.get(m[1]).textContent = part;
      shown = true;
    }
  }
  return shown;
}
