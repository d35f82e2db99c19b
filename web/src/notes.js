// Notes: the list, and one note to read, edit and save with the revision
// seen (docs/PROTOCOL.md §11, the hub's notes functions), as dpc-cli's
// notes commands do. A save from another device arrives as a change event
// (dpc.event.notes.<token>, *Live notes*): an unedited note reloads, an
// edited one says so, and saving then merges.

import { el, onLeave, show } from "./dom.js";
import { call, CallError } from "./call.js";

const MARKERS = /^(<<<<<<< |=======$|>>>>>>> )/m;

// token is the note's name as one subject token (notes.SubjectToken).
function token(name) {
  return [...new TextEncoder().encode(name)]
    .map((b) => (/[-_A-Za-z0-9]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : "=" + b.toString(16).toUpperCase().padStart(2, "0")))
    .join("");
}

// watch calls fn with each change event on subject until the screen is left.
function watch(nc, subject, fn) {
  const sub = nc.subscribe(subject);
  onLeave(() => sub.unsubscribe());
  (async () => {
    for await (const m of sub) {
      try {
        fn(m.json());
      } catch {
        // a malformed event is ignored; the next save sends another
      }
    }
  })();
}

// onReconnect runs fn after each reconnection until the screen is left.
function onReconnect(fn) {
  const h = () => fn();
  window.addEventListener("dpc-reconnect", h);
  onLeave(() => window.removeEventListener("dpc-reconnect", h));
}

const noteLink = (name) => `#note/${encodeURIComponent(name)}`;

export async function notesScreen(nc) {
  const list = el("nav", { class: "list", id: "notes" });
  const name = el("input", { id: "new-note", placeholder: "name of a new note", autocomplete: "off", enterkeyhint: "go" });
  const create = el("form", {
    class: "inline",
    onsubmit: (ev) => {
      ev.preventDefault();
      if (name.value.trim()) location.hash = noteLink(name.value.trim());
    },
  }, name, el("button", { type: "submit", text: "New note" }));
  const problem = el("p", { class: "error", role: "alert" });
  const refresh = async () => {
    try {
      const names = await call(nc, "hub", "list");
      list.replaceChildren(...names.map((n) => el("a", { class: "item", href: noteLink(n), "data-note": n, text: n })));
      if (names.length === 0) list.replaceChildren(el("p", { class: "muted", text: "No notes yet." }));
      problem.textContent = "";
    } catch (err) {
      problem.textContent = err.message;
    }
  };
  show(el("h2", { text: "Notes" }), create, problem, list);
  watch(nc, "dpc.event.notes.>", refresh);
  onReconnect(refresh);
  await refresh();
}

export async function noteScreen(nc, name) {
  let base = 0; // the revision the text was edited from
  let saved = ""; // the text of that revision
  const text = el("textarea", { id: "note-text", rows: 12, spellcheck: "true" });
  const status = el("p", { id: "note-status", role: "status" });
  const save = el("button", { id: "save", type: "submit", class: "primary", text: "Save" });
  const say = (msg, cls = "") => {
    status.textContent = msg;
    status.className = cls;
  };
  const dirty = () => text.value !== saved;
  // While a save or merge is in flight its own event may come before its
  // reply: events wait for it, then count only if newer than its result.
  let busy = false;
  let pending = null;

  const load = async (rev) => {
    const r = rev || (await call(nc, "hub", "revision", JSON.stringify([name])));
    const t = await call(nc, "hub", "get", JSON.stringify([name, r]));
    base = r;
    saved = text.value = t;
  };

  const submit = async (ev) => {
    ev.preventDefault();
    if (MARKERS.test(text.value)) {
      return say("The note still has conflict markers (<<<<<<<, =======, >>>>>>>): keep the lines you want, delete the markers, then save.", "error");
    }
    save.disabled = true;
    busy = true;
    const content = text.value;
    try {
      const rev = await call(nc, "hub", "save", JSON.stringify([name, content, base]));
      base = rev;
      saved = content;
      say(`Saved: revision ${rev}.`, "ok");
    } catch (err) {
      if (!(err instanceof CallError && err.code === 409)) {
        say(err.message, "error");
      } else {
        await merge(content);
      }
    } finally {
      save.disabled = false;
      busy = false;
      if (pending) {
        const ev = pending;
        pending = null;
        await changed(ev);
      }
    }
  };

  // merge is what a 409 leads to: the hub merges the edit with the latest
  // revision; if both changed the same lines, the text with conflict
  // markers comes back to resolve, based on that latest revision.
  const merge = async (content) => {
    try {
      const rev = await call(nc, "hub", "merge", JSON.stringify([name, content, base]));
      await load(rev);
      say(`Merged with the other device's changes: revision ${rev}.`, "ok");
    } catch (err) {
      if (!(err instanceof CallError && err.code === 409)) return say(err.message, "error");
      const latest = await call(nc, "hub", "revision", JSON.stringify([name]));
      const preview = await call(nc, "hub", "merge_preview", JSON.stringify([name, content, base, latest]));
      saved = await call(nc, "hub", "get", JSON.stringify([name, latest]));
      base = latest;
      text.value = preview;
      say(`Another device changed the same lines (revision ${latest}). Resolve each marked conflict — keep the lines you want and delete the <<<<<<<, ======= and >>>>>>> lines — then save.`, "conflict");
    }
  };

  const back = el("a", { class: "back", href: "#notes", text: "‹ Notes" });
  show(back, el("h2", { text: name }), el("form", { id: "note-form", onsubmit: submit }, text, save), status);
  const changed = async (ev) => {
    if (busy) {
      if (!pending || ev.revision > pending.revision) pending = ev;
      return;
    }
    if (ev.name !== name || (!ev.deleted && ev.revision <= base)) return; // a repeat, or ours
    if (ev.deleted) return say("This note was deleted on another device; saving makes it again.", "conflict");
    if (!dirty()) {
      await load(ev.revision);
      say(`Updated from another device: revision ${ev.revision}.`, "ok");
    } else {
      say(`Changed on another device (revision ${ev.revision}). Saving merges your edit with it.`, "conflict");
    }
  };
  watch(nc, `dpc.event.notes.${token(name)}`, changed);
  onReconnect(async () => {
    try {
      changed({ name, revision: await call(nc, "hub", "revision", JSON.stringify([name])) });
    } catch {
      // not saved yet, or the hub is busy: the next event tells
    }
  });
  try {
    await load();
    say(`Revision ${base}.`);
  } catch (err) {
    if (err instanceof CallError && err.code === 404) {
      base = 0;
      saved = "";
      say("A new note: it is made when you save.");
    } else {
      say(err.message, "error");
    }
  }
}
