// The DPC web app: a device of the hub, like dpc-cli, talking NATS over
// WebSocket to the hub that served it (docs/ARCHITECTURE.md, "The web
// app"). Screens are chosen by the URL's fragment, so the phone's back
// button works: #pair=CODE, #apps, #app/NAME, #fn/APP/SERVICE.FUNCTION.

import { el, leave, show } from "./dom.js";
import { connect, forget, load, pair } from "./identity.js";
import { appScreen, appsScreen, functionScreen } from "./screens.js";
import { noteScreen, notesScreen } from "./notes.js";
import { statusScreen } from "./status.js";
import { logsScreen } from "./logs.js";

let nc = null;

function setStatus(text, cls) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = cls;
}

function pairScreen(prefill = "", message = "") {
  const status = el("p", { id: "pair-status", role: "alert", class: message ? "error" : "", text: message });
  const code = el("input", {
    id: "code", name: "code", value: prefill, autocomplete: "off", autocapitalize: "characters", spellcheck: "false",
    placeholder: "7KQ2M-XD4PA-…", autofocus: true, enterkeyhint: "go",
  });
  const button = el("button", { id: "pair-btn", type: "submit", class: "primary", text: "Pair" });
  const submit = async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    status.className = "";
    status.textContent = "Pairing…";
    try {
      const id = await pair(code.value);
      history.replaceState(null, "", "#apps");
      await start(id);
    } catch (err) {
      status.className = "error";
      status.textContent = err.message;
      button.disabled = false;
    }
  };
  setStatus("not paired", "off");
  show(
    el("h2", { text: "Pair this device" }),
    el("p", { text: "On a computer paired as the owner, run" }),
    el("pre", { text: "dpc-cli devices add phone" }),
    el("p", { text: "and type the code it prints here." }),
    el("form", { id: "pair-form", onsubmit: submit },
      el("label", { for: "code", class: "label", text: "Pairing code" }), code, button),
    status,
  );
}

function route() {
  if (!nc) return;
  leave();
  const [screen, ...rest] = location.hash.replace(/^#/, "").split("/").map(decodeURIComponent);
  tabs(screen === "note" ? "notes" : ["notes", "status", "logs"].includes(screen) ? screen : "apps");
  if (screen === "status") return statusScreen(nc);
  if (screen === "logs") return logsScreen(nc);
  if (screen === "notes") return notesScreen(nc);
  if (screen === "note" && rest.length === 1) return noteScreen(nc, rest[0]);
  if (screen === "app" && rest.length === 1) return appScreen(nc, rest[0]);
  if (screen === "fn" && rest.length === 2) return functionScreen(nc, rest[0], rest[1]);
  return appsScreen(nc);
}

// tabs shows the screens' tabs, current marked.
function tabs(current) {
  const nav = document.getElementById("tabs");
  nav.replaceChildren(
    el("a", { href: "#apps", id: "tab-apps", "aria-current": current === "apps" ? "page" : undefined, text: "Apps" }),
    el("a", { href: "#notes", id: "tab-notes", "aria-current": current === "notes" ? "page" : undefined, text: "Notes" }),
    el("a", { href: "#status", id: "tab-status", "aria-current": current === "status" ? "page" : undefined, text: "Status" }),
    el("a", { href: "#logs", id: "tab-logs", "aria-current": current === "logs" ? "page" : undefined, text: "Logs" }),
  );
}

async function start(id) {
  setStatus("connecting…", "off");
  try {
    nc = await connect(id, (type) => {
      if (type === "disconnect") setStatus(`${id.name} · reconnecting…`, "off");
      if (type === "reconnect") {
        setStatus(`${id.name} · connected`, "on");
        // Events sent while disconnected are lost: the screen catches up.
        window.dispatchEvent(new Event("dpc-reconnect"));
      }
    });
  } catch (err) {
    setStatus("not connected", "off");
    show(
      el("p", { class: "error", role: "alert", text: `Cannot connect to the hub as ${id.name}: ${err.message}` }),
      el("button", { class: "primary", onclick: () => start(id), text: "Try again" }),
      el("button", { onclick: unpair, text: "Forget this pairing" }),
    );
    return;
  }
  setStatus(`${id.name} · connected`, "on");
  nc.closed().then(() => setStatus(`${id.name} · disconnected`, "off"));
  route();
}

async function unpair() {
  leave();
  if (nc) await nc.close().catch(() => {});
  nc = null;
  document.getElementById("tabs").replaceChildren();
  forget();
  pairScreen();
}

window.addEventListener("hashchange", () => {
  const m = /^#pair=(.+)$/.exec(location.hash);
  if (m && !load()) return pairScreen(decodeURIComponent(m[1]));
  route();
});

const id = load();
const m = /^#pair=(.+)$/.exec(location.hash);
if (id) start(id);
else pairScreen(m ? decodeURIComponent(m[1]) : "");
