// Pairing codes, as trust/code.go writes them: 20 Crockford base32
// characters; the first 8 are a 40-bit one-time secret, the other 12 the
// first 60 bits of the SHA-256 fingerprint of the hub's CA (DER).

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CHARS = 20;
const SECRET_BYTES = 5;

// parseCode reads a code as a person typed it (case, dashes and spaces
// do not matter; O, I and L are 0, 1 and 1), as trust.ParseCode does.
// It throws an Error saying what is wrong.
export function parseCode(text) {
  let clean = "";
  for (let ch of text.toUpperCase()) {
    if (ch === "-" || ch === " ") continue;
    if (ch === "O") ch = "0";
    if (ch === "I" || ch === "L") ch = "1";
    clean += ch;
  }
  if (clean.length !== CHARS) {
    throw new Error(`a pairing code has ${CHARS} letters and digits, this has ${clean.length}`);
  }
  const bits = new Uint8Array(13);
  for (let i = 0; i < clean.length; i++) {
    const v = CROCKFORD.indexOf(clean[i]);
    if (v < 0) throw new Error(`"${clean[i]}" is not a character of pairing codes`);
    for (let k = 0; k < 5; k++) {
      if ((v >> (4 - k)) & 1) {
        const bit = i * 5 + k;
        bits[bit >> 3] |= 1 << (7 - (bit & 7));
      }
    }
  }
  const groups = clean.match(/.{5}/g).join("-");
  return { text: groups, secret: bits.slice(0, SECRET_BYTES), pin: bits.slice(SECRET_BYTES) };
}

const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

// proof is what the new device signs (trust.Code.Proof): the secret bound
// to the key being enrolled.
export function proof(code, publicKey) {
  return new TextEncoder().encode(`dpc-pair:${hex(code.secret)}:${publicKey}`);
}

// pins says whether the CA certificate (PEM) is the one the code names.
export async function pins(code, caPEM) {
  const b64 = caPEM.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const fp = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  const n = code.pin.length;
  for (let i = 0; i < n - 1; i++) if (fp[i] !== code.pin[i]) return false;
  return (fp[n - 1] & 0xf0) === code.pin[n - 1];
}
