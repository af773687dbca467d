/**
 * Quickstart part 2: payments@example.com as a governed identity on the embedded SQLite store —
 * enrolled for team treasury, used to sign, renewed by the sweep when its renewal window opens,
 * revoked, and the audit trail proven intact.
 */
import { join } from 'node:path';
import {
  LifecycleManager,
  LocalCA,
  MemoryCaStorage,
  passphraseKeyProtector,
  signMessage,
  verifyAuditLog,
  verifyMessage,
} from 'mailpki';
import { openSqliteStore } from 'mailpki/node';

const DAY = 86_400_000;

export async function runLifecycleDemo(work: string): Promise<void> {
  console.log('\n--- Part 2: the same identity, governed ---');
  let now = new Date();
  const clock = () => now;
  const dbPath = join(work, 'mailpki.db');
  const store = await openSqliteStore(dbPath);
  try {
    const ca = await LocalCA.create(new MemoryCaStorage(), { name: 'Example Corp Mail', allowedDomains: ['example.com'] }, { clock });
    const manager = new LifecycleManager({
      ca,
      store,
      clock,
      keyProtector: passphraseKeyProtector('demo key-encryption passphrase', { iterations: 100_000 }),
      policy: { allowedDomainsByOwner: { treasury: ['example.com'] }, validityDays: 90, renewal: { beforeDays: 30 }, notices: [30, 14, 7, 1] },
    });
    manager.on('*', (e) =>
      console.log(
        `   event ${e.type.padEnd(22)} owner=${e.owner.team} ${e.identity.name}` +
          (e.certificate ? ` serial=${e.certificate.serialNumber.slice(0, 12)}… until ${e.certificate.notAfter.slice(0, 10)}` : '') +
          (e.data && 'daysLeft' in e.data ? ` daysLeft=${String(e.data.daysLeft)}` : ''),
      ),
    );

    console.log(`\n1. Enroll payments@example.com for team treasury (store: ${dbPath})`);
    await manager.enroll(
      { mailbox: 'payments@example.com', owner: { team: 'treasury', contact: 'treasury-oncall@example.com' }, purpose: 'sign payment instructions', approvedBy: 'cfo@example.com' },
      { actor: 'alice@example.com' },
    );

    console.log('\n2. Sign a payment instruction with the identity\'s current certificate (mailpki sign --identity)');
    const signer = await manager.getSigner('payments@example.com');
    const signed = await signMessage(
      { from: 'payments@example.com', to: 'approvers@example.com', subject: 'Payment instruction 2026-119', text: 'Please pay 980.00 EUR to IBAN DE89 3704 0044 0532 0130 00.\n' },
      signer,
      { clock },
    );
    const v = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { policy: 'off' } });
    console.log(`   verifies: ${v.valid ? 'VALID' : `NOT VALID ${v.problems.map((p) => p.code).join(', ')}`}`);

    console.log('\n3. 61 days later the renewal window (30 days before expiry) is open: run the sweep');
    now = new Date(now.getTime() + 61 * DAY);
    const sweep = await manager.runDue(now);
    console.log(`   runDue: scanned ${sweep.scanned}, renewed ${sweep.renewed.length}, notices ${sweep.notices.length}, expired ${sweep.expired.length}`);
    const again = await manager.runDue(now);
    console.log(`   runDue again: renewed ${again.renewed.length}, notices ${again.notices.length} (idempotent)`);

    console.log('\n4. Revoke it (the key is retired with the mailbox)');
    await manager.revoke('payments@example.com', { actor: 'bob@example.com', reason: 'cessationOfOperation' });
    const id = await manager.get('payments@example.com');
    console.log(`   status: ${id.status}`);

    console.log('\n5. Prove the audit trail');
    const audit = await verifyAuditLog(store);
    console.log(`   ${audit.ok ? 'intact' : `BROKEN at ${audit.firstBadSeq}`}: ${audit.checked} hash-chained records`);
  } finally {
    await store.close();
  }
}
