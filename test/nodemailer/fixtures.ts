/**
 * Shared set-up for the nodemailer tests: a LocalCA on a clock we move, S/MIME signers for the
 * cases the preflight tells apart (good, expiring, revoked, another mailbox, not for signing),
 * a CRL the checker is given (nothing is fetched), DKIM keys with their records in a static
 * resolver, and nodemailer transports.
 */
import nodemailer from 'nodemailer';
import { LocalCA, MemoryCaStorage } from '../../src/ca/index.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { generateDkimKey, staticResolver, type DkimKey } from '../../src/dkim/index.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { RevocationChecker } from '../../src/revocation/index.js';
import type { SmimeSigner } from '../../src/smime/index.js';

const DAY = 86_400_000;
/** The CA is made here; every good certificate starts here too. */
export const CA_START = new Date('2026-01-01T00:00:00Z');
/** When the tests send. */
export const NOW = new Date('2026-03-15T12:00:00Z');
export const clock = (): Date => NOW;

export interface Signer extends SmimeSigner {
  certificate: Certificate;
  chain: Certificate[];
  key: CryptoKey;
}

export interface MailFixture {
  ca: LocalCA;
  root: Certificate;
  /** payments@example.com, EC P-256, valid a year from CA_START. */
  payments: Signer;
  /** payments@example.com, expires 3 days after NOW. */
  expiring: Signer;
  /** payments@example.com, revoked (keyCompromise) before NOW. */
  revoked: Signer;
  /** attacker@evil.test, good, same CA. */
  attacker: Signer;
  /** The CA's CRLs at NOW (issuing CA's and root's), naming `revoked`. */
  crls: Uint8Array[];
  /** A checker with those CRLs and a fetch that fails the test: every answer comes from the given CRLs. */
  checker: () => RevocationChecker;
  /** DKIM keys for example.com (RSA 2048, s=nm1) and evil.test (s=ev1). */
  dkim: DkimKey;
  dkimEvil: DkimKey;
  /** Serves both keys' records. */
  resolver: ReturnType<typeof staticResolver>;
  records: Record<string, string>;
}

let memo: Promise<MailFixture> | undefined;

export function mailFixture(): Promise<MailFixture> {
  memo ??= build();
  return memo;
}

async function build(): Promise<MailFixture> {
  let t = CA_START.getTime();
  const caClock = () => new Date(t);
  const ca = await LocalCA.create(new MemoryCaStorage(), { name: 'Mail Test CA', allowedDomains: ['example.com', 'evil.test'] }, { clock: caClock });
  const issue = async (mailbox: string, notBefore: Date, validityDays: number): Promise<Signer> => {
    const pair = await generateKeyPair('ec-p256', { extractable: true });
    const r = await ca.issue({ mailbox, publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore, validityDays });
    return { key: pair.privateKey, certificate: parseCertificate(r.certificate), chain: [ca.issuingCertificate] };
  };
  const payments = await issue('payments@example.com', CA_START, 365);
  const expiring = await issue('payments@example.com', new Date(NOW.getTime() - 27 * DAY), 30);
  const revoked = await issue('payments@example.com', CA_START, 365);
  const attacker = await issue('attacker@evil.test', CA_START, 365);
  t = NOW.getTime() - DAY;
  await ca.revoke({ serialNumber: revoked.certificate.serialNumber, reason: 'keyCompromise' });
  t = NOW.getTime() - 3_600_000;
  const crls = [await ca.createCrl(), (await ca.rootCrl())!];
  const failFetch = async (): Promise<Response> => {
    throw new Error('the test checker must not fetch');
  };
  const checker = () => new RevocationChecker({ crls, clock, fetch: failFetch });
  const [dkim, dkimEvil] = await Promise.all([
    generateDkimKey({ domain: 'example.com', selector: 'nm1', extractable: true }),
    generateDkimKey({ domain: 'evil.test', selector: 'ev1', extractable: true }),
  ]);
  const records = { [dkim.record.name]: dkim.record.value, [dkimEvil.record.name]: dkimEvil.record.value };
  return { ca, root: ca.rootCertificate, payments, expiring, revoked, attacker, crls, checker, dkim, dkimEvil, resolver: staticResolver(records), records };
}

/** A nodemailer transport that hands back the bytes it would send (info.message). */
export function bufferTransport() {
  return nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
}

/** A payment instruction as an application would send it. */
export function paymentMail(extra: Record<string, unknown> = {}) {
  return {
    from: 'Payments <payments@example.com>',
    to: 'approvers@example.com',
    subject: 'Payment instruction 2026-118',
    text: 'Please pay 1,250.00 EUR to IBAN DE89 3704 0044 0532 0130 00 by Friday.\n',
    messageId: '<pi-2026-118@example.com>',
    date: NOW,
    ...extra,
  };
}
