/**
 * atk12: key recovery round trip. exportDecryptionKeys writes one .p12 with EVERY kept key (the point of
 * a history: renewals rekey). mailpki's own readers — importDecryptionKeyFromPkcs12, and so
 * `mailpki decrypt --p12` / `mailpki verify --p12` — accept exactly one key (importPkcs12:
 * ERR_PKCS12_CONTENT "holds 2 private keys; exactly one is expected"). So the recovered file cannot open
 * mail with mailpki after the first renewal. Expected: a recovery .p12 opens mail encrypted to any of
 * its keys with mailpki's own --p12 path (or the export is one file per key).
 */
import { describe, expect, it } from 'vitest';
import { importDecryptionKeyFromPkcs12 } from '/work/wt/atk12/src/cms/index.js';
import { harness } from '/work/wt/atk12/test/lifecycle/helpers.js';

describe('recovery .p12 read back by mailpki', () => {
  it('a history of two keys exported, then imported for decryption', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: { team: 'treasury' }, use: 'encryption', keyType: 'ec-p256', policy: { validityDays: 100 } }, { actor: 'a' });
    h.clock.advanceDays(80);
    await h.manager.renew(rec.id, { actor: 'a', rekey: true });
    expect(await h.manager.decryptionKeys(rec.id)).toHaveLength(2);
    const p12 = await h.manager.exportDecryptionKeys(rec.id, { actor: 'officer', reason: 'ticket 7', passphrase: 'correct horse', iterations: 1000 });
    const got = await importDecryptionKeyFromPkcs12(p12, 'correct horse').then(
      () => 'ok',
      (e) => `${e.code}: ${e.message}`,
    );
    // Observed: 'ERR_PKCS12_CONTENT: PKCS#12 file holds 2 private keys; exactly one is expected'
    expect(got).toBe('ok');
  });
});
