/** Certificates issued per second by LocalCA, beside the raw signature rate of the CA key (issue #2). */
import { LocalCA, MemoryCaStorage } from '../src/ca/index.js';
import { exportSpki, generateKeyPair, importPrivateKey, defaultSignatureAlgorithm, signBytes } from '../src/keys/index.js';
import { CA_FILES } from '../src/ca/local-ca.js';
import { fromUtf8 } from '../src/internal/bytes.js';
import { measure, report } from './harness.js';

export async function benchIssue(): Promise<void> {
  const subject = await exportSpki((await generateKeyPair('ec-p256')).publicKey);
  for (const keyType of ['rsa-2048', 'ec-p256'] as const) {
    const storage = new MemoryCaStorage();
    const ca = await LocalCA.create(storage, { keyType, allowedDomains: ['example.com'] });
    // The same issuing key, as a bare CryptoKey, for the raw signature rate.
    const key = await importPrivateKey(fromUtf8((await storage.read(CA_FILES.issuingKey))!));
    const alg = defaultSignatureAlgorithm(key);
    const tbs = ca.issuingCertificate.tbs;
    const raw = await measure(`raw ${alg.scheme}/${alg.hash} sign (${keyType})`, () => signBytes(crypto, key, alg, tbs));
    let i = 0;
    const issue = await measure(`LocalCA.issue (${keyType} CA, in memory)`, () =>
      ca.issue({ mailbox: `user${i++}@example.com`, publicKey: subject }),
    );
    report(`Issuance, ${keyType} CA key (key generation excluded)`, [raw, issue], raw);
  }
}
