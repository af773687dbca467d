/**
 * atk12: RSA PKCS#1 v1.5 key transport, implicit rejection (RFC 3218 §2.3). On bad padding the CEK is a
 * FRESH random value on every attempt (randomBytes before each RSA operation), so the same malformed
 * RecipientInfo gives different outcomes on repeated decryption (AES-CBC: ~1/256 of random keys pass the
 * padding check), while a well-padded (Bleichenbacher-conforming) one always gives the same outcome:
 * repeating a query tells the two apart — a statistical padding oracle. Deterministic implicit
 * rejection (the fallback derived from the private key and the ciphertext, as OpenSSL 3.2 and
 * draft-irtf-cfrg-rsa-guidance do) gives one outcome per ciphertext.
 * Expected: decrypting the same bytes with the same key always ends the same way.
 */
import { describe, expect, it } from 'vitest';
import { decryptData, encryptData, parseEnvelopedData } from '/work/wt/atk12/src/cms/index.js';
import { MailPkiError } from '/work/wt/atk12/src/errors.js';
import { makeSmimeFixture } from '/work/wt/atk12/test/smime/fixtures.js';

const TRIES = Number(process.env.ATK_TRIES ?? 1500);

describe('PKCS#1 v1.5 implicit rejection is not deterministic', () => {
  it(`the same malformed RecipientInfo, ${TRIES} times: always the same outcome`, async () => {
    const f = await makeSmimeFixture();
    const r = f.paymentsRsa;
    const der = await encryptData(new TextEncoder().encode('Content-Type: text/plain\r\n\r\nhello\r\n'), [{ certificate: r.certificate, keyTransport: 'rsa-pkcs1' }], { contentEncryption: 'aes-256-cbc' });
    const ek = (parseEnvelopedData(der).recipients[0] as { encryptedKey: Uint8Array }).encryptedKey;
    // a view into `der`? make sure by writing through and re-reading
    ek[0] = 0x00;
    ek[1] = 0x17; // the modulus starts with a high byte; this keeps c < n, and EM is random: bad padding
    expect((parseEnvelopedData(der).recipients[0] as { encryptedKey: Uint8Array }).encryptedKey[1]).toBe(0x17);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < TRIES; i++) {
      let o: string;
      try {
        await decryptData(der, [{ privateKey: r.key, certificate: r.certificate }]);
        o = 'decrypted (garbage under a random key)';
      } catch (e) {
        o = e instanceof MailPkiError ? e.code : String(e);
      }
      outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
    }
    console.log(Object.fromEntries(outcomes));
    expect(outcomes.size).toBe(1);
  });
});
