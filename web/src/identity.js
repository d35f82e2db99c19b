// The browser's identity: its key pair, made here (the seed never leaves
// the browser), and the credentials the hub issued at pairing. Kept in
// localStorage under this origin: nats.js needs the raw seed to sign the
// server's nonce, so a non-extractable WebCrypto key would not do, and
// IndexedDB would keep the same bytes with the same protection, only
// asynchronously (see docs/ARCHITECTURE.md, "The web app").

import { createUser, fromSeed } from "@nats-io/nkeys";
import { jwtAuthenticator, wsconnect } from "@nats-io/nats-core";
import { parseCode, pins, proof } from "./code.js";
import { call } from "./call.js";

const KEY = "dpc.identity";

// hubURL is the hub's WebSocket proxy, on the page's own origin.
export const hubURL = () => `wss://${location.host}/nats`;

export function load() {
  try {
    const id = JSON.parse(localStorage.getItem(KEY) || "null");
    return id && id.jwt && id.seed ? id : null;
  } catch {
    return null;
  }
}

export function forget() {
  localStorage.removeItem(KEY);
}

// pair trades the code for credentials, as trust.Pair does: a new key
// pair, a guest connection (the server puts it in the PAIRING account,
// where it may only call pairing.pair), the signed proof; then it checks
// that the CA the hub sends is the one the code pins.
export async function pair(codeText) {
  const code = parseCode(codeText);
  const kp = createUser();
  const pk = kp.getPublicKey();
  const sig = btoa(String.fromCharCode(...kp.sign(proof(code, pk))));
  let nc;
  try {
    nc = await wsconnect({ servers: hubURL(), name: "dpc-web-pair", reconnect: false, timeout: 10000 });
  } catch (err) {
    throw new Error(`the hub is not pairing now: the code has expired or was used (${err.message})`);
  }
  let rep;
  try {
    rep = await call(nc, "pairing", "pair", JSON.stringify({ code: code.text, public_key: pk, signature: sig }), 10000);
  } finally {
    await nc.close();
  }
  if (!(await pins(code, rep.ca_pem))) {
    throw new Error("the hub sent a CA other than the one the code names: this is not your hub");
  }
  const id = {
    name: rep.name,
    role: rep.role,
    jwt: rep.jwt,
    seed: new TextDecoder().decode(kp.getSeed()),
    public_key: pk,
    ca_pem: rep.ca_pem,
  };
  localStorage.setItem(KEY, JSON.stringify(id));
  return id;
}

// connect connects as the identity: its JWT, its seed signing the nonce,
// and the one inbox prefix its permissions allow.
export async function connect(id, onStatus) {
  const seed = new TextEncoder().encode(id.seed);
  fromSeed(seed); // throws on a damaged seed
  const nc = await wsconnect({
    servers: hubURL(),
    name: `dpc-web ${id.name}`,
    authenticator: jwtAuthenticator(id.jwt, seed),
    inboxPrefix: `_INBOX.${id.public_key}`,
    timeout: 10000,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 2000,
  });
  (async () => {
    for await (const s of nc.status()) onStatus?.(s.type);
  })();
  return nc;
}
