/**
 * atk12: "key recovery" of the decryption-key history exports the LIVE signing key of a default
 * identity (use 'both', one key for signing and decryption). Whoever holds the .p12 (a key-recovery
 * officer, a leaked file) can sign as the mailbox with its current, valid, unrevoked certificate:
 * non-repudiation of every signature of that identity is gone, while the identity stays active.
 * S/MIME practice (and the reason issue 12 lets an identity split signing and encryption) is that
 * signing keys are never escrowed. Expected: exportDecryptionKeys refuses (or leaves out) a key whose
 * certificate is still valid for signing; only encryption-only or no-longer-signing keys are exported.
 */
import { describe, expect, it } from 'vitest';
import { importPkcs12 } from '/work/wt/atk12/src/pkcs12/index.js';
import { signMessage, verifyMessage } from '/work/wt/atk12/src/smime/index.js';
import { parseCertificate } from '/work/wt/atk12/src/certs/certificate.js';
import { harness } from '/work/wt/atk12/test/lifecycle/helpers.js';

describe('exportDecryptionKeys and a dual-use identity', () => {
  it('the exported .p12 does not give a key that signs validly as the active identity', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'cfo@example.com', owner: { team: 'treasury' } }, { actor: 'a' }); // use: 'both' by default
    expect(rec.use).toBe('both');
    let p12: Uint8Array | undefined;
    try {
      p12 = await h.manager.exportDecryptionKeys('cfo@example.com', { actor: 'recovery-officer', reason: 'ticket 1', passphrase: 'pw-pw-pw-pw', iterations: 1000 });
    } catch {
      return; // refusing is a correct outcome
    }
    const c = await importPkcs12(p12!, 'pw-pw-pw-pw', { extractable: false });
    const cert = parseCertificate(c.certificate);
    const chain = c.chain.map((d) => parseCertificate(d));
    const now = h.clock();
    const forged = await signMessage(
      'From: cfo@example.com\r\nTo: bank@example.org\r\nSubject: wire\r\nDate: Sun, 15 Mar 2026 12:00:00 +0000\r\nContent-Type: text/plain\r\n\r\nPlease wire 1,000,000 EUR to DE00 9999.\r\n',
      { key: c.privateKey, certificate: cert, chain },
      { clock: () => now },
    );
    const v = await verifyMessage(forged, { trustAnchors: [h.ca.local.rootCertificate], intermediates: [h.ca.local.issuingCertificate], at: now });
    // Observed: valid true — the officer signs as the CFO with the CFO's current certificate.
    expect(v.valid).toBe(false);
  });
});
