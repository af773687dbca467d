/**
 * validateChain with supplied CRLs (RFC 5280 §6.3, src/revocation/crl-path.ts) beside the same
 * validation without: a 3-certificate chain, the issuing CA's CRL with 10,000 entries.
 */
import { CA_FILES, LocalCA, MemoryCaStorage } from '../src/ca/index.js';
import { keySigner } from '../src/certs/builder.js';
import { parseCertificate } from '../src/certs/certificate.js';
import { validateChain } from '../src/certs/chain.js';
import { fromUtf8 } from '../src/internal/bytes.js';
import { defaultSignatureAlgorithm, exportSpki, generateKeyPair, importPrivateKey } from '../src/keys/index.js';
import { createCrl, parseCrl, type CrlEntryInput } from '../src/revocation/crl.js';
import { measure, report } from './harness.js';

export async function benchCrlPath(): Promise<void> {
  const clock = () => new Date(Date.UTC(2026, 5, 1));
  const storage = new MemoryCaStorage();
  const ca = await LocalCA.create(storage, { keyType: 'ec-p256', allowedDomains: ['example.com'] }, { clock });
  const keys = await generateKeyPair('ec-p256');
  const leaf = parseCertificate((await ca.issue({ mailbox: 'a@example.com', publicKey: await exportSpki(keys.publicKey) })).certificate);
  const key = await importPrivateKey(fromUtf8((await storage.read(CA_FILES.issuingKey))!));
  const entries: CrlEntryInput[] = [];
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 10_000; i++) {
    crypto.getRandomValues(bytes);
    bytes[0] = (bytes[0]! & 0x7f) | 0x40;
    entries.push({ serialNumber: Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(''), revocationDate: clock(), reason: 'superseded' });
  }
  const at = new Date(clock().getTime() + 3_600_000);
  const issuingCrl = await createCrl({
    issuer: ca.issuingCertificate,
    signer: keySigner(key, defaultSignatureAlgorithm(key)),
    thisUpdate: clock(),
    nextUpdate: new Date(clock().getTime() + 7 * 86_400_000),
    crlNumber: 1n,
    entries,
  });
  const rootCrl = (await ca.rootCrl())!;
  const parsed = [parseCrl(issuingCrl), parseCrl(rootCrl)];
  const base = { trustAnchors: [ca.rootCertificate], intermediates: [ca.issuingCertificate], at };
  const check = await validateChain(leaf, { ...base, crls: parsed });
  if (!check.ok) throw new Error(`bench setup: ${JSON.stringify(check.problems)}`);
  const without = await measure('validateChain, 3 certificates, no crls', () => validateChain(leaf, base));
  const withParsed = await measure('… + crls (parsed once; 10k-entry CRL + root CRL)', () => validateChain(leaf, { ...base, crls: parsed }));
  const withDer = await measure('… + crls as DER (parsed every call)', () => validateChain(leaf, { ...base, crls: [issuingCrl, rootCrl] }));
  report('validateChain with supplied CRLs (ec-p256)', [without, withParsed, withDer], without);
}
