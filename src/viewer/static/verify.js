// Verify an event in the browser, with WebCrypto only: its leaf is in the signed tree
// (RFC 9162 inclusion proof, SHA-256) and the checkpoint is signed by the log's key
// (C2SP signed note, Ed25519). Nothing here trusts the page's own server beyond the bytes.

const encoder = new TextEncoder();

function fromBase64(text) {
  const binary = atob(text);
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

function toHex(bytes) {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const equal = (a, b) => a.length === b.length && a.every((byte, i) => byte === b[i]);
const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
const leafHash = (leaf) => sha256(concat(Uint8Array.of(0), leaf));
const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

class NotVerified extends Error {}

/** RFC 9162 section 2.1.3.2: the root an inclusion proof leads to, or a NotVerified. */
async function rootFromInclusion(hash, index, size, proof) {
  if (!(index >= 0 && index < size)) throw new NotVerified("the leaf is not in the tree");
  let fn = index;
  let sn = size - 1;
  let r = hash;
  for (const p of proof) {
    if (sn === 0 || p.length !== 32) throw new NotVerified("the inclusion proof is malformed");
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new NotVerified("the inclusion proof is too short");
  return r;
}

/** A verifier key `<name>+<key id hex>+<base64(0x01 || Ed25519 public key)>`. */
async function parseKey(text) {
  const [name, id, encoded] = text.split("+");
  const raw = fromBase64(encoded ?? "");
  if (!name || !/^[0-9a-f]{8}$/.test(id ?? "") || raw.length !== 33 || raw[0] !== 1) {
    throw new NotVerified("the log's key is malformed");
  }
  const expected = (await sha256(concat(encoder.encode(`${name}\n`), raw))).slice(0, 4);
  if (toHex(expected) !== id) throw new NotVerified("the log's key id does not match its key");
  return { name, id: expected, publicKey: raw.slice(1) };
}

/** The checkpoint's text once its Ed25519 signature by `key` holds (C2SP signed note). */
async function openNote(note, key) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new NotVerified("the checkpoint is not a signed note");
  const text = note.slice(0, split + 1);
  const cryptoKey = await crypto.subtle.importKey("raw", key.publicKey, "Ed25519", false, [
    "verify",
  ]);
  for (const line of note.slice(split + 2, -1).split("\n")) {
    const match = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!match || match[1] !== key.name) continue;
    const signature = fromBase64(match[2]);
    if (signature.length !== 68 || !equal(signature.slice(0, 4), key.id)) continue;
    if (await crypto.subtle.verify("Ed25519", cryptoKey, signature.slice(4), encoder.encode(text))) {
      return text;
    }
    throw new NotVerified("the checkpoint's signature is not the log key's");
  }
  throw new NotVerified("the checkpoint is not signed by the log's key");
}

// The event's fields a leaf holds in the clear, by their name there. Personal fields (actor
// name, IP address, user agent, details) are salted hashes in the leaf: without the salt
// the page cannot check them (the offline verifier does, from a bundle).
const PLAIN = {
  id: (event) => event.id,
  seq: (event) => event.seq,
  tenant: (event) => event.tenant,
  received_at: (event) => event.received_at,
  occurred_at: (event) => event.occurred_at,
  action_type: (event) => event.action_type,
  action: (event) => event.action,
  entity_type: (event) => event.entity_type,
  entity_id: (event) => event.entity_id,
  actor_id: (event) => event.actor?.id,
  actor_type: (event) => event.actor?.type,
  request_id: (event) => event.request_id,
  // A pending event settles once; it was committed as pending.
  status: (event) => (event.status_changed_at ? "pending" : event.status),
};

function checkLeaf(leaf, event) {
  let content;
  try {
    content = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(leaf));
  } catch {
    throw new NotVerified("the leaf is not the committed JSON of an event");
  }
  for (const [name, shown] of Object.entries(PLAIN)) {
    if ((content[name] ?? null) !== (shown(event) ?? null)) {
      throw new NotVerified(`the event's ${name} is not the one the log holds`);
    }
  }
}

/**
 * Check an event's proof (`GET /audits/{id}/proof`) against the log's verifier key, and
 * that the event shown is the leaf it proves. Resolves to null when everything holds, or
 * to the reason it does not.
 */
export async function verifyProof(proof, verifierKey, event) {
  try {
    const key = await parseKey(verifierKey);
    const text = await openNote(proof.checkpoint, key);
    const [origin, size, root] = text.split("\n");
    if (origin !== key.name || !origin.endsWith(`/${event.tenant}`)) {
      throw new NotVerified("the checkpoint is another log's");
    }
    if (proof.leaf_index !== event.seq - 1) throw new NotVerified("the proof is for another leaf");
    if (Number(size) !== proof.tree_size) {
      throw new NotVerified("the checkpoint is not of the proof's tree size");
    }
    const leaf = fromBase64(proof.leaf_data);
    checkLeaf(leaf, event);
    const hash = await leafHash(leaf);
    if (toHex(hash) !== proof.leaf_hash) throw new NotVerified("the leaf hash is not the leaf's");
    const inclusion = proof.inclusion.map(fromBase64);
    const computed = await rootFromInclusion(hash, proof.leaf_index, proof.tree_size, inclusion);
    if (!equal(computed, fromBase64(root))) {
      throw new NotVerified("the inclusion proof does not lead to the signed root");
    }
    return null;
  } catch (error) {
    if (error instanceof NotVerified) return error.message;
    if (error instanceof DOMException || error instanceof TypeError) {
      return "the proof or the key could not be decoded";
    }
    throw error;
  }
}
