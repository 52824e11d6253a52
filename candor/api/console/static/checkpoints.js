// Check in the browser that the log's latest signed checkpoint extends one saved earlier: both
// signatures with WebCrypto (ECDSA P-256), then the RFC 9162 section 2.1.4.2 consistency proof
// folded with WebCrypto's SHA-256. Uses parseCheckpoint, importPem, nodeHash, b64decode and equal
// from audit.js (loaded first).
"use strict";

// The old root and the new root implied by a consistency proof must both come out right.
async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  if (oldSize < 1 || newSize < oldSize) throw new Error(`no consistency proof from ${oldSize} to ${newSize} entries`);
  if (oldSize === newSize) {
    if (proof.length !== 0) throw new Error("equal sizes need an empty proof");
    if (!equal(oldRoot, newRoot)) throw new Error(`the log signed two different roots for ${oldSize} entries: it forked (a split view)`);
    return;
  }
  if (proof.length === 0) throw new Error("an empty proof for different sizes");
  const path = [...proof];
  if ((oldSize & (oldSize - 1)) === 0) path.unshift(oldRoot); // a perfect old tree is its own first node
  let fn = oldSize - 1, sn = newSize - 1;
  while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) throw new Error("the consistency proof is too long");
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error("the consistency proof is too short");
  if (!equal(fr, oldRoot)) throw new Error(`the log's first ${oldSize} entries do not hash to your saved root: the history you saved was rewritten, or the log forked`);
  if (!equal(sr, newRoot)) throw new Error("the proof does not lead to the latest signed root");
}

const signedAt = (note) => (/\ntimestamp (\S+)\n/.exec(note) || [null, "an unknown time"])[1];

async function verifyNote(note, pem, what) {
  const checkpoint = parseCheckpoint(note);
  const key = await importPem(pem);
  const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, checkpoint.signature, checkpoint.body);
  if (!ok) throw new Error(`${what}'s signature does not verify: it is not what the log signed (edited?)`);
  return checkpoint;
}

async function checkConsistency(form) {
  const result = document.getElementById("consistency-result");
  const steps = document.getElementById("consistency-steps");
  steps.textContent = "";
  result.className = "";
  result.textContent = "Checking…";
  const step = (text) => { const li = document.createElement("li"); li.textContent = text; steps.appendChild(li); };
  try {
    let saved;
    try { saved = JSON.parse(document.getElementById("saved-checkpoint").value); } catch (err) { throw new Error("the saved checkpoint is not JSON"); }
    if (!saved || typeof saved.note !== "string" || typeof saved.public_key_pem !== "string") {
      throw new Error("this is not a saved Candor checkpoint (it needs note and public_key_pem)");
    }
    const old = await verifyNote(saved.note, saved.public_key_pem, "the saved checkpoint");
    step(`Saved checkpoint signature verified (ECDSA P-256, key "${old.keyName}"): ${old.origin}, ${old.size} entries, signed ${signedAt(saved.note)}`);
    const response = await fetch(`${form.dataset.consistencyUrl}?first=${old.size}`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.detail || `the server answered ${response.status}`);
    }
    const answer = await response.json();
    if (!answer.checkpoint.public_key_pem) throw new Error("the log has no checkpoint key to check against");
    const latest = await verifyNote(answer.checkpoint.note, answer.checkpoint.public_key_pem, "the latest checkpoint");
    step(`Latest checkpoint signature verified: ${latest.size} entries, signed ${signedAt(answer.checkpoint.note)}`);
    if (saved.public_key_pem.replace(/\s+/g, "") !== answer.checkpoint.public_key_pem.replace(/\s+/g, "")) {
      step("Note: the log's checkpoint key changed since you saved yours; each was checked with its own key.");
    }
    if (old.origin !== latest.origin) throw new Error(`the saved checkpoint is of another log (${old.origin})`);
    if (answer.first !== old.size || answer.second !== latest.size) throw new Error("the proof is for other sizes than the two checkpoints");
    const proof = answer.consistency.map(b64decode);
    await verifyConsistency(old.size, latest.size, old.root, latest.root, proof);
    step(`Folded ${proof.length} proof hashes here: they give both your saved root and the latest root`);
    result.className = "ok";
    result.textContent = `Consistent: the log of ${latest.size} entries extends your saved checkpoint of ${old.size}; none of those ${old.size} entries was changed or removed.`;
  } catch (err) {
    result.className = "error";
    result.textContent = `Consistency check FAILED: ${err.message}`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("consistency-form");
  if (!form) return;
  if (!window.crypto || !crypto.subtle) {
    document.getElementById("consistency-result").textContent = "This browser offers no WebCrypto here (it needs https or localhost).";
    return;
  }
  document.getElementById("saved-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) document.getElementById("saved-checkpoint").value = await file.text();
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); checkConsistency(form); });
});
