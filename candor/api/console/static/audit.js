// Verify a log entry's inclusion proof in the browser: RFC 6962 / 9162 hashing with WebCrypto's
// SHA-256, the root checked against the checkpoint whose ECDSA P-256 signature WebCrypto verifies.
"use strict";

const enc = new TextEncoder();

function b64decode(text) {
  const raw = atob(text.trim());
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

// RFC 9162 section 2.1.3.2: the root implied by an inclusion proof.
async function rootFromProof(index, size, leaf, path) {
  if (index < 0 || index >= size) throw new Error(`leaf ${index} is outside a tree of ${size}`);
  let fn = index, sn = size - 1, r = leaf;
  for (const p of path) {
    if (sn === 0) throw new Error("the audit path is too long");
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error("the audit path is too short");
  return r;
}

function equal(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

// DER ECDSA signature -> the raw r||s (64 bytes) WebCrypto verifies.
function derToRaw(der) {
  let at = 2;
  if (der[0] !== 0x30) throw new Error("signature is not DER");
  if (der[1] & 0x80) at = 2 + (der[1] & 0x7f);
  const out = new Uint8Array(64);
  for (let k = 0; k < 2; k++) {
    if (der[at] !== 0x02) throw new Error("signature is not DER");
    let len = der[at + 1];
    let value = der.slice(at + 2, at + 2 + len);
    at += 2 + len;
    while (value.length > 32 && value[0] === 0) value = value.slice(1);
    out.set(value, 32 * k + (32 - value.length));
  }
  return out;
}

function parseCheckpoint(note) {
  const split = note.indexOf("\n\n");
  if (split < 0) throw new Error("checkpoint has no signature");
  const body = note.slice(0, split + 1);
  const [origin, size, root] = body.split("\n");
  const sigLine = note.slice(split + 2).split("\n")[0];
  const match = /^\u2014 (\S+) (\S+)$/.exec(sigLine);
  if (!match) throw new Error("checkpoint signature line is malformed");
  const blob = b64decode(match[2]);
  return { body: enc.encode(body), origin, size: Number(size), root: b64decode(root), keyName: match[1], signature: derToRaw(blob.slice(4)) };
}

async function importPem(pem) {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return crypto.subtle.importKey("spki", b64decode(b64), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
}

async function verify(form) {
  const result = document.getElementById("verify-result");
  const steps = document.getElementById("verify-steps");
  steps.textContent = "";
  result.className = "";
  result.textContent = "Verifying…";
  const step = (text) => { const li = document.createElement("li"); li.textContent = text; steps.appendChild(li); };
  try {
    const response = await fetch(form.dataset.proofUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    const proof = await response.json();
    const entry = enc.encode(document.getElementById("entry-bytes").value);
    const checkpoint = parseCheckpoint(proof.checkpoint.note);
    if (!proof.checkpoint.public_key_pem) throw new Error("the log has no checkpoint key to check against");
    const key = await importPem(proof.checkpoint.public_key_pem);
    const signed = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, checkpoint.signature, checkpoint.body);
    if (!signed) throw new Error("the checkpoint's signature does not verify");
    step(`Checkpoint signature verified (ECDSA P-256, key "${checkpoint.keyName}"): ${checkpoint.origin}, ${checkpoint.size} entries, ${proof.checkpoint.timestamp}`);
    if (proof.tree_size !== checkpoint.size) throw new Error("the proof is for another tree size than the checkpoint");
    const leaf = await leafHash(entry);
    step(`Leaf hash SHA-256(0x00 || entry) computed here from ${entry.length} bytes`);
    const root = await rootFromProof(proof.leaf_index, proof.tree_size, leaf, proof.audit_path.map(b64decode));
    step(`Folded ${proof.audit_path.length} audit-path hashes up to a root`);
    if (!equal(root, checkpoint.root)) throw new Error("the entry does not lead to the signed root: it is not the entry the log committed to (tampered)");
    result.className = "ok";
    result.textContent = `Verified: entry ${proof.leaf_index} is in the signed log of ${checkpoint.size} entries.`;
  } catch (err) {
    result.className = "error";
    result.textContent = `Verification FAILED: ${err.message}`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("verify-form");
  if (!form) return;
  if (!window.crypto || !crypto.subtle) {
    document.getElementById("verify-result").textContent = "This browser offers no WebCrypto here (it needs https or localhost).";
    return;
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); verify(form); });
});
