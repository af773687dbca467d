/** The contract every EvidenceStore passes (memory, SQLite). */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import type { EvidenceCertificate, EvidenceRecord, EvidenceStore } from '../../src/filter/evidence.js';

/** A stand-in certificate: stores keep the bytes, they do not parse them. */
export function certificate(label: string): EvidenceCertificate {
  const der = Buffer.from(`0\x82 certificate ${label}`);
  return { sha256: createHash('sha256').update(der).digest('hex'), der: der.toString('base64') };
}

export function record(n: number, extra: Partial<EvidenceRecord> = {}): EvidenceRecord {
  return {
    id: `id-${String(n).padStart(4, '0')}`,
    messageId: `<m${n}@example.com>`,
    receivedAt: new Date(Date.UTC(2026, 0, 1) + n * 60_000).toISOString(),
    envelope: { from: 'payments@example.com', to: ['ap@example.com'] },
    sha256: 'a'.repeat(64),
    size: 1234,
    authenticationResults: 'mx.example.com; smime=pass',
    smime: { result: 'pass', verdict: { valid: true, signers: [{ revocation: [{ status: 'good', method: 'ocsp', url: 'http://ocsp.example.com' }] }] } },
    dkim: { result: 'pass', results: [{ result: 'pass', domain: 'example.com' }] },
    dispositions: [{ recipient: 'ap@example.com', action: 'accept', rule: 'ap', failed: [] }],
    outcome: 'delivered',
    faults: [],
    ...extra,
  };
}

export function runEvidenceContract(name: string, factory: () => Promise<{ store: EvidenceStore; close: () => Promise<void> }>): void {
  describe(`EvidenceStore contract: ${name}`, () => {
    const withStore = async (f: (s: EvidenceStore) => Promise<void>) => {
      const h = await factory();
      try {
        await f(h.store);
      } finally {
        await h.close();
      }
    };

    it('put then get returns an equal record; a second put with the same id replaces it', () =>
      withStore(async (s) => {
        await s.put(record(1));
        expect(await s.get('id-0001')).toEqual(record(1));
        await s.put(record(1, { outcome: 'deferred', faults: ['return port down'] }));
        expect(await s.get('id-0001')).toEqual(record(1, { outcome: 'deferred', faults: ['return port down'] }));
        expect(await s.get('nope')).toBeUndefined();
      }));

    it('list: oldest first, by time window, by message-id, paged with after/limit', () =>
      withStore(async (s) => {
        for (const n of [5, 1, 3, 2, 4]) await s.put(record(n));
        expect((await s.list()).map((r) => r.id)).toEqual(['id-0001', 'id-0002', 'id-0003', 'id-0004', 'id-0005']);
        expect((await s.list({ since: new Date(record(2).receivedAt), until: new Date(record(4).receivedAt) })).map((r) => r.id)).toEqual(['id-0002', 'id-0003']);
        expect((await s.list({ messageId: '<m3@example.com>' })).map((r) => r.id)).toEqual(['id-0003']);
        expect((await s.list({ limit: 2 })).map((r) => r.id)).toEqual(['id-0001', 'id-0002']);
        expect((await s.list({ limit: 2, after: 'id-0002' })).map((r) => r.id)).toEqual(['id-0003', 'id-0004']);
      }));

    it('list: paging after a record pruned since the last page goes on after where it stood (given its receivedAt as since), never skipping the rest', () =>
      withStore(async (s) => {
        for (const n of [1, 2, 3, 4, 5]) await s.put(record(n));
        const page = await s.list({ limit: 3 });
        expect(await s.prune(new Date(record(4).receivedAt))).toBe(3);
        const last = page[page.length - 1]!;
        expect((await s.list({ limit: 3, after: last.id, since: new Date(last.receivedAt) })).map((r) => r.id)).toEqual(['id-0004', 'id-0005']);
        // Without its receivedAt the position is unknown: from the start again (duplicates, never a loss).
        expect((await s.list({ after: last.id })).map((r) => r.id)).toEqual(['id-0004', 'id-0005']);
      }));

    it('prune removes what was received before the cut-off and says how many', () =>
      withStore(async (s) => {
        for (const n of [1, 2, 3]) await s.put(record(n));
        expect(await s.prune(new Date(record(3).receivedAt))).toBe(2);
        expect((await s.list()).map((r) => r.id)).toEqual(['id-0003']);
        expect(await s.prune(new Date(record(1).receivedAt))).toBe(0);
      }));

    it('a bad record or query is ERR_INVALID_INPUT naming the field; nothing is written', () =>
      withStore(async (s) => {
        await expect(s.put({ ...record(1), sha256: 'xyz' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'sha256' } });
        await expect(s.put({ ...record(1), outcome: 'lost' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'outcome' } });
        await expect(s.list({ limit: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'limit' } });
        // A claim's lease over a day (one dead attempt would hold its message longer), or not a positive integer.
        for (const leaseMs of [86_400_001, 0, 1.5])
          await expect(s.put({ ...record(1), outcome: 'pending', leaseMs })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'leaseMs' } });
        expect(await s.list()).toEqual([]);
        await s.put({ ...record(1), outcome: 'pending', leaseMs: 86_400_000 });
        expect((await s.get('id-0001'))?.leaseMs).toBe(86_400_000);
      }));

    it('certificates: kept with each record, one certificate shared by many records, kept while a record names it', () =>
      withStore(async (s) => {
        const [ca, a, b] = [certificate('ca'), certificate('a'), certificate('b')];
        await s.put(record(1, { certificates: [a, ca] }));
        await s.put(record(2, { certificates: [b, ca] }));
        // Written again (the outcome changed): the same certificates.
        await s.put(record(1, { certificates: [a, ca], outcome: 'deferred' }));
        expect((await s.get('id-0001'))!.certificates).toEqual([a, ca]);
        expect((await s.list()).map((r) => r.certificates)).toEqual([[a, ca], [b, ca]]);
        expect(await s.prune(new Date(record(2).receivedAt))).toBe(1);
        expect((await s.get('id-0002'))!.certificates).toEqual([b, ca]);
        await s.put(record(3, { certificates: [a] }));
        expect((await s.get('id-0003'))!.certificates).toEqual([a]);
      }));

    it('certificates: a fingerprint that is not the SHA-256 of its DER is ERR_INVALID_INPUT; nothing is written', () =>
      withStore(async (s) => {
        const [a, b] = [certificate('a'), certificate('b')];
        await expect(s.put(record(1, { certificates: [{ sha256: a.sha256, der: b.der }] }))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'certificates' } });
        await expect(s.put(record(1, { certificates: [{ sha256: a.sha256, der: 'not base64!' }] }))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
        expect(await s.list()).toEqual([]);
      }));

    it('certificates: fingerprints checked once are remembered per DER only: after a, b kept, a DER with the other one\'s fingerprint is still refused', () =>
      withStore(async (s) => {
        const [a, b] = [certificate('a'), certificate('b')];
        await s.put(record(1, { certificates: [a, b] }));
        await s.put(record(1, { certificates: [a, b], outcome: 'delivered' }));
        await expect(s.put(record(2, { certificates: [{ sha256: a.sha256, der: b.der }] }))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'certificates' } });
        await expect(s.put(record(2, { certificates: [{ sha256: b.sha256, der: a.der }] }))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'certificates' } });
        expect((await s.list()).map((r) => r.id)).toEqual(['id-0001']);
      }));

    it('a retried message\'s record (earlier attempts, who went under which, certificates of both) reads back as written', () =>
      withStore(async (s) => {
        const [ca, a, b] = [certificate('ca'), certificate('a'), certificate('b')];
        const { authenticationResults, smime, dkim, dispositions } = record(1);
        const retried = record(1, {
          attempts: 2,
          lastAttemptAt: '2026-01-02T09:00:00.000Z',
          smime: { result: 'fail', verdict: { valid: false, signers: [{ revocation: [{ status: 'revoked', method: 'ocsp' }] }] } },
          delivered: ['ap@example.com', 'ar@example.com'],
          deliveries: [
            { recipient: 'ap@example.com', attempt: 1 },
            { recipient: 'ar@example.com', attempt: 2 },
          ],
          earlier: [{ attempt: 1, receivedAt: record(1).receivedAt, authenticationResults, smime, ...(dkim ? { dkim } : {}), dispositions, outcome: 'deferred' }],
          certificates: [b, ca, a],
        });
        await s.put(retried);
        expect(await s.get('id-0001')).toEqual(retried);
        expect(await s.list()).toEqual([retried]);
      }));

    it('update: change gets the record as stored (undefined: none) and what it returns is written; undefined writes nothing; resolves with the record written', () =>
      withStore(async (s) => {
        const seen: (EvidenceRecord | undefined)[] = [];
        expect(await s.update('id-0001', (current) => (seen.push(current), record(1, { outcome: 'pending' })))).toEqual(record(1, { outcome: 'pending' }));
        expect(await s.update('id-0001', (current) => (seen.push(current), current && { ...current, outcome: 'delivered', delivered: ['ap@example.com'] }))).toEqual(
          record(1, { delivered: ['ap@example.com'] }),
        );
        expect(await s.update('id-0001', (current) => (seen.push(current), undefined))).toBeUndefined();
        expect(seen).toEqual([undefined, record(1, { outcome: 'pending' }), record(1, { delivered: ['ap@example.com'] })]);
        expect(await s.get('id-0001')).toEqual(record(1, { delivered: ['ap@example.com'] }));
        expect(await s.update('id-0002', () => undefined)).toBeUndefined();
        expect(await s.get('id-0002')).toBeUndefined();
      }));

    it('update: many made at once on one record each see the one before — none is lost (a get then put of each lost all but one)', () =>
      withStore(async (s) => {
        await s.put(record(1, { faults: [] }));
        const recipients = Array.from({ length: 12 }, (_, i) => `r${i}@example.com`);
        await Promise.all(recipients.map((r) => s.update('id-0001', (current) => ({ ...current!, delivered: [...(current!.delivered ?? []), r] }), { durable: r.startsWith('r1') })));
        expect(new Set((await s.get('id-0001'))!.delivered)).toEqual(new Set(recipients));
      }));

    it('update: a claim made at once by two attempts is won by one — the other sees its claim and writes nothing', () =>
      withStore(async (s) => {
        await s.put(record(1, { outcome: 'deferred', attempts: 1 }));
        const claim = (n: number) =>
          s.update('id-0001', (current) => (current?.outcome === 'pending' ? undefined : { ...current!, outcome: 'pending', attempts: (current!.attempts ?? 1) + 1, faults: [`claimed by ${n}`] }));
        const won = await Promise.all([claim(1), claim(2)]);
        expect(won.filter((r) => r !== undefined)).toHaveLength(1);
        expect(await s.get('id-0001')).toEqual(won.find((r) => r !== undefined));
        expect((await s.get('id-0001'))!.attempts).toBe(2);
      }));

    it('update: a change that throws, makes a bad record or one with another id rejects that update alone and writes nothing for it; updates made at the same moment are written', () =>
      withStore(async (s) => {
        await s.put(record(1));
        const results = await Promise.allSettled([
          s.update('id-0001', () => {
            throw new Error('change failed');
          }),
          s.update('id-0001', (current) => ({ ...current!, sha256: 'xyz' })),
          s.update('id-0001', () => record(2)),
          s.update('id-0003', () => record(3)),
        ]);
        expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'fulfilled']);
        expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ message: 'change failed' });
        expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'sha256' } });
        expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'id' } });
        expect((await s.list()).map((r) => r.id)).toEqual(['id-0001', 'id-0003']);
        expect(await s.get('id-0001')).toEqual(record(1));
        await expect(s.update('id-0001', (c) => c, { durable: 'yes' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'durable' } });
        await expect(s.update('', (c) => c)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'id' } });
      }));

    it('update: a record with certificates reads into change with them, and the changed record keeps them; the record change gets is a copy', () =>
      withStore(async (s) => {
        const [ca, a] = [certificate('ca'), certificate('a')];
        await s.put(record(1, { certificates: [a, ca] }));
        const written = await s.update('id-0001', (current) => {
          expect(current!.certificates).toEqual([a, ca]);
          current!.faults.push('changed');
          return current;
        });
        expect(written).toEqual(record(1, { certificates: [a, ca], faults: ['changed'] }));
        written!.faults.push('not stored');
        expect(await s.get('id-0001')).toEqual(record(1, { certificates: [a, ca], faults: ['changed'] }));
      }));

    it('records returned are copies: changing one changes nothing stored', () =>
      withStore(async (s) => {
        await s.put(record(1));
        const r = (await s.get('id-0001'))!;
        r.dispositions[0]!.action = 'reject';
        expect((await s.get('id-0001'))!.dispositions[0]!.action).toBe('accept');
      }));
  });
}
