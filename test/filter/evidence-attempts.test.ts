/**
 * A message handed to the filter more than once (the MTA's retries): which attempts a record keeps
 * (the bound), the certificates carried for them, and records written before attempts were kept.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  MAX_EVIDENCE_EARLIER_ATTEMPTS,
  MAX_EVIDENCE_UNDELIVERED_ATTEMPTS,
  MemoryEvidenceStore,
  carryEvidence,
  checkEvidenceRecord,
  evidenceAttempts,
  evidenceDeliveries,
  mergeEvidence,
  retainEarlierAttempts,
  type EvidenceAttempt,
  type EvidenceCertificate,
  type EvidenceDelivery,
  type EvidenceRecord,
} from '../../src/filter/evidence.js';
import { openSqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { tempDir } from '../helpers/peers.js';
import { certificate, record } from './evidence-contract.js';

/** A verdict (as evidence keeps it) whose one signer's chain validated through `path` (signer first). */
function verdictNaming(path: EvidenceCertificate[], ok = true) {
  return { valid: ok, signers: [{ certificate: { sha256: path[0]!.sha256 }, chain: { ok, path: path.map((c) => ({ sha256: c.sha256 })) } }] };
}

function attempt(n: number, extra: Partial<EvidenceAttempt> = {}): EvidenceAttempt {
  const { authenticationResults, smime, dkim, dispositions } = record(1);
  return { attempt: n, receivedAt: new Date(Date.UTC(2026, 0, 1) + n * 3600_000).toISOString(), authenticationResults, smime, ...(dkim ? { dkim } : {}), dispositions, outcome: 'deferred', ...extra };
}

const numbers = (a: { attempt: number }[]) => a.map((x) => x.attempt);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('retainEarlierAttempts: the bound', () => {
  it(`keeps the first attempt, every one a recipient was delivered under, and the latest ${MAX_EVIDENCE_UNDELIVERED_ATTEMPTS} others`, () => {
    const all = range(1, 30).map((n) => attempt(n));
    const deliveries: EvidenceDelivery[] = [
      { recipient: 'ap@example.com', attempt: 1 },
      { recipient: 'ar@example.com', attempt: 12 },
    ];
    expect(numbers(retainEarlierAttempts(all, deliveries))).toEqual([1, 12, ...range(23, 30)]);
    // Fewer than the bound: all.
    expect(numbers(retainEarlierAttempts(all.slice(0, 5), []))).toEqual([1, 2, 3, 4, 5]);
  });

  it(`never more than MAX_EVIDENCE_EARLIER_ATTEMPTS (${MAX_EVIDENCE_EARLIER_ATTEMPTS}): past it the first and the latest delivering ones`, () => {
    const all = range(1, 150).map((n) => attempt(n));
    const deliveries = range(1, 150).map((n) => ({ recipient: `r${n}@example.com`, attempt: n }));
    const kept = retainEarlierAttempts(all, deliveries);
    expect(kept).toHaveLength(MAX_EVIDENCE_EARLIER_ATTEMPTS);
    expect(numbers(kept)).toEqual([1, ...range(52, 150)]);
  });
});

describe('carryEvidence: what a retry takes over from the record of the earlier attempts', () => {
  const [ca, a, b, c] = [certificate('ca'), certificate('a'), certificate('b'), certificate('c')];

  it('the previous latest attempt becomes an earlier one, dated; deliveries and the certificates of kept attempts are carried', () => {
    const previous = record(1, {
      attempts: 2,
      lastAttemptAt: '2026-01-02T00:00:00.000Z',
      smime: { result: 'fail', verdict: verdictNaming([b, ca]) },
      outcome: 'deferred',
      refused: [{ recipient: 'gone@example.com', reply: '550 5.1.1 no such user' }],
      delivered: ['ap@example.com'],
      deliveries: [{ recipient: 'ap@example.com', attempt: 1 }],
      earlier: [attempt(1, { smime: { result: 'pass', verdict: verdictNaming([a, ca]) } })],
      certificates: [b, ca, a],
    });
    const carried = carryEvidence(previous);
    expect(numbers(carried.earlier)).toEqual([1, 2]);
    expect(carried.earlier[1]).toEqual({
      attempt: 2,
      receivedAt: '2026-01-02T00:00:00.000Z',
      authenticationResults: previous.authenticationResults,
      smime: previous.smime,
      dkim: previous.dkim,
      dispositions: previous.dispositions,
      outcome: 'deferred',
      refused: previous.refused,
    });
    expect(carried.deliveries).toEqual([{ recipient: 'ap@example.com', attempt: 1 }]);
    expect(carried.certificates).toEqual([b, ca, a]);
  });

  it('a certificate only a dropped attempt named is dropped with it; one a kept attempt names is not', () => {
    // Attempt 2 alone named c; attempts 2..10 passed nothing on, so the 11th pushes attempt 2 out.
    const earlier = [attempt(1, { smime: { result: 'pass', verdict: verdictNaming([a, ca]) } }), attempt(2, { smime: { result: 'pass', verdict: verdictNaming([c, ca]) } }), ...range(3, 9).map((n) => attempt(n))];
    const previous = record(1, { attempts: 10, lastAttemptAt: '2026-01-05T00:00:00.000Z', smime: { result: 'pass', verdict: verdictNaming([b, ca]) }, earlier, certificates: [b, ca, a, c] });
    const carried = carryEvidence(previous);
    expect(numbers(carried.earlier)).toEqual([1, ...range(3, 10)]);
    expect(carried.certificates).toEqual([b, ca, a]);
  });

  it('a chain that did not validate names no certificate to keep', () => {
    const previous = record(1, { smime: { result: 'fail', verdict: verdictNaming([c, ca], false) }, certificates: [] });
    expect(carryEvidence(previous).certificates).toEqual([]);
  });
});

describe('records written before attempts were kept', () => {
  // As the filter wrote them: no deliveries, earlier or lastAttemptAt.
  const once = record(1, { attempts: 1, delivered: ['ap@example.com'] });
  const thrice = record(2, { attempts: 3, delivered: ['ap@example.com'], outcome: 'deferred' });

  it('handed over once: every delivered recipient went under attempt 1; more often: which attempt is not known', () => {
    expect(evidenceDeliveries(once)).toEqual([{ recipient: 'ap@example.com', attempt: 1 }]);
    expect(evidenceDeliveries(record(3, { delivered: ['ap@example.com'] }))).toEqual([{ recipient: 'ap@example.com', attempt: 1 }]);
    expect(evidenceDeliveries(thrice)).toEqual([]);
    expect(evidenceAttempts(once)).toEqual([expect.objectContaining({ attempt: 1, receivedAt: once.receivedAt, delivered: ['ap@example.com'] })]);
    // Attempt 3's time was not recorded (receivedAt is the first attempt's).
    const [only] = evidenceAttempts(thrice);
    expect(only).toMatchObject({ attempt: 3, delivered: [] });
    expect(only).not.toHaveProperty('receivedAt');
  });

  it('a retry on top of one keeps its verdict as an earlier attempt', () => {
    const carried = carryEvidence(thrice);
    expect(carried.earlier).toEqual([expect.objectContaining({ attempt: 3, smime: thrice.smime, outcome: 'deferred' })]);
    expect(carried.earlier[0]).not.toHaveProperty('receivedAt');
    expect(() => checkEvidenceRecord({ ...thrice, attempts: 4, earlier: carried.earlier })).not.toThrow();
  });

  it('SQLite: a record in the old shape, as stored, reads (no migration: the record is JSON, the new fields optional)', async () => {
    const tmp = tempDir('mailpki-evidence-');
    try {
      const path = tmp.path('store.db');
      const ca = certificate('ca');
      (await openSqliteEvidenceStore(path)).close();
      // Written the way the previous version's put wrote it: certificates named by fingerprint.
      const db = new Database(path);
      const old = { ...thrice, certificates: [ca] };
      db.prepare('INSERT INTO filter_evidence_certificates (sha256, der) VALUES (?, ?)').run(ca.sha256, Buffer.from(ca.der, 'base64'));
      db.prepare('INSERT INTO filter_evidence_certificate_refs (evidence_id, sha256) VALUES (?, ?)').run(old.id, ca.sha256);
      db.prepare('INSERT INTO filter_evidence (id, message_id, received_at, record) VALUES (?, ?, ?, ?)').run(old.id, old.messageId, Date.parse(old.receivedAt), JSON.stringify({ ...old, certificates: [{ sha256: ca.sha256 }] }));
      db.close();
      const s = await openSqliteEvidenceStore(path);
      expect(await s.get(old.id)).toEqual(old);
      expect(await s.list()).toEqual([old]);
      await s.close();
    } finally {
      tmp.cleanup();
    }
  });
});

describe('checkEvidenceRecord: earlier attempts and deliveries', () => {
  const base = record(1, { attempts: 3, earlier: [attempt(1), attempt(2)], deliveries: [{ recipient: 'ap@example.com', attempt: 1 }] });

  it('a consistent record passes', () => {
    expect(checkEvidenceRecord(base)).toEqual(base);
  });

  it.each<[string, Partial<EvidenceRecord>, string]>([
    ['earlier attempts out of order', { earlier: [attempt(2), attempt(1)] }, 'earlier'],
    ['an earlier attempt numbered as the latest', { earlier: [attempt(1), attempt(3)] }, 'earlier'],
    ['a delivery under an attempt after the latest', { deliveries: [{ recipient: 'ap@example.com', attempt: 4 }] }, 'deliveries'],
    ['attempt 0', { deliveries: [{ recipient: 'ap@example.com', attempt: 0 }] }, 'deliveries.0.attempt'],
    ['more earlier attempts than kept', { attempts: 200, earlier: range(1, MAX_EVIDENCE_EARLIER_ATTEMPTS + 1).map((n) => attempt(n)) }, 'earlier'],
    ['an earlier attempt with no verdict part', { earlier: [{ ...attempt(1), smime: undefined as never }] }, 'earlier.0.smime'],
  ])('%s → ERR_INVALID_INPUT naming the field; nothing written', async (_, change, field) => {
    const s = new MemoryEvidenceStore();
    await expect(s.put({ ...base, ...change })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field } });
    expect(await s.list()).toEqual([]);
  });
});

describe('SQLite: the certificates of a retried record', () => {
  it('a certificate only a dropped attempt named goes at the next prune; one a kept attempt names stays', async () => {
    const tmp = tempDir('mailpki-evidence-');
    const [ca, a, b, c] = [certificate('ca'), certificate('a'), certificate('b'), certificate('c')];
    try {
      const s = await openSqliteEvidenceStore(tmp.path('store.db'));
      // Record 5: attempt 1 named a (kept: the first), attempt 2 named c (since dropped), attempt 3 names b.
      await s.put(record(5, { attempts: 2, certificates: [c, ca, a] }));
      await s.put(record(5, { attempts: 3, earlier: [attempt(1, { smime: { result: 'pass', verdict: verdictNaming([a, ca]) } })], certificates: [b, ca, a] }));
      // An older record pruned: the prune drops certificates no record names.
      await s.put(record(1, { certificates: [certificate('old')] }));
      expect(await s.prune(new Date(record(2).receivedAt))).toBe(1);
      const db = new Database(tmp.path('store.db'), { readonly: true });
      const stored = (db.prepare('SELECT sha256 FROM filter_evidence_certificates').pluck().all() as string[]).sort();
      db.close();
      expect(stored).toEqual([a, b, ca].map((x) => x.sha256).sort());
      expect((await s.get('id-0005'))!.certificates).toEqual([b, ca, a]);
      await s.close();
    } finally {
      tmp.cleanup();
    }
  });
});

describe('mergeEvidence: two writers of one record (the same message handed over twice at once)', () => {
  const [ca, a, b] = [certificate('ca'), certificate('a'), certificate('b')];
  /** Attempt 1 as it claimed the message (pending) and as it finished (ap@ served under it). */
  const claimed1 = record(1, { outcome: 'pending', attempts: 1, delivered: [], smime: { result: 'pass', verdict: verdictNaming([a, ca]) }, certificates: [a, ca] });
  const finished1 = { ...claimed1, outcome: 'delivered' as const, delivered: ['ap@example.com'], deliveries: [{ recipient: 'ap@example.com', attempt: 1 }], faults: ['slow return port'] };
  /** Attempt 2 took over after attempt 1's lease (built on claimed1), and served ar@. */
  const { earlier, certificates } = carryEvidence(claimed1);
  const took2 = record(1, {
    outcome: 'delivered',
    attempts: 2,
    lastAttemptAt: '2026-01-01T01:00:00.000Z',
    smime: { result: 'fail', verdict: verdictNaming([b, ca], false) },
    delivered: ['ar@example.com'],
    deliveries: [{ recipient: 'ar@example.com', attempt: 2 }],
    earlier,
    certificates,
  });

  it('attempt 1 finishing after attempt 2 took over: attempt 2\'s own fields stay, both deliveries are kept, attempt 1\'s entry gets its outcome', () => {
    const m = mergeEvidence(took2, finished1);
    expect(checkEvidenceRecord(m)).toEqual(m);
    expect(m).toMatchObject({ attempts: 2, outcome: 'delivered', smime: took2.smime, faults: ['slow return port'] });
    expect(new Set(m.delivered)).toEqual(new Set(['ap@example.com', 'ar@example.com']));
    expect(evidenceAttempts(m).map((x) => [x.attempt, x.outcome, x.delivered])).toEqual([
      [1, 'delivered', ['ap@example.com']],
      [2, 'delivered', ['ar@example.com']],
    ]);
    // Attempt 1's verdict names a and ca: they stay.
    expect(new Set(m.certificates)).toEqual(new Set([a, ca]));
  });

  it('attempt 2 writing after attempt 1 merged into its record: nothing attempt 1 wrote is lost (a whole-record write lost it)', () => {
    const stored = mergeEvidence({ ...took2, outcome: 'pending', delivered: [], deliveries: [] }, finished1);
    const m = mergeEvidence(stored, took2);
    expect(m).toMatchObject({ attempts: 2, outcome: 'delivered' });
    expect(evidenceAttempts(m).map((x) => [x.attempt, x.outcome, x.delivered])).toEqual([
      [1, 'delivered', ['ap@example.com']],
      [2, 'delivered', ['ar@example.com']],
    ]);
  });

  it('the same attempt (its claim as stored, its outcome now): the outcome is written as is', () => {
    expect(mergeEvidence(claimed1, finished1)).toEqual(finished1);
  });

  it('attempts: false (records without verdicts): deliveries, delivered and faults only', () => {
    const m = mergeEvidence(took2, finished1, { attempts: false });
    expect(m.earlier).toEqual(took2.earlier);
    expect(evidenceDeliveries(m)).toEqual([
      { recipient: 'ar@example.com', attempt: 2 },
      { recipient: 'ap@example.com', attempt: 1 },
    ]);
  });
});
