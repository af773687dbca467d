/**
 * Regression from the attack on the evidence an auditor relies on (h/atk-audit): the revocation cache's key named the
 * issuer by the last 32 bytes of its SPKI — for RSA the modulus's low bits and the exponent, which whoever makes the
 * key can choose — so another issuer's certificate with the same serial and responder URL got the cached answer (and
 * its raw OCSP response, kept as evidence) of a certificate it is not.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCaHandler } from '../../src/ca/http.js';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { serveHttp, type RunningServer } from '../../src/node/http-server.js';
import { RevocationChecker } from '../../src/revocation/checker.js';

let server: RunningServer;
let ca: LocalCA;
beforeAll(async () => {
  let handler: ((r: Request) => Promise<Response>) | undefined;
  server = await serveHttp((r) => handler!(r), { port: 0 });
  ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'], baseUrl: server.url });
  handler = createCaHandler(ca);
});
afterAll(() => server?.close());

it('a cached OCSP answer is not given for the same serial under another issuer key whose SPKI ends in the same 32 bytes (was: the other issuer\'s certificate got "good" from the cache, with the first one\'s OCSP response as its evidence)', async () => {
  const keys = await generateKeyPair('ec-p256');
  const leaf = parseCertificate((await ca.issue({ mailbox: 'cfo@example.com', publicKey: await exportSpki(keys.publicKey) })).certificate);
  const issuer = ca.issuingCertificate;
  const checker = new RevocationChecker({ timeoutMs: 10_000 });
  expect(await checker.check(leaf, issuer)).toMatchObject({ status: 'good', source: 'ocsp' });
  expect(await checker.check(leaf, issuer)).toMatchObject({ status: 'good', source: 'cache' });
  // Another issuer key (its SPKI's first bytes differ) ending in the same 32 bytes: what an RSA key made for it has.
  const spki = Uint8Array.from(issuer.publicKey.spki);
  spki[spki.length - 40] = spki[spki.length - 40]! ^ 0xff;
  const other = { ...issuer, publicKey: { ...issuer.publicKey, spki } } as Certificate;
  const r = await checker.check(leaf, other);
  expect(r.source).not.toBe('cache');
  // Asked again, the responder's answer does not verify under that key: no status, no response kept.
  expect(r).toMatchObject({ status: 'unchecked' });
  expect(r.ocspResponse).toBeUndefined();
});
