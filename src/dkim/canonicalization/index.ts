/** DKIM canonicalisation (RFC 6376 §3.4): the algorithms by name. */
import { BodyCanonicalizerOf, type BodyCanonicalizer, type BodySink } from './body.js';
import { relaxedBody, relaxedHeader } from './relaxed.js';
import { simpleBody, simpleHeader } from './simple.js';

export type CanonicalizationAlgorithm = 'simple' | 'relaxed';
export type Canonicalization = `${CanonicalizationAlgorithm}/${CanonicalizationAlgorithm}`;

export { relaxedHeader, simpleHeader, type BodyCanonicalizer, type BodySink };
export { limitSink } from './body.js';

export function headerCanonicalizer(alg: CanonicalizationAlgorithm): (field: string) => string {
  return alg === 'relaxed' ? relaxedHeader : simpleHeader;
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
