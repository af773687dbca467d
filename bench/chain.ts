/**
 * validateChain on NIST PKITS chains (test/vectors/pkits): a 3-certificate chain (4.1.1) and the
 * largest policy case (4.8.9, 6 certificates), each beside the raw primitive it rests on (parsing
 * the same certificates and one crypto.subtle.verify per edge); then name comparison
 * (namesMatch) on a re-encoded name against the byte-for-byte fast path.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseCertificate, validateChain, type Certificate } from '../src/certs/index.js';
import { namesMatch } from '../src/certs/name.js';
import { measureRounds, reportRounds } from './harness.js';

const dir = fileURLToPath(new URL('../test/vectors/pkits/', import.meta.url));
const at = new Date('2011-04-15T00:00:00Z');

interface Case {
  key: string;
  certificates: string[];
}
const cases = (JSON.parse(readFileSync(`${dir}cases.json`, 'utf8')) as { cases: Case[] }).cases;
const ders = (key: string): Uint8Array[] => cases.find((c) => c.key === key)!.certificates.map((f) => new Uint8Array(readFileSync(`${dir}certs/${f}`)));

/** Parse (fresh objects, so no signature check is served from a cache) and validate, anchor first in `ders`. */
async function validateFresh(list: readonly Uint8Array[]): Promise<void> {
  const certs = list.map((d) => parseCertificate(d.slice()));
  const r = await validateChain(certs[certs.length - 1]!, {
    trustAnchors: [certs[0]!],
    intermediates: certs.slice(1, -1),
    at,
    purpose: 'any',
    allowWeakAlgorithms: true,
    maxPathLength: 16,
  });
  if (!r.ok) throw new Error(`bench chain does not validate: ${r.problems.map((p) => p.code).join(', ')}`);
}

const importedKeys = new Map<string, CryptoKey>();
/** An issuer key imported once, as mailpki's own key cache does. */
async function issuerKey(spki: Uint8Array): Promise<CryptoKey> {
  const id = Buffer.from(spki).toString('latin1');
  let k = importedKeys.get(id);
  if (!k) importedKeys.set(id, (k = await crypto.subtle.importKey('spki', spki as Uint8Array<ArrayBuffer>, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify'])));
  return k;
}

/** The primitive: the same parses and one RSA PKCS#1 v1.5 SHA-256 verification per edge (keys imported once). */
async function rawFresh(list: readonly Uint8Array[]): Promise<void> {
  const certs: Certificate[] = list.map((d) => parseCertificate(d.slice()));
  for (let i = 1; i < certs.length; i++) {
    const key = await issuerKey(certs[i - 1]!.publicKey.spki);
    const ok = await crypto.subtle.verify('RSASSA-PKCS1-v1_5', key, certs[i]!.signatureValue as Uint8Array<ArrayBuffer>, certs[i]!.tbs as Uint8Array<ArrayBuffer>);
    if (!ok) throw new Error('raw verify failed');
  }
}

export async function benchChain(): Promise<void> {
  for (const [title, key] of [
    ['validateChain, 3-certificate chain (PKITS 4.1.1)', '4.1.1'],
    ['validateChain, largest PKITS policy case (4.8.9, 6 certificates)', '4.8.9'],
  ] as const) {
    const list = ders(key);
    const rows = await measureRounds(
      [
        { name: 'parse + subtle.verify per edge (primitive)', fn: () => rawFresh(list) },
        { name: 'parse + validateChain', fn: () => validateFresh(list) },
      ],
      { rounds: 5, ms: 200 },
    );
    reportRounds(title, rows, rows[0]!);
  }

  // PKITS 4.3.10: the CA's subject in PrintableString, the EE's issuer in UTF8String.
  const ee = parseCertificate(ders('4.3.10').at(-1)!);
  const ca = parseCertificate(ders('4.3.10')[1]!);
  const fresh = (d: Uint8Array) => ({ der: d.slice(), rdns: [] });
  const rows = await measureRounds(
    [
      { name: 'namesMatch, identical DER (fast path)', fn: () => namesMatch(fresh(ca.subject.der), fresh(ca.subject.der)) },
      { name: 'namesMatch, re-encoded name (RFC 4518, cache of 256)', fn: () => namesMatch(fresh(ee.issuer.der), fresh(ca.subject.der)) },
    ],
    { rounds: 5, ms: 200 },
  );
  reportRounds('Name comparison (PKITS 4.3.10 rollover names)', rows, rows[0]!);
}
