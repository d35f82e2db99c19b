// Logs: the latest records of every DPC process from the hub's window
// (logs.query, docs/PROTOCOL.md §14), then followed with the query's long
// poll (wait_ms) while the screen is open, as `dpc-cli logs -f` does.
// The page keeps at most KEEP records.

import { el, onLeave, show } from "./dom.js";
import { call } from "./call.js";

const KEEP = 500;
const PAGE = 100;

function record(r) {
  const attrs = Object.entries(r.attrs || {}).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
  return el("li", { class: `log ${String(r.level).toLowerCase().replace(/\+.*/, "")}`, "data-name": r.name },
    el("span", { class: "type", text: `${new Date(r.time).toLocaleTimeString()} ${r.level} ${r.kind}/${r.name}` }),
    el("span", { class: "msg", text: r.msg }),
    attrs ? el("span", { class: "attrs", text: attrs }) : null);
}

export async function logsScreen(nc) {
  const level = el("select", { id: "log-level" }, ["debug", "info", "warn", "error"].map((l) => el("option", { value: l, selected: l === "info", text: l })));
  const name = el("input", { id: "log-name", placeholder: "service or process name (all)", autocomplete: "off", autocapitalize: "off" });
  const list = el("ul", { id: "logs", class: "logs" });
  const problem = el("p", { class: "error", role: "alert" });
  let run = 0; // a new run (filters changed, screen left) ends the previous
  onLeave(() => run++);

  const follow = async () => {
    const mine = ++run;
    list.replaceChildren();
    const q = { level: level.value, name: name.value.trim(), limit: PAGE };
    let cursor;
    try {
      const first = await call(nc, "logs", "query", JSON.stringify([q]));
      if (mine !== run) return;
      list.append(...first.records.map(record));
      cursor = first.cursor;
      problem.textContent = "";
    } catch (err) {
      if (mine === run) problem.textContent = err.message;
      return;
    }
    while (mine === run) {
      try {
        const page = await call(nc, "logs", "query", JSON.stringify([{ ...q, after: cursor, wait_ms: 10000 }]), 15000);
        if (mine !== run) return;
        list.append(...page.records.map(record));
        cursor = page.cursor;
        while (list.childElementCount > KEEP) list.firstElementChild.remove();
      } catch (err) {
        if (mine !== run) return;
        problem.textContent = err.message;
        await new Promise((r) => setTimeout(r, 2000)); // the hub is back soon, or the screen is left
      }
    }
  };
  level.addEventListener("change", follow);
  name.addEventListener("change", follow);
  show(el("h2", { text: "Logs" }), el("div", { class: "filters" }, level, name), problem, list);
  follow();
}
