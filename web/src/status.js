// Status: services, their instances and load, from catalog.services
// (docs/PROTOCOL.md §11; the load is each instance's $SRV.STATS), as
// `dpc-cli status` shows it. Read again every two seconds while the
// screen is open: one call, whatever the number of services.

import { el, onLeave, show } from "./dom.js";
import { call } from "./call.js";

const EVERY = 2000;

const plural = (n, what) => `${n} ${what}${n === 1 ? "" : "s"}`;
const ms = (s) => (s >= 1 ? `${s.toFixed(2)} s` : `${Math.round(s * 1000)} ms`);

function service(s) {
  const head = el("div", { class: "svc-head" },
    el("span", { class: "name", text: s.name }),
    el("span", { class: "badge", text: s.asleep ? "asleep" : `${s.instances.length} instance${s.instances.length === 1 ? "" : "s"}` }),
    el("span", { class: "type", text: s.version ? `v${s.version}` : "" }));
  const rows = s.instances.map((i) =>
    el("li", { class: "instance", "data-instance": i.id },
      el("span", { class: "type", text: `${i.id.slice(0, 8)}… on ${i.host}` }),
      el("span", { text: `${plural(i.requests, "call")}, ${plural(i.errors, "error")}, ${i.in_flight} running, ${i.backlog} queued, queue wait p90 ${ms(i.queue_wait_p90_s || 0)}` })));
  return el("section", { class: "item svc", "data-service": s.name }, head, s.description ? el("span", { class: "desc", text: s.description }) : null, el("ul", {}, rows));
}

export async function statusScreen(nc) {
  const list = el("div", { class: "list", id: "services" });
  const note = el("p", { class: "muted", id: "status-time" });
  show(el("h2", { text: "Status" }), note, list);
  let stopped = false;
  let timer = null;
  onLeave(() => {
    stopped = true;
    clearTimeout(timer);
  });
  const refresh = async () => {
    try {
      const services = await call(nc, "catalog", "services");
      if (stopped) return;
      list.replaceChildren(...services.map(service));
      note.className = "muted";
      note.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
    } catch (err) {
      if (stopped) return;
      note.className = "error";
      note.textContent = err.message;
    }
    if (!stopped) timer = setTimeout(refresh, EVERY);
  };
  await refresh();
}
