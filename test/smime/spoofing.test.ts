/**
 * Signature spoofing (Müller et al., "Johnny, you are fired!", USENIX Security 2019, and related
 * tricks) against verifyMessage. Every case starts from a message genuinely signed by
 * payments@example.com (or signed the way an attacker can sign), manipulates it, and asserts
 * `valid: false` with the exact problem codes. The untouched originals are checked valid too, so
 * a broken fixture cannot make these tests pass by accident.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSignedData, signData } from '../../src/cms/index.js';
import { CMS_OID } from '../../src/cms/oids.js';
import { toBase64 } from '../../src/internal/bytes.js';
import { certificateMailboxes } from '../../src/certs/certificate.js';
import { OID } from '../../src/internal/oids.js';
import { verifyMessage, type Verdict } from '../../src/smime/index.js';
import { replyToWarnings } from '../../src/smime/sender.js';
import { parseMessage } from '../../src/mime/index.js';
import {
  ENTITY,
  EXPIRED_INSIDE,
  NOW,
  OUTER,
  buildSignedData,
  buildSignerInfo,
  entityOf,
  makeSmimeFixture,
  multipartSigned,
  opaqueSigned,
  plainMessage,
  replaceSignature,
  sign,
  signatureOf,
  utf8,
  verifyOptions,
  type FixtureSigner,
  type SmimeFixture,
} from './fixtures.js';

let f: SmimeFixture;
/** payments@example.com signs the default message (EC P-256, detached). */
let good: string;

beforeAll(async () => {
  f = await makeSmimeFixture();
  good = await sign(plainMessage(), f.payments);
});

const verify = (m: string, extra: Record<string, unknown> = {}) => verifyMessage(m, verifyOptions(f, extra));

function codes(v: Verdict): string[] {
  return [...new Set(v.problems.map((p) => p.code))].sort();
}

async function expectRefused(m: string, expected: string[], extra: Record<string, unknown> = {}): Promise<Verdict> {
  const v = await verify(m, extra);
  expect(v.valid).toBe(false);
  expect(codes(v)).toEqual([...expected].sort());
  return v;
}

async function expectValid(m: string, extra: Record<string, unknown> = {}): Promise<Verdict> {
  const v = await verify(m, extra);
  expect(v.problems).toEqual([]);
  expect(v.valid).toBe(true);
  return v;
}

/** Signs `entity` (exact bytes) with signData and wraps it as multipart/signed. */
async function detachedOver(entity: string, signers: FixtureSigner[], outer = OUTER, opts: { detached?: boolean; eContentType?: string } = {}) {
  const cms = await signData(utf8(entity), {
    signers: signers.map((s) => ({ key: s.key, certificate: s.certificate, signingTime: NOW })),
    certificates: signers.flatMap((s) => [s.certificate.der, ...s.chain.map((c) => c.der)]),
    ...opts,
  });
  return { cms, message: multipartSigned(outer, entity, cms) };
}

it('the untouched original is valid', async () => {
  await expectValid(good);
});

describe('CMS container', () => {
  it('zero SignerInfos, with the signer certificates in the bag → SMIME_NO_SIGNERS', async () => {
    const cms = buildSignedData({ signerInfos: [], certificates: [f.payments.certificate, ...f.payments.chain] });
    const v = await expectRefused(multipartSigned(OUTER, ENTITY, cms), ['SMIME_NO_SIGNERS']);
    expect(v.signers).toEqual([]);
    expect(v.signedScope).toBe('entire');
  });

  it('zero SignerInfos and no certificates → SMIME_NO_SIGNERS', async () => {
    const cms = buildSignedData({ signerInfos: [] });
    await expectRefused(multipartSigned(OUTER, ENTITY, cms), ['SMIME_NO_SIGNERS']);
  });

  it('the same hand-built SignedData with one real SignerInfo is valid (control)', async () => {
    const si = await buildSignerInfo({ content: utf8(ENTITY), key: f.payments.key, certificate: f.payments.certificate, hash: 'SHA-256' });
    const cms = buildSignedData({ signerInfos: [si], certificates: [f.payments.certificate, ...f.payments.chain] });
    await expectValid(multipartSigned(OUTER, ENTITY, cms));
  });

  it('two signers, one signature byte corrupted → SMIME_SIGNATURE_INVALID for that signer only', async () => {
    const both = await sign(plainMessage(), f.payments, { additionalSigners: [f.paymentsRsa] });
    const original = await expectValid(both);
    expect(original.signers).toHaveLength(2);

    const der = signatureOf(both);
    const sd = parseSignedData(der);
    // Corrupt the RSA signer's signature (whichever index DER sorting put it at).
    const target = sd.signerInfos.findIndex((si) => si.signature.length > 200);
    expect(target).toBeGreaterThanOrEqual(0);
    const sig = sd.signerInfos[target]!.signature;
    const at = sig.byteOffset - der.byteOffset + sig.length - 1;
    const tampered = replaceSignature(both, (d) => {
      d[at]! ^= 0x01;
      return d;
    });
    const v = await expectRefused(tampered, ['SMIME_SIGNATURE_INVALID']);
    expect(v.problems).toEqual([expect.objectContaining({ code: 'SMIME_SIGNATURE_INVALID', signer: target })]);
    expect(v.signers[target]!.signature.problems.map((p) => p.code)).toEqual(['CMS_SIGNATURE_INVALID']);
    expect(v.signers[target]!.ok).toBe(false);
    expect(v.signers[1 - target]!.ok).toBe(true);
    expect(v.signers[1 - target]!.matchesFrom).toBe(true);
  });

  it('eContent confusion: a detached signature carrying text A, shown part text B → SMIME_ECONTENT_IN_DETACHED', async () => {
    const textA = ENTITY;
    const textB = 'Content-Type: text/plain; charset=us-ascii\r\n\r\nPlease pay 9,999.00 EUR to IBAN XX99 ATTACKER.\r\n';
    const { cms } = await detachedOver(textA, [f.payments], OUTER, { detached: false });
    // The signature over A verifies on its own: only B (what a client shows) is not covered.
    const v = await expectRefused(multipartSigned(OUTER, textB, cms), ['SMIME_ECONTENT_IN_DETACHED', 'SMIME_SIGNATURE_INVALID']);
    expect(v.signers[0]!.signature.problems.map((p) => p.code)).toEqual(['CMS_DIGEST_MISMATCH']);
    expect(v.signedHeaders).toEqual([{ name: 'Content-Type', value: 'text/plain; charset=us-ascii' }]);
  });

  it('eContent inside a detached signature that equals the shown part → still SMIME_ECONTENT_IN_DETACHED', async () => {
    const { cms } = await detachedOver(ENTITY, [f.payments], OUTER, { detached: false });
    const v = await expectRefused(multipartSigned(OUTER, ENTITY, cms), ['SMIME_ECONTENT_IN_DETACHED']);
    expect(v.signers[0]!.ok).toBe(true);
    // The same eContent as an opaque message is fine (control).
    await expectValid(opaqueSigned(OUTER, cms));
  });

  it('a signature part that is base64 garbage → SMIME_CMS_MALFORMED', async () => {
    const garbage = replaceSignature(good, () => utf8('this is not DER at all, just text pretending to be a signature'));
    const v = await expectRefused(garbage, ['SMIME_CMS_MALFORMED']);
    expect(v.signers).toEqual([]);
  });

  it('a signature part whose base64 does not decode → SMIME_CMS_MALFORMED', async () => {
    const m = good.replace(/(filename="smime\.p7s"\r\n\r\n)[\s\S]*?(\r\n--)/, '$1%%%% not base64 ****$2');
    expect(m).not.toBe(good);
    await expectRefused(m, ['SMIME_CMS_MALFORMED']);
  });

  it('a signature part that is DER but not SignedData (a certificate) → SMIME_CMS_MALFORMED', async () => {
    await expectRefused(replaceSignature(good, () => f.payments.certificate.der.slice()), ['SMIME_CMS_MALFORMED']);
  });

  it('eContentType other than id-data → SMIME_CONTENT_TYPE_NOT_DATA', async () => {
    // id-ct-TSTInfo: a signature over "some other object" must not pass as a mail signature.
    const { message } = await detachedOver(ENTITY, [f.payments], OUTER, { eContentType: '1.2.840.113549.1.9.16.1.4' });
    const v = await expectRefused(message, ['SMIME_CONTENT_TYPE_NOT_DATA']);
    expect(v.signers[0]!.signature.ok).toBe(true);
  });
});

describe('MIME wrapping (the signed message is only part of what is shown)', () => {
  const outerLines = (ct: string) => [...OUTER, 'MIME-Version: 1.0', ct];

  function mixed(parts: string[], type = 'multipart/mixed', extraParams = ''): string {
    const b = 'wrap-boundary-7';
    return (
      `${outerLines(`Content-Type: ${type}; boundary="${b}"${extraParams}`).join('\r\n')}\r\n\r\n` +
      parts.map((p) => `--${b}\r\n${p}\r\n`).join('') +
      `--${b}--\r\n`
    );
  }
  const attackerText = 'Content-Type: text/plain; charset=us-ascii\r\n\r\nUPDATE: please pay 9,999.00 EUR to IBAN XX99 ATTACKER instead.\r\n';

  async function expectPartial(m: string, path: number[]): Promise<void> {
    const v = await expectRefused(m, ['SMIME_PARTIALLY_SIGNED']);
    expect(v.signedScope).toBe('partial');
    expect(v.signedPart?.path).toEqual(path);
    // The inner signature itself is good: the problem is only what surrounds it.
    expect(v.signers.map((s) => s.ok)).toEqual([true]);
  }

  it('signed message wrapped in multipart/mixed with text prepended → partial', async () => {
    await expectPartial(mixed([attackerText, entityOf(good)]), [1]);
  });

  it('signed message wrapped in multipart/mixed with text appended → partial', async () => {
    await expectPartial(mixed([entityOf(good), attackerText]), [0]);
  });

  it('signed message in multipart/alternative behind an HTML part that hides it → partial', async () => {
    const html = 'Content-Type: text/html; charset=us-ascii\r\n\r\n<p style="display:none">signed</p><p>Pay 9,999.00 EUR to XX99 ATTACKER</p>\r\n';
    await expectPartial(mixed([entityOf(good), html], 'multipart/alternative'), [0]);
  });

  it('signed message as an attachment (Content-Disposition: attachment) → partial', async () => {
    const e = entityOf(good).replace(/^/, 'Content-Disposition: attachment; filename="original.eml"\r\n');
    await expectPartial(mixed([attackerText, e]), [1]);
  });

  it('signed message forwarded as message/rfc822 → partial', async () => {
    const rfc822 = `Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n${good}`;
    await expectPartial(mixed([attackerText, rfc822]), [1, 0]);
  });

  it('signed message referenced from multipart/related by cid → partial', async () => {
    const html = 'Content-Type: text/html; charset=us-ascii\r\n\r\n<p>Pay 9,999.00 EUR to XX99 ATTACKER</p><iframe src="cid:signed@x"></iframe>\r\n';
    const e = `Content-ID: <signed@x>\r\n${entityOf(good)}`;
    await expectPartial(mixed([html, e], 'multipart/related', '; type="text/html"'), [1]);
  });

  function multipartSignedWith(parts: string[], ctParams: string): string {
    const b = 'sig-boundary-3';
    return (
      `${outerLines(`Content-Type: multipart/signed; ${ctParams.replace('%B', b)}`).join('\r\n')}\r\n\r\n` +
      parts.map((p) => `--${b}\r\n${p}\r\n`).join('') +
      `--${b}--\r\n`
    );
  }
  const p7s = () =>
    `Content-Type: application/pkcs7-signature; name="smime.p7s"\r\nContent-Transfer-Encoding: base64\r\n\r\n${toBase64(signatureOf(good))}`;
  // The entity as signMessage signed it; its last CRLF stays: the delimiter adds its own.
  const signedEntity = () => entityOf(plainMessage());

  it('the rebuilt two-part multipart/signed is valid (control for the structure cases)', async () => {
    await expectValid(multipartSignedWith([signedEntity(), p7s()], 'protocol="application/pkcs7-signature"; micalg=sha-256; boundary="%B"'));
  });

  it('multipart/signed with three parts → SMIME_STRUCTURE_INVALID', async () => {
    const v = await expectRefused(
      multipartSignedWith([signedEntity(), p7s(), attackerText.replace(/\r\n$/, '')], 'protocol="application/pkcs7-signature"; micalg=sha-256; boundary="%B"'),
      ['SMIME_STRUCTURE_INVALID'],
    );
    expect(v.signers).toEqual([]);
  });

  it('multipart/signed with a wrong protocol → SMIME_STRUCTURE_INVALID', async () => {
    await expectRefused(
      multipartSignedWith([signedEntity(), p7s()], 'protocol="application/pgp-signature"; micalg=sha-256; boundary="%B"'),
      ['SMIME_STRUCTURE_INVALID'],
    );
  });

  it('multipart/signed with the signature first and the content second → SMIME_STRUCTURE_INVALID', async () => {
    await expectRefused(
      multipartSignedWith([p7s(), signedEntity()], 'protocol="application/pkcs7-signature"; micalg=sha-256; boundary="%B"'),
      ['SMIME_STRUCTURE_INVALID'],
    );
  });

  it('multipart/signed with a duplicated boundary parameter → SMIME_STRUCTURE_INVALID', async () => {
    const v = await expectRefused(
      multipartSignedWith([signedEntity(), p7s()], 'protocol="application/pkcs7-signature"; micalg=sha-256; boundary="%B"; boundary="other"'),
      ['SMIME_STRUCTURE_INVALID'],
    );
    expect(v.signedScope).toBe('none');
  });

  it('multipart/signed with a duplicated protocol parameter → SMIME_STRUCTURE_INVALID', async () => {
    await expectRefused(
      multipartSignedWith(
        [signedEntity(), p7s()],
        'protocol="application/pkcs7-signature"; protocol="application/pgp-signature"; micalg=sha-256; boundary="%B"',
      ),
      ['SMIME_STRUCTURE_INVALID'],
    );
  });

  it('two Content-Type fields on the multipart/signed → SMIME_STRUCTURE_INVALID', async () => {
    // Readers that take the first and readers that take the last field see different trees.
    const m = good.replace('MIME-Version: 1.0\r\n', 'MIME-Version: 1.0\r\nContent-Type: text/plain\r\n');
    expect(m).not.toBe(good);
    const v = await expectRefused(m, ['SMIME_STRUCTURE_INVALID']);
    expect(v.problems[0]!.message).toContain('more than one Content-Type');
  });

  it('an unsigned message → scope none, SMIME_NOT_SIGNED', async () => {
    const v = await expectRefused(plainMessage(), ['SMIME_NOT_SIGNED']);
    expect(v.signedScope).toBe('none');
    expect(v.signers).toEqual([]);
    expect(v.from).toEqual({ address: 'payments@example.com', name: 'Payments' });
  });

  it('an unsigned multipart/mixed with an inert .p7s attachment is not signed at all', async () => {
    // A detached signature needs its multipart/signed: a loose p7s attachment signs nothing.
    await expectRefused(mixed([attackerText, p7s()]), ['SMIME_NOT_SIGNED']);
  });
});

describe('sender binding', () => {
  const signedBy = async (signer: FixtureSigner, from: string | null, headers: string[] = []) =>
    sign(plainMessage({ from, headers }), signer);

  it('attacker signs with its own valid certificate, From: payments → SMIME_FROM_NOT_SIGNER', async () => {
    const v = await expectRefused(await signedBy(f.attacker, 'Payments <payments@example.com>'), ['SMIME_FROM_NOT_SIGNER']);
    expect(v.signers[0]!.ok).toBe(true);
    expect(v.signers[0]!.emails).toEqual(['attacker@evil.test']);
    expect(v.signers[0]!.matchesFrom).toBe(false);
  });

  it('the attacker is valid for its own address (control)', async () => {
    await expectValid(await signedBy(f.attacker, 'attacker@evil.test'));
  });

  it('payments signs, From: ceo@example.com → SMIME_FROM_NOT_SIGNER', async () => {
    await expectRefused(await signedBy(f.payments, 'CEO <ceo@example.com>'), ['SMIME_FROM_NOT_SIGNER']);
  });

  it('From field empty → SMIME_FROM_EMPTY', async () => {
    const v = await expectRefused(await signedBy(f.payments, ''), ['SMIME_FROM_EMPTY']);
    expect(v.from).toBeUndefined();
  });

  it('From field missing → SMIME_FROM_MISSING', async () => {
    await expectRefused(await signedBy(f.payments, null), ['SMIME_FROM_MISSING']);
  });

  it('From with only a name → SMIME_FROM_NO_ADDRESS', async () => {
    const v = await expectRefused(await signedBy(f.payments, 'Payments Team'), ['SMIME_FROM_NO_ADDRESS']);
    expect(v.problems[0]!.message).toContain('Payments Team');
  });

  it('display name holding another address → SMIME_FROM_DISPLAY_NAME_ADDRESS', async () => {
    await expectRefused(await signedBy(f.payments, '"ceo@example.com" <payments@example.com>'), ['SMIME_FROM_DISPLAY_NAME_ADDRESS']);
  });

  it('attacker signs, display name shows payments → SMIME_FROM_DISPLAY_NAME_ADDRESS', async () => {
    await expectRefused(await signedBy(f.attacker, 'payments@example.com <attacker@evil.test>'), ['SMIME_FROM_DISPLAY_NAME_ADDRESS']);
  });

  it('attacker signs, old-style comment shows payments → SMIME_FROM_DISPLAY_NAME_ADDRESS', async () => {
    await expectRefused(await signedBy(f.attacker, 'attacker@evil.test (payments@example.com)'), ['SMIME_FROM_DISPLAY_NAME_ADDRESS']);
  });

  it('display name that is its own address is fine (control)', async () => {
    await expectValid(await signedBy(f.payments, '"payments@example.com" <payments@example.com>'));
  });

  it('two mailboxes in From → SMIME_FROM_MULTIPLE_MAILBOXES', async () => {
    await expectRefused(await signedBy(f.payments, 'payments@example.com, ceo@example.com'), ['SMIME_FROM_MULTIPLE_MAILBOXES']);
  });

  it('two From fields → SMIME_FROM_MULTIPLE_FIELDS', async () => {
    await expectRefused(await signedBy(f.payments, 'payments@example.com', ['From: CEO <ceo@example.com>']), ['SMIME_FROM_MULTIPLE_FIELDS']);
  });

  it('two From fields, the signer second → SMIME_FROM_MULTIPLE_FIELDS and SMIME_FROM_NOT_SIGNER', async () => {
    await expectRefused(await signedBy(f.payments, 'CEO <ceo@example.com>', ['From: payments@example.com']), [
      'SMIME_FROM_MULTIPLE_FIELDS',
      'SMIME_FROM_NOT_SIGNER',
    ]);
  });

  it('Sender differs from From → SMIME_SENDER_MISMATCH', async () => {
    await expectRefused(await signedBy(f.payments, 'payments@example.com', ['Sender: ceo@example.com']), ['SMIME_SENDER_MISMATCH']);
  });

  it('Sender equal to From is fine (control)', async () => {
    await expectValid(await signedBy(f.payments, 'payments@example.com', ['Sender: Payments <payments@EXAMPLE.com>']));
  });

  it('domain case differs → still valid (domains are case-insensitive)', async () => {
    const v = await expectValid(await signedBy(f.payments, 'Payments <payments@EXAMPLE.COM>'));
    expect(v.from?.address).toBe('payments@example.com');
  });

  it('local part case differs → SMIME_FROM_NOT_SIGNER (local parts may be case-sensitive)', async () => {
    await expectRefused(await signedBy(f.payments, 'Payments <Payments@example.com>'), ['SMIME_FROM_NOT_SIGNER']);
  });

  it('a From inside the signed entity that differs from the outer From → SMIME_SIGNED_FROM_MISMATCH', async () => {
    const entity = `From: CEO <ceo@example.com>\r\n${ENTITY}`;
    const { message } = await detachedOver(entity, [f.payments]);
    const v = await expectRefused(message, ['SMIME_SIGNED_FROM_MISMATCH']);
    expect(v.signedHeaders[0]).toEqual({ name: 'From', value: 'CEO <ceo@example.com>' });
  });

  it('a From inside the signed entity equal to the outer From is fine (control)', async () => {
    const { message } = await detachedOver(`From: payments@EXAMPLE.com\r\n${ENTITY}`, [f.payments]);
    await expectValid(message);
  });

  it('a signed inner From that is itself a display-name spoof → SMIME_FROM_DISPLAY_NAME_ADDRESS', async () => {
    // Regression: the inner From was only compared by address, so its display name was never checked.
    // Clients that show protected headers show the inner From: it must be as strict as the outer one.
    const { message } = await detachedOver(`From: "ceo@example.com" <payments@example.com>\r\n${ENTITY}`, [f.payments]);
    const v = await expectRefused(message, ['SMIME_FROM_DISPLAY_NAME_ADDRESS']);
    expect(v.problems[0]!.message).toMatch(/^in the signed part: /);
  });

  describe('encoded-word tricks in the display name', () => {
    const b64 = (s: string) => `=?utf-8?b?${toBase64(utf8(s))}?=`;

    it('Q-encoded address in the display name → SMIME_FROM_DISPLAY_NAME_ADDRESS', async () => {
      await expectRefused(await signedBy(f.payments, '=?us-ascii?q?ceo=40example.com?= <payments@example.com>'), ['SMIME_FROM_DISPLAY_NAME_ADDRESS']);
    });

    it('attacker signs, B-encoded "payments@example.com" display name → SMIME_FROM_DISPLAY_NAME_ADDRESS', async () => {
      await expectRefused(await signedBy(f.attacker, `${b64('payments@example.com')} <attacker@evil.test>`), ['SMIME_FROM_DISPLAY_NAME_ADDRESS']);
    });

    it('attacker signs, encoded "Payments <payments@example.com>" display name → SMIME_FROM_DISPLAY_NAME_ADDRESS', async () => {
      await expectRefused(await signedBy(f.attacker, `${b64('Payments <payments@example.com>')} <attacker@evil.test>`), [
        'SMIME_FROM_DISPLAY_NAME_ADDRESS',
      ]);
    });

    it('attacker signs, full-width "＠" look-alike in an encoded display name → SMIME_FROM_DISPLAY_NAME_ADDRESS', async () => {
      await expectRefused(await signedBy(f.attacker, `${b64('payments\uFF20example.com')} <attacker@evil.test>`), ['SMIME_FROM_DISPLAY_NAME_ADDRESS']);
    });

    it('attacker signs, the whole From is one encoded word with an address → SMIME_FROM_NO_ADDRESS', async () => {
      // A client that decodes it shows payments@example.com, but there is no mailbox to bind.
      await expectRefused(await signedBy(f.attacker, '=?us-ascii?q?payments=40example.com?='), ['SMIME_FROM_NO_ADDRESS']);
    });

    it('attacker signs, a comment before the angle address shows payments → SMIME_FROM_DISPLAY_NAME_ADDRESS', async () => {
      // Regression: only the parsed display name was scanned; comments were skipped.
      await expectRefused(await signedBy(f.attacker, '(payments@example.com) <attacker@evil.test>'), ['SMIME_FROM_DISPLAY_NAME_ADDRESS']);
    });

    it('attacker signs, group syntax whose name is payments\' address → refused', async () => {
      // Regression: a group in From was read as its one mailbox and the group name never checked.
      // RFC 5322 §3.6.2: From is a mailbox-list; a group's name is shown like a display name.
      await expectRefused(await signedBy(f.attacker, '"payments@example.com": attacker@evil.test;'), [
        'SMIME_FROM_DISPLAY_NAME_ADDRESS',
        'SMIME_FROM_MULTIPLE_MAILBOXES',
      ]);
    });
  });
});

describe('signer certificate', () => {
  it('right address, certificate from a CA that is not an anchor → SMIME_CHAIN_INVALID', async () => {
    const v = await expectRefused(await sign(plainMessage(), f.untrusted), ['SMIME_CHAIN_INVALID']);
    expect(v.signers[0]!.signature.ok).toBe(true);
    expect(v.signers[0]!.chain!.problems.map((p) => p.code)).toEqual(['CHAIN_NO_PATH_TO_ANCHOR']);
    // Trusting that CA makes the very same message valid (control).
    await expectValid(await sign(plainMessage(), f.untrusted), { trustAnchors: [f.untrusted.ca.rootCertificate] });
  });

  it('certificate expired at `at` → SMIME_CHAIN_INVALID (CHAIN_EXPIRED)', async () => {
    const m = await sign(plainMessage(), f.expired, { clock: () => EXPIRED_INSIDE });
    const v = await expectRefused(m, ['SMIME_CHAIN_INVALID']);
    expect(v.signers[0]!.chain!.problems.map((p) => p.code)).toEqual(['CHAIN_EXPIRED']);
    expect(v.signers[0]!.chain!.problems[0]!.certificateIndex).toBe(0);
  });

  it('the same message is valid at a time inside the validity (archived message)', async () => {
    const m = await sign(plainMessage(), f.expired, { clock: () => EXPIRED_INSIDE });
    const v = await expectValid(m, { at: EXPIRED_INSIDE });
    expect(v.at).toBe(EXPIRED_INSIDE.toISOString());
  });

  it('extKeyUsage serverAuth only (no emailProtection) → SMIME_CHAIN_INVALID (CHAIN_LEAF_EXT_KEY_USAGE)', async () => {
    const v = await expectRefused(await sign(plainMessage(), f.noEmailProtection), ['SMIME_CHAIN_INVALID']);
    expect(v.signers[0]!.chain!.problems.map((p) => p.code)).toEqual(['CHAIN_LEAF_EXT_KEY_USAGE']);
    expect(v.signers[0]!.signature.ok).toBe(true);
  });

  it('keyUsage keyEncipherment only → SMIME_CHAIN_INVALID (CHAIN_LEAF_KEY_USAGE)', async () => {
    const s = f.keyEnciphermentOnly;
    const si = await buildSignerInfo({ content: utf8(ENTITY), key: s.key, certificate: s.certificate, hash: 'SHA-256' });
    const cms = buildSignedData({ signerInfos: [si], certificates: [s.certificate, ...s.chain] });
    const v = await expectRefused(multipartSigned(OUTER, ENTITY, cms), ['SMIME_CHAIN_INVALID']);
    expect(v.signers[0]!.chain!.problems.map((p) => p.code)).toEqual(['CHAIN_LEAF_KEY_USAGE']);
    expect(v.signers[0]!.signature.ok).toBe(true);
  });

  it('signer certificate neither in the message nor given → SMIME_SIGNER_CERTIFICATE_MISSING', async () => {
    const si = await buildSignerInfo({ content: utf8(ENTITY), key: f.payments.key, certificate: f.payments.certificate, hash: 'SHA-256' });
    const m = multipartSigned(OUTER, ENTITY, buildSignedData({ signerInfos: [si] }));
    await expectRefused(m, ['SMIME_SIGNER_CERTIFICATE_MISSING']);
    // Given as an intermediate, it is found (control).
    await expectValid(m, { intermediates: [f.payments.certificate, ...f.payments.chain] });
  });

  describe('SHA-1', () => {
    let m: string;
    beforeAll(async () => {
      const si = await buildSignerInfo({ content: utf8(ENTITY), key: f.payments.key, certificate: f.payments.certificate, hash: 'SHA-1', signingTime: NOW });
      const cms = buildSignedData({ signerInfos: [si], certificates: [f.payments.certificate, ...f.payments.chain], digestOids: [OID.sha1] });
      m = multipartSigned(OUTER, ENTITY, cms, { micalg: 'sha-1' });
    });

    it('a SHA-1 signature → SMIME_WEAK_ALGORITHM', async () => {
      const v = await expectRefused(m, ['SMIME_WEAK_ALGORITHM']);
      expect(v.signers[0]!.signature).toMatchObject({ ok: true, digestAlgorithm: 'SHA-1', signatureAlgorithm: 'ecdsa-sha1' });
      expect(v.signers[0]!.signature.problems.map((p) => p.code)).toEqual(['CMS_WEAK_ALGORITHM']);
    });

    it('with allowWeakAlgorithms it is valid, with a warning', async () => {
      const v = await expectValid(m, { allowWeakAlgorithms: true });
      expect(v.warnings.map((w) => w.code)).toEqual(['SMIME_WEAK_ALGORITHM_ALLOWED']);
    });

    it('a SHA-1 RSA signature → SMIME_WEAK_ALGORITHM too', async () => {
      const s = f.paymentsRsa;
      const si = await buildSignerInfo({ content: utf8(ENTITY), key: s.key, certificate: s.certificate, hash: 'SHA-1' });
      const cms = buildSignedData({ signerInfos: [si], certificates: [s.certificate, ...s.chain], digestOids: [OID.sha1] });
      const v = await expectRefused(multipartSigned(OUTER, ENTITY, cms, { micalg: 'sha-1' }), ['SMIME_WEAK_ALGORITHM']);
      expect(v.signers[0]!.signature.signatureAlgorithm).toBe('rsa-pkcs1-sha1');
    });
  });
});

describe('nested signatures', () => {
  it('a signed message signed again: valid with two layers when both verify', async () => {
    const twice = await sign(good, f.payments);
    const v = await expectValid(twice);
    expect(v.signers.map((s) => [s.layer, s.index, s.ok])).toEqual([
      [0, 0, true],
      [1, 0, true],
    ]);
    expect(v.signedContentType).toBe('text/plain');
  });

  it('inner layer tampered, then signed again by payments → SMIME_SIGNATURE_INVALID for the inner signer', async () => {
    const tamperedInner = good.replace('1,250.00 EUR', '9,250.00 EUR');
    expect(tamperedInner).not.toBe(good);
    const v = await expectRefused(await sign(tamperedInner, f.payments), ['SMIME_SIGNATURE_INVALID']);
    expect(v.signers.map((s) => s.ok)).toEqual([true, false]);
    expect(v.problems[0]!.signer).toBe(1);
    expect(v.signers[1]!.signature.problems.map((p) => p.code)).toEqual(['CMS_DIGEST_MISMATCH']);
  });

  it('inner layer by the attacker, outer by payments → SMIME_SIGNED_FROM_MISMATCH is not needed: every layer must be valid', async () => {
    // The attacker's own valid signature inside payments' one: both verify, From binds to the outer.
    const inner = await sign(plainMessage({ from: 'attacker@evil.test' }), f.attacker);
    const v = await verify(await sign(inner, f.payments));
    expect(v.signers.map((s) => [s.layer, s.emails[0], s.ok])).toEqual([
      [0, 'payments@example.com', true],
      [1, 'attacker@evil.test', true],
    ]);
    expect(v.valid).toBe(true);
  });

  it('a From in the signed entity of the outer layer (not the innermost) that differs → SMIME_SIGNED_FROM_MISMATCH', async () => {
    // Regression: only the innermost signed entity's From was compared with the outer From.
    const { message } = await detachedOver(`From: CEO <ceo@example.com>\r\n${entityOf(good)}`, [f.payments]);
    const v = await expectRefused(message, ['SMIME_SIGNED_FROM_MISMATCH']);
    expect(v.signers.map((s) => s.ok)).toEqual([true, true]);
    expect(v.problems[0]!.message).toContain('layer 0');
  });

  it('an opaque signed message is valid, and fails when its content is changed', async () => {
    const opaque = await sign(plainMessage(), f.payments, { opaque: true });
    const v = await expectValid(opaque);
    expect(v.signedPart).toEqual({ path: [], kind: 'opaque', contentType: 'application/pkcs7-mime' });
    const tampered = replaceSignature(opaque, (der) => {
      const i = Buffer.from(der).indexOf('1,250.00');
      expect(i).toBeGreaterThan(0);
      der[i] = '9'.charCodeAt(0);
      return der;
    });
    const t = await expectRefused(tampered, ['SMIME_SIGNATURE_INVALID']);
    expect(t.signers[0]!.signature.problems.map((p) => p.code)).toEqual(['CMS_DIGEST_MISMATCH']);
  });

  it('an opaque signed message signed again (opaque in detached) is valid with two layers', async () => {
    const opaque = await sign(plainMessage(), f.payments, { opaque: true });
    const v = await expectValid(await sign(opaque, f.payments));
    expect(v.signers.map((s) => s.layer)).toEqual([0, 1]);
  });

  it('an opaque SignedData with no eContent → SMIME_STRUCTURE_INVALID', async () => {
    const si = await buildSignerInfo({ content: utf8(ENTITY), key: f.payments.key, certificate: f.payments.certificate, hash: 'SHA-256' });
    const cms = buildSignedData({ signerInfos: [si], certificates: [f.payments.certificate, ...f.payments.chain] });
    await expectRefused(opaqueSigned(OUTER, cms), ['SMIME_STRUCTURE_INVALID']);
  });

  it('eContent of an opaque message with another eContentType → SMIME_CONTENT_TYPE_NOT_DATA', async () => {
    const cms = await signData(utf8(ENTITY), {
      signers: [{ key: f.payments.key, certificate: f.payments.certificate, signingTime: NOW }],
      certificates: [f.payments.certificate.der, f.payments.chain[0]!.der],
      detached: false,
      eContentType: CMS_OID.compressedData,
    });
    await expectRefused(opaqueSigned(OUTER, cms), ['SMIME_CONTENT_TYPE_NOT_DATA']);
  });
});

describe('wrapped messages (RFC 8551 §3.1 header protection, finding 1)', () => {
  const inner = (from: string | null, extra: string[] = []) =>
    [...(from === null ? [] : [`From: ${from}`]), 'To: approvers@example.com', 'Subject: Payment run 2026-03', 'Date: Sun, 15 Mar 2026 12:00:00 +0000', ...extra, ENTITY].join('\r\n');
  const wrapper = (message: string, params = '') => `Content-Type: message/rfc822${params}\r\n\r\n${message}`;
  const outer = (from: string, extra: string[] = []) => [`From: ${from}`, 'To: approvers@example.com', 'Subject: Payment run 2026-03', 'Date: Sun, 15 Mar 2026 12:00:00 +0000', ...extra];

  type Form = 'detached' | 'opaque' | 'forwarded=no';
  const FORMS: Form[] = ['detached', 'opaque', 'forwarded=no'];

  /** `entity` signed by `signer`, carried as `form`, under the outer header lines. */
  async function signedAs(form: Form, entity: string, signer: FixtureSigner, outerLines: string[]): Promise<string> {
    if (form !== 'opaque') return (await detachedOver(entity, [signer], outerLines)).message;
    const cms = await signData(utf8(entity), {
      signers: [{ key: signer.key, certificate: signer.certificate, signingTime: NOW }],
      certificates: [signer.certificate.der, ...signer.chain.map((c) => c.der)],
      detached: false,
    });
    return opaqueSigned(outerLines, cms);
  }
  const wrapFor = (form: Form, message: string) => wrapper(message, form === 'forwarded=no' ? '; forwarded=no' : '');

  for (const form of FORMS) {
    it(`wrapped message/rfc822 (${form}) with another inner From is invalid (finding 1)`, async () => {
      // The issue's case: inner From payments, signed by the attacker, outer From the attacker.
      const m = await signedAs(form, wrapFor(form, inner('Payments <payments@example.com>')), f.attacker, outer('attacker@evil.test'));
      const v = await expectRefused(m, ['SMIME_FROM_NOT_SIGNER', 'SMIME_SIGNED_FROM_MISMATCH']);
      expect(v.signers.map((s) => s.ok)).toEqual([true]);
      expect(v.problems.find((p) => p.code === 'SMIME_SIGNED_FROM_MISMATCH')!.message).toContain('the wrapped message says From payments@example.com');
      expect(v.signedHeaders.map((h) => h.name)).toEqual(['From', 'To', 'Subject', 'Date', 'Content-Type']);
      expect(v.signedContentType).toBe('text/plain');
    });

    it(`wrapped message (${form}) with the signer's From, outer From the same: valid, the wrapped header is the signed one (control)`, async () => {
      const m = await signedAs(form, wrapFor(form, inner('Payments <payments@example.com>')), f.payments, outer('Payments <payments@example.com>'));
      const v = await expectValid(m);
      expect(v.warnings).toEqual([]);
      expect(v.signedHeaders).toEqual([
        { name: 'From', value: 'Payments <payments@example.com>' },
        { name: 'To', value: 'approvers@example.com' },
        { name: 'Subject', value: 'Payment run 2026-03' },
        { name: 'Date', value: 'Sun, 15 Mar 2026 12:00:00 +0000' },
        { name: 'Content-Type', value: 'text/plain; charset=us-ascii' },
      ]);
    });
  }

  it('wrapped From the signer, outer From someone else → SMIME_SIGNED_FROM_MISMATCH (finding 1)', async () => {
    const m = await signedAs('detached', wrapper(inner('payments@example.com')), f.payments, outer('CEO <ceo@example.com>'));
    await expectRefused(m, ['SMIME_FROM_NOT_SIGNER', 'SMIME_SIGNED_FROM_MISMATCH']);
  });

  it('wrapped and outer From both payments, signed by the attacker → SMIME_FROM_NOT_SIGNER for both (finding 1)', async () => {
    const m = await signedAs('opaque', wrapper(inner('payments@example.com')), f.attacker, outer('payments@example.com'));
    const v = await expectRefused(m, ['SMIME_FROM_NOT_SIGNER']);
    expect(v.problems.map((p) => p.message).join('\n')).toContain('the wrapped message says From payments@example.com, but no signature covering it');
  });

  it('a wrapped message without From → SMIME_FROM_MISSING (finding 1)', async () => {
    const v = await expectRefused(await signedAs('detached', wrapper(inner(null)), f.payments, outer('payments@example.com')), ['SMIME_FROM_MISSING']);
    expect(v.problems[0]!.message).toBe('in the wrapped message: the message has no From field');
  });

  it('a wrapped From that is a display-name spoof, or two From fields, is read as strictly as the outer one (finding 1)', async () => {
    const spoof = await signedAs('detached', wrapper(inner('"ceo@example.com" <payments@example.com>')), f.payments, outer('payments@example.com'));
    await expectRefused(spoof, ['SMIME_FROM_DISPLAY_NAME_ADDRESS']);
    const two = await signedAs('detached', wrapper(inner('payments@example.com', ['From: ceo@example.com'])), f.payments, outer('payments@example.com'));
    await expectRefused(two, ['SMIME_FROM_MULTIPLE_FIELDS']);
    const sender = await signedAs('detached', wrapper(inner('payments@example.com', ['Sender: ceo@example.com'])), f.payments, outer('payments@example.com'));
    await expectRefused(sender, ['SMIME_SENDER_MISMATCH']);
  });

  it('wrapper inside a wrapper: the innermost From must bind too (finding 1)', async () => {
    const nested = wrapper(['From: attacker@evil.test', 'Subject: Payment run 2026-03', wrapper(inner('payments@example.com'))].join('\r\n'));
    const m = await signedAs('detached', nested, f.attacker, outer('attacker@evil.test'));
    const v = await expectRefused(m, ['SMIME_FROM_NOT_SIGNER', 'SMIME_SIGNED_FROM_MISMATCH']);
    expect(v.signedHeaders[0]).toEqual({ name: 'From', value: 'payments@example.com' });
  });

  it('a wrapper inside nested signatures: signing the wrapped message again does not hide it (finding 1)', async () => {
    const once = await signedAs('detached', wrapper(inner('payments@example.com')), f.attacker, outer('attacker@evil.test'));
    const v = await expectRefused(await sign(once, f.attacker), ['SMIME_FROM_NOT_SIGNER', 'SMIME_SIGNED_FROM_MISMATCH']);
    expect(v.signers.map((s) => [s.layer, s.ok])).toEqual([
      [0, true],
      [1, true],
    ]);
  });

  it("payments' genuine signed message, wrapped and re-signed by the attacker, does not make the attacker payments (finding 1)", async () => {
    // The wrapped message's own signature verifies, but its header (From payments) is covered only by the attacker's.
    const m = await signedAs('detached', wrapper(good), f.attacker, outer('attacker@evil.test'));
    const v = await expectRefused(m, ['SMIME_FROM_NOT_SIGNER', 'SMIME_SIGNED_FROM_MISMATCH']);
    expect(v.signers.map((s) => [s.layer, s.emails[0], s.ok])).toEqual([
      [0, 'attacker@evil.test', true],
      [1, 'payments@example.com', true],
    ]);    // With the outer From set to payments too: payments' inner signature does not cover the wrapped header.
    const sameFrom = await signedAs('detached', wrapper(good), f.attacker, outer('Payments <payments@example.com>'));
    const w = await expectRefused(sameFrom, ['SMIME_FROM_NOT_SIGNER']);
    expect(w.problems.map((p) => p.message)).toEqual([
      'the wrapped message of layer 0 says From payments@example.com, but no signature covering it is that mailbox\'s (signer addresses: attacker@evil.test)',
    ]);
  });

  it('the same genuine message wrapped and re-signed by payments itself is valid (control)', async () => {
    const v = await expectValid(await signedAs('opaque', wrapper(good), f.payments, outer('Payments <payments@example.com>')));
    expect(v.signedContentType).toBe('text/plain');
    expect(v.signedHeaders.slice(0, 3).map((h) => h.name)).toEqual(['From', 'To', 'Subject']);
  });

  it('a base64-encoded message/rfc822 wrapper → SMIME_STRUCTURE_INVALID (RFC 2046 §5.2.1)', async () => {
    const entity = `Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n${toBase64(utf8(inner('ceo@example.com')))}\r\n`;
    await expectRefused(await signedAs('detached', entity, f.payments, outer('payments@example.com')), ['SMIME_STRUCTURE_INVALID']);
  });

  it('an outer From with the signed mailbox under another display name than the wrapped one → valid, SMIME_OUTER_HEADER_MISMATCH From (finding 1, 3)', async () => {
    const m = await signedAs('detached', wrapper(inner('Payments <payments@example.com>')), f.payments, outer('"CEO Jane Doe" <payments@example.com>'));
    const v = await expectValid(m);
    expect(v.warnings).toEqual([
      {
        code: 'SMIME_OUTER_HEADER_MISMATCH',
        header: 'From',
        message: 'the unsigned outer From ""CEO Jane Doe" <payments@example.com>" differs from the signed From "Payments <payments@example.com>" in the wrapped message',
      },
    ]);
  });

  for (const [outerFrom, innerFrom] of [
    ['Payments <payments@example.com> (NEW IBAN DE99 9999 9999 9999 9999 99)', 'Payments <payments@example.com>'],
    ['Payments <payments@example.com>', 'Payments <payments@example.com> (NEW IBAN DE99 9999 9999 9999 9999 99)'],
  ] as const)
    it(`a comment after the angle address in only one of outer and wrapped From → SMIME_OUTER_HEADER_MISMATCH From (comment dropped when comparing): ${outerFrom.includes('(') ? 'outer' : 'wrapped'}`, async () => {
      const v = await verify(await signedAs('detached', wrapper(inner(innerFrom)), f.payments, outer(outerFrom)));
      expect(v.valid).toBe(true);
      expect(v.warnings.filter((w) => w.code === 'SMIME_OUTER_HEADER_MISMATCH').map((w) => w.header)).toEqual(['From']);
    });

  it('outer Subject, To and Reply-To that differ from the wrapped ones → valid, SMIME_OUTER_HEADER_MISMATCH for each (finding 1, 3)', async () => {
    const m = await signedAs('detached', wrapper(inner('payments@example.com')), f.payments, [
      'From: payments@example.com',
      'To: ap-urgent@example.com',
      'Subject: URGENT: new bank details',
      'Date: Sun, 15 Mar 2026 12:00:00 +0000',
      'Reply-To: payments@example.com',
    ]);
    const v = await expectValid(m);
    expect(v.warnings.map((w) => [w.code, w.header])).toEqual([
      ['SMIME_OUTER_HEADER_MISMATCH', 'Subject'],
      ['SMIME_OUTER_HEADER_MISMATCH', 'To'],
      ['SMIME_OUTER_HEADER_MISMATCH', 'Reply-To'],
    ]);
    expect(v.warnings[0]!.message).toBe(
      'the unsigned outer Subject "URGENT: new bank details" differs from the signed Subject "Payment run 2026-03" in the wrapped message',
    );
  });
});

describe('encoded words a verifier cannot decode in From (attack report item 1)', () => {
  for (const [cs, word] of [
    ['x-user-defined', 'payments=40example.com'],
    ['utf-7', 'payments+AEA-example.com'],
    ['cp850', 'payments=40example.com'],
    ['ibm437', 'payments=40example.com'],
    ['us', 'payments=40example.com'],
    ['x-unknown', 'payments=40example.com'],
  ] as const)
    it(`From: =?${cs}?Q?${word}?= <attacker@evil.test> signed by the attacker is invalid, SMIME_FROM_DISPLAY_NAME_ADDRESS (undecodable encoded word in From)`, async () => {
      const v = await expectRefused(await sign(plainMessage({ from: `=?${cs}?Q?${word}?= <attacker@evil.test>` }), f.attacker), ['SMIME_FROM_DISPLAY_NAME_ADDRESS']);
      expect(v.problems[0]!.message).toContain(`the charset "${cs}"`);
    });

  it('the same undecodable From inside a wrapped message/rfc822 is invalid (undecodable encoded word in From)', async () => {
    const from = '=?x-user-defined?Q?payments=40example.com?= <attacker@evil.test>';
    const m = plainMessage({
      from,
      contentHeaders: ['Content-Type: message/rfc822'],
      body: `From: ${from}\r\nTo: approvers@example.com\r\nSubject: Payment run 2026-03\r\nDate: Sun, 15 Mar 2026 12:00:00 +0000\r\nContent-Type: text/plain\r\n\r\nPlease pay 1,250.00 EUR.\r\n`,
    });
    const v = await verify(await sign(m, f.attacker));
    expect(v.valid).toBe(false);
    expect(codes(v)).toContain('SMIME_FROM_DISPLAY_NAME_ADDRESS');
  });

  it('a decodable encoded-word display name stays valid (control)', async () => {
    await expectValid(await sign(plainMessage({ from: '=?iso-8859-1?Q?Zahlungen_M=FCller?= <payments@example.com>' }), f.payments));
  });
});

describe('certificate mailboxes (finding 2)', () => {
  it('subject emailAddress beside a SAN rfc822Name does not bind: From ceo signed by a SAN-payments certificate is invalid (finding 2)', async () => {
    const s = f.sanAndSubjectEmail;
    const v = await expectRefused(await sign(plainMessage({ from: 'CEO <ceo@example.com>' }), s), ['SMIME_FROM_NOT_SIGNER']);
    expect(v.signers[0]).toMatchObject({ ok: true, emails: ['payments@example.com'], emailSource: 'subjectAltName', matchesFrom: false });
  });

  it('the same certificate is valid for its SAN mailbox (control)', async () => {
    const v = await expectValid(await sign(plainMessage(), f.sanAndSubjectEmail));
    expect(v.warnings).toEqual([]);
  });

  it('a legacy certificate without SAN mailbox binds its subject emailAddress, and the verdict says so (finding 2)', async () => {
    const v = await expectValid(await sign(plainMessage({ from: 'legacy@example.com' }), f.subjectEmailOnly));
    expect(v.signers[0]).toMatchObject({ emails: ['legacy@example.com'], emailSource: 'subject', matchesFrom: true });
    expect(v.warnings).toEqual([
      {
        code: 'SMIME_SIGNER_EMAIL_FROM_SUBJECT',
        message: 'signer 0 vouches for legacy@example.com only through the subject emailAddress of its certificate (it has no SAN rfc822Name)',
        signer: 0,
      },
    ]);
  });

  it('a SAN naming Payments@ and payments@ binds both: local parts are not folded together', async () => {
    const cert = { ...f.payments.certificate, subjectAltName: { ...f.payments.certificate.subjectAltName!, rfc822Names: ['Payments@example.com', 'payments@EXAMPLE.com', 'payments@example.com'] } };
    expect(certificateMailboxes(cert).emails).toEqual(['Payments@example.com', 'payments@EXAMPLE.com']);
  });
});

describe('what a reader sees outside the bound mailbox (finding 3)', () => {
  const warned = (v: Verdict) => v.warnings.map((w) => w.code);

  for (const name of ['ceo at example.com', 'ceo (at) example (dot) com', 'ceo [at] example.com', 'CEO AT EXAMPLE.COM', 'ceo @ example.com', 'ce\u200Bo at example.com'])
    it(`display name "${name.replace('\u200B', '<ZWSP>')}" <payments@example.com> → valid, SMIME_FROM_DISPLAY_NAME_LOOKALIKE (finding 3)`, async () => {
      const shown = /^[\x20-\x7e]*$/.test(name) ? `"${name}"` : `=?utf-8?b?${toBase64(utf8(name))}?=`;
      const v = await expectValid(await sign(plainMessage({ from: `${shown} <payments@example.com>` }), f.payments));
      expect(warned(v)).toEqual(['SMIME_FROM_DISPLAY_NAME_LOOKALIKE']);
      expect(v.warnings[0]!.message).toMatch(/^the From field reads as ceo@example\.com \(written without "@"\) but the address is payments@example\.com$/i);
    });

  it('an encoded-word display name spelling another address → SMIME_FROM_DISPLAY_NAME_LOOKALIKE (finding 3)', async () => {
    const v = await expectValid(await sign(plainMessage({ from: `=?utf-8?b?${toBase64(utf8('ceo at example.com'))}?= <payments@example.com>` }), f.payments));
    expect(warned(v)).toEqual(['SMIME_FROM_DISPLAY_NAME_LOOKALIKE']);
  });

  it('a display name with bidirectional controls → SMIME_FROM_DISPLAY_NAME_LOOKALIKE (finding 3)', async () => {
    const v = await expectValid(await sign(plainMessage({ from: `=?utf-8?b?${toBase64(utf8('\u202Emoc.elpmaxe ta oec'))}?= <payments@example.com>` }), f.payments));
    expect(warned(v)).toEqual(['SMIME_FROM_DISPLAY_NAME_LOOKALIKE']);
  });

  it('display names that spell the own address, or say "at" in words, give no warning (control)', async () => {
    for (const from of ['"payments at example.com" <payments@example.com>', '"Payments, meet at noon" <payments@example.com>', 'Payments <payments@example.com>']) {
      const v = await expectValid(await sign(plainMessage({ from }), f.payments));
      expect(v.warnings).toEqual([]);
    }
  });

  it('Reply-To in another domain than From → valid, SMIME_REPLY_TO_OTHER_DOMAIN (finding 3)', async () => {
    const v = await expectValid(await sign(plainMessage({ headers: ['Reply-To: "Payments" <payments@example.com.evil.test>'] }), f.payments));
    expect(v.warnings).toEqual([
      {
        code: 'SMIME_REPLY_TO_OTHER_DOMAIN',
        message: 'Reply-To sends replies to payments@example.com.evil.test, outside example.com, the domain of the From mailbox',
      },
    ]);
  });

  for (const name of ['ceo\u24D0example.com', 'ceo \u0430t example.com', 'ceo at example\u3002com', 'ceo at example\uFF61com', 'ceo at example\u00B7com', 'ceo-at-example.com', 'ceo_at_example.com'])
    it(`look-alike display name ${JSON.stringify(name)} <payments@example.com> → valid, SMIME_FROM_DISPLAY_NAME_LOOKALIKE (look-alike "@", "at" or ".")`, async () => {
      const shown = /^[\x20-\x7e]*$/.test(name) ? `"${name}"` : `=?utf-8?b?${toBase64(utf8(name))}?=`;
      const v = await expectValid(await sign(plainMessage({ from: `${shown} <payments@example.com>` }), f.payments));
      expect(warned(v)).toEqual(['SMIME_FROM_DISPLAY_NAME_LOOKALIKE']);
    });

  it('a display name "Sales at Example" without a domain-looking tail gives no warning (control)', async () => {
    const v = await expectValid(await sign(plainMessage({ from: '"Sales at Example" <payments@example.com>' }), f.payments));
    expect(v.warnings).toEqual([]);
  });

  for (const field of ['Mail-Reply-To', 'Mail-Followup-To', 'Disposition-Notification-To'])
    it(`${field} in another domain than From → valid, SMIME_REPLY_TO_OTHER_DOMAIN naming ${field} (reply redirection beyond Reply-To)`, async () => {
      const v = await expectValid(await sign(plainMessage({ headers: [`${field}: payments@example.com.evil.test`] }), f.payments));
      expect(warned(v)).toEqual(['SMIME_REPLY_TO_OTHER_DOMAIN']);
      expect(v.warnings[0]!.message).toMatch(new RegExp(`^${field} sends (replies|read receipts) to payments@example\\.com\\.evil\\.test, outside example\\.com`));
    });

  it('Reply-To in the From domain or a subdomain of it gives no warning (control)', async () => {
    const v = await expectValid(await sign(plainMessage({ headers: ['Reply-To: ap@example.com, tickets@support.EXAMPLE.com'] }), f.payments));
    expect(v.warnings).toEqual([]);
  });

  it('an opaque message whose outer Subject and To differ from the signed ones → valid, SMIME_OUTER_HEADER_MISMATCH (finding 3)', async () => {
    // OpenSSL-style: the whole message (its header included) is the signed content; the outer header was changed.
    const content = plainMessage();
    const cms = await signData(utf8(content), {
      signers: [{ key: f.payments.key, certificate: f.payments.certificate, signingTime: NOW }],
      certificates: [f.payments.certificate.der, f.payments.chain[0]!.der],
      detached: false,
    });
    const m = opaqueSigned(['From: Payments <payments@example.com>', 'To: everyone@example.com', 'Subject: URGENT: new bank details'], cms);
    const v = await expectValid(m);
    expect(v.warnings.map((w) => [w.code, w.header])).toEqual([
      ['SMIME_OUTER_HEADER_MISMATCH', 'Subject'],
      ['SMIME_OUTER_HEADER_MISMATCH', 'To'],
    ]);
    expect(v.warnings[1]!.message).toBe('the unsigned outer To "everyone@example.com" differs from the signed To "approvers@example.com" in the signed part');
  });
});

describe('CPU a hostile header or certificate can ask for (linear de-duplication)', () => {
  it('Reply-To with 40,000 mailboxes in other domains is checked in linear time (quadratic de-dup took 70 s for 60,000, ≈ 31 s for 40,000; linear ≈ 1 s)', () => {
    // The bound leaves room for a loaded CI machine (2 cores, the suite in parallel) and still catches quadratic work.
    const n = 40_000;
    const header = `Reply-To: ${Array.from({ length: n }, (_, i) => `a${i}@evil${i}.test`).join(',\r\n ')}\r\nFrom: payments@example.com\r\n\r\nbody\r\n`;
    const entity = parseMessage(header);
    const t = performance.now();
    const w = replyToWarnings(entity, 'payments@example.com');
    expect(performance.now() - t).toBeLessThan(10_000);
    expect(w).toHaveLength(1);
    expect(w[0]!.message).toBe(`Reply-To sends replies to a0@evil0.test, a1@evil1.test, a2@evil2.test, a3@evil3.test, a4@evil4.test, … (${n} in all), outside example.com, the domain of the From mailbox`);
  });
});
