/** DKIM canonicalisation (RFC 6376 §3.4): the algorithms by name. */
import { BodyCanonicalizerOf, type BodyCanonicalizer, type BodySink } from './body.js';
import { relaxedBody, relaxedHeader, writeRelaxedHeader } from './relaxed.js';
import { simpleBody, simpleHeader, writeSimpleHeader } from './simple.js';
import type { RawHeaderField } from '../message.js';

export type CanonicalizationAlgorithm = 'simple' | 'relaxed';
export type Canonicalization = `${CanonicalizationAlgorithm}/${CanonicalizationAlgorithm}`;

export { relaxedHeader, simpleHeader, type BodyCanonicalizer, type BodySink };
export { limitSink } from './body.js';

/**
 * The bytes a signature covers (RFC 6376 §3.7): the header fields named in `names`, each taken
 * from the bottom up and used once (§5.4.2), canonicalised, then the signature's own field (its
 * b= value already removed) without its final CRLF. Written straight into bytes: no strings.
 */
export function signedHeaderData(
  alg: CanonicalizationAlgorithm,
  headers: readonly RawHeaderField[],
  names: readonly string[],
  ownField: string,
): Uint8Array<ArrayBuffer> {
  const write = alg === 'relaxed' ? writeRelaxedHeader : writeSimpleHeader;
  const byName = new Map<string, RawHeaderField[]>();
  let room = ownField.length + 3;
  for (const h of headers) {
    const list = byName.get(h.key);
    if (list) list.push(h);
    else byName.set(h.key, [h]);
    room += h.raw.length + 3;
  }
  const out = new Uint8Array(room);
  const used = new Map<string, number>();
  let o = 0;
  for (const name of names) {
    const list = byName.get(name);
    const u = used.get(name) ?? 0;
    if (!list || u >= list.length) continue;
    used.set(name, u + 1);
    o = write(list[list.length - 1 - u]!.raw, out, o);
  }
  o = write(ownField, out, o) - 2;
  return out.subarray(0, o);
}

export function bodyCanonicalizer(alg: CanonicalizationAlgorithm, sink: BodySink): BodyCanonicalizer {
  return new BodyCanonicalizerOf(alg === 'relaxed' ? relaxedBody : simpleBody, sink);
}

/** A whole body canonicalised at once (tests, small bodies). */
export function canonicalizeBody(alg: CanonicalizationAlgorithm, body: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  const c = bodyCanonicalizer(alg, (b) => parts.push(b.slice()));
  c.update(body);
  c.finish();
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  n = 0;
  for (const p of parts) {
    out.set(p, n);
    n += p.length;
  }
  return out;
}
