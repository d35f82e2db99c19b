// Calls to omq functions (docs/PROTOCOL.md §2-4): a request on
// dpc.svc.<service>.<function> with the arguments as a JSON array; an
// error is a reply with the Nats-Service-Error headers.

import { headers, NoRespondersError } from "@nats-io/nats-core";

// CallError is an error reply: code and the service's description.
export class CallError extends Error {
  constructor(code, description) {
    super(description);
    this.code = code;
  }
}

// NotAvailable: no instance of the service answered (no responders).
export class NotAvailable extends Error {}

// callRaw sends body (JSON text) and returns the reply's JSON text.
export async function callRaw(nc, service, fn, body, timeout = 10000) {
  const h = headers();
  const now = BigInt(Date.now()) * 1000000n;
  h.set("Dpc-Sent", String(now));
  // The time left, not a deadline: the phone's clock may not be the
  // instance's (docs/PROTOCOL.md §2).
  h.set("Dpc-Timeout", String(BigInt(timeout) * 1000000n));
  let m;
  try {
    m = await nc.request(`dpc.svc.${service}.${fn}`, body, { timeout, headers: h });
  } catch (err) {
    if (err instanceof NoRespondersError || err?.isNoResponders?.() || err?.cause instanceof NoRespondersError) {
      throw new NotAvailable(`${service}.${fn} is not available: no instance answers`);
    }
    throw err;
  }
  const code = m.headers?.get("Nats-Service-Error-Code");
  if (code || m.headers?.get("Nats-Service-Error")) {
    throw new CallError(Number(code) || 500, m.headers.get("Nats-Service-Error"));
  }
  return m.data.length ? m.string() : "null";
}

// call is callRaw with the result parsed.
export async function call(nc, service, fn, body = "[]", timeout) {
  return JSON.parse(await callRaw(nc, service, fn, body, timeout));
}
