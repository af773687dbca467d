/**
 * mailpkiPlugin (issue 13): per-message time sending a payment instruction with nodemailer to a
 * local SMTP sink (smtp-server on loopback), with the plugin — keys given; a governed identity
 * (LifecycleManager, audit write included) — beside nodemailer alone, in interleaved rounds.
 * Every plugin send runs the full preflight: revocation from the checker (a given CRL, answers
 * cached), DKIM record compared with an in-memory resolver (a cached DNS answer).
 */
import nodemailer from 'nodemailer';
import { LocalCA, MemoryCaStorage } from '../src/ca/index.js';
import { generateDkimKey, staticResolver } from '../src/dkim/index.js';
import { exportSpki, generateKeyPair } from '../src/keys/index.js';
import { LifecycleManager } from '../src/lifecycle/index.js';
import { mailpkiPlugin } from '../src/nodemailer/index.js';
import { RevocationChecker } from '../src/revocation/index.js';
import { MemoryStore, passphraseKeyProtector } from '../src/store/index.js';
import { startSink } from '../test/nodemailer/sink.js';
import { measureRounds, reportRounds } from './harness.js';

const MAIL = {
  from: 'Payments <payments@example.com>',
  to: 'approvers@example.com',
  subject: 'Payment instruction 2026-118',
  // About 2 KiB of text, as the issue's filter figure uses.
  text: 'Please pay 1,250.00 EUR to IBAN DE89 3704 0044 0532 0130 00 by Friday, reference INV-2026-118.\n'.repeat(22),
};

export async function benchNodemailer(): Promise<void> {
  const sink = await startSink({ keep: false });
  try {
    const ca = await LocalCA.create(new MemoryCaStorage(), { name: 'Bench CA', allowedDomains: ['example.com'] });
    const pair = await generateKeyPair('ec-p256');
    const issued = await ca.issue({ mailbox: 'payments@example.com', publicKey: await exportSpki(pair.publicKey), profile: 'strict' });
    const signer = { key: pair.privateKey, certificate: issued.certificate, chain: [ca.issuingCertificate] };
    const dkim = await generateDkimKey({ domain: 'example.com', selector: 'bench' });
    const resolver = staticResolver({ [dkim.record.name]: dkim.record.value });
    const store = new MemoryStore();
    const manager = new LifecycleManager({ ca, store, keyProtector: passphraseKeyProtector('bench passphrase', { iterations: 1000 }) });
    await manager.enroll({ mailbox: 'payments@example.com', owner: { team: 'treasury' } }, { actor: 'bench' });
    const crls = [await ca.createCrl(), (await ca.rootCrl())!];
    const checker = new RevocationChecker({ crls });
    const dkimOptions = { keys: [{ domain: 'example.com', selector: 'bench', privateKey: dkim.privateKey }] };
    const preflight = { resolver, trustAnchors: [ca.rootCertificate], revocation: { policy: 'hard-fail' as const, checker } };

    const plain = sink.transport();
    const keys = sink.transport();
    keys.use('stream', mailpkiPlugin({ smime: { signer }, dkim: dkimOptions, preflight }) as (m: unknown, cb: () => void) => void);
    const governed = sink.transport();
    governed.use('stream', mailpkiPlugin({ smime: { identity: 'payments@example.com', manager }, dkim: dkimOptions, preflight }) as (m: unknown, cb: () => void) => void);

    // The same work without a network: nodemailer's stream transport builds the bytes and stops.
    const memPlain = nodemailer.createTransport({ streamTransport: true, buffer: true });
    const memKeys = nodemailer.createTransport({ streamTransport: true, buffer: true });
    memKeys.use('stream', mailpkiPlugin({ smime: { signer }, dkim: dkimOptions, preflight }) as (m: unknown, cb: () => void) => void);
    const mem = await measureRounds(
      [
        { name: 'nodemailer alone, no network (stream transport)', fn: () => memPlain.sendMail(MAIL) },
        { name: 'plugin, keys given, no network', fn: () => memKeys.sendMail(MAIL) },
      ],
      { rounds: 5, ms: 300 },
    );
    reportRounds('the plugin\'s own cost: nodemailer stream transport (no SMTP)', mem, mem[0]!);
    console.log(`  overhead per message ${(1000 / mem[1]!.opsPerSec - 1000 / mem[0]!.opsPerSec).toFixed(2)} ms`);

    const rows = await measureRounds(
      [
        { name: 'nodemailer alone → SMTP sink', fn: () => plain.sendMail(MAIL) },
        { name: 'plugin, keys given (S/MIME + DKIM)', fn: () => keys.sendMail(MAIL) },
        { name: 'plugin, governed identity (+ audit)', fn: () => governed.sendMail(MAIL) },
      ],
      { rounds: 5, ms: 400 },
    );
    reportRounds('nodemailer → local SMTP sink, 2 KiB payment instruction, preflight with revocation from cache', rows, rows[0]!);
    const perMessage = (r: (typeof rows)[number]) => 1000 / r.opsPerSec;
    for (const r of rows.slice(1))
      console.log(`  overhead per message, ${r.name.padEnd(40)} ${(perMessage(r) - perMessage(rows[0]!)).toFixed(2)} ms (${perMessage(r).toFixed(2)} ms vs ${perMessage(rows[0]!).toFixed(2)} ms)`);
    plain.close();
    keys.close();
    governed.close();
  } finally {
    await sink.close();
  }
}
