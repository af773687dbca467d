/** Verification with revocation answered from the cache, beside verification without revocation (issue #4). */
import { createCaHandler, LocalCA, MemoryCaStorage } from '../src/ca/index.js';
import { parseCertificate } from '../src/certs/certificate.js';
import { exportSpki, generateKeyPair } from '../src/keys/index.js';
import { serveHttp } from '../src/node/http-server.js';
import { RevocationChecker } from '../src/revocation/index.js';
import { signMessage, verifyMessage } from '../src/smime/index.js';
import { measure, report } from './harness.js';

export async function benchRevocation(): Promise<void> {
  let handler: ((r: Request) => Promise<Response>) | undefined;
  let requests = 0;
  const server = await serveHttp(
    (r) => {
      requests++;
      return handler!(r);
    },
    { port: 0 },
  );
  try {
    const ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'], baseUrl: server.url });
    handler = createCaHandler(ca);
    const keys = await generateKeyPair('ec-p256');
    const issued = await ca.issue({ mailbox: 'payments@example.com', publicKey: await exportSpki(keys.publicKey) });
    const signer = { key: keys.privateKey, certificate: parseCertificate(issued.certificate), chain: [ca.issuingCertificate] };
    const signed = await signMessage('From: payments@example.com\r\nTo: ap@example.com\r\nSubject: Pay\r\nContent-Type: text/plain\r\n\r\nPay 1,250.00 EUR.\r\n', signer);
    const anchors = [ca.rootCertificate];
    const checker = new RevocationChecker();
    const warm = await verifyMessage(signed, { trustAnchors: anchors, revocation: { policy: 'hard-fail', checker } });
    if (!warm.valid) throw new Error(`bench message does not verify: ${JSON.stringify(warm.problems)}`);
    const before = requests;
    const off = await measure('verifyMessage, revocation off (ec-p256)', () => verifyMessage(signed, { trustAnchors: anchors, revocation: { policy: 'off' } }));
    const cached = await measure('verifyMessage, hard-fail, answered from cache', () =>
      verifyMessage(signed, { trustAnchors: anchors, revocation: { policy: 'hard-fail', checker } }),
    );
    report('Revocation from cache (OCSP for the leaf, CRL for the issuing CA)', [off, cached], off);
    console.log(`  cost of revocation from cache: ${(off.opsPerSec / cached.opsPerSec).toFixed(2)}× the time of verification without it (target ≤ 1.2×); requests during the runs: ${requests - before}`);
  } finally {
    await server.close();
  }
}
