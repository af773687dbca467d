/**
 * Regressions from the attack on the evidence an auditor relies on (h/atk-audit): how much of a
 * sender's own text the verdict kept as evidence holds. Messages made by OpenSSL.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { evidenceVerdict, MAX_EVIDENCE_VERDICT_LIST, MAX_EVIDENCE_VERDICT_TEXT } from '../../src/filter/evidence.js';
import { verifyMessage } from '../../src/smime/verify.js';
import type { Verdict } from '../../src/smime/verdict.js';
import { openSqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { describeWithPeers, run, tempDir } from '../helpers/peers.js';
import { certificate, record } from './evidence-contract.js';

const t = tempDir('mailpki-atk-audit-evidence-');
afterAll(() => t.cleanup());

/** A self-made certificate (no CA issued it) of about 60 KB: a subject of 29 attributes of 1000 characters (as issuer too), or 3000 addresses. */
function selfMade(n: number, kind: 'names' | 'addresses'): string[] {
  const key = t.path(`k${n}.pem`);
  const cert = t.path(`c${n}.pem`);
  run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  const oids = Array.from({ length: 29 }, (_, i) => `big${i} = 1.3.6.1.4.1.99999.${i}`).join('\n');
  const dn = kind === 'names' ? Array.from({ length: 29 }, (_, i) => `big${i} = ${'x'.repeat(1000)}`).join('\n') : '';
  const alt = kind === 'addresses' ? Array.from({ length: 3000 }, (_, i) => `email.${i} = a${i}@example.com`).join('\n') : 'email.0 = evil@example.com';
  writeFileSync(
    t.path(`c${n}.cnf`),
    `oid_section = oids\n[oids]\n${oids}\n[req]\nprompt = no\ndistinguished_name = dn\n[dn]\nCN = evil ${n}\n${dn}\n[ext]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature\nsubjectAltName = @alt\n[alt]\n${alt}\n`,
  );
  run('openssl', ['req', '-x509', '-new', '-key', key, '-config', t.path(`c${n}.cnf`), '-extensions', 'ext', '-days', '30', '-out', cert]);
  return ['-signer', cert, '-inkey', key];
}

describeWithPeers('the verdict evidence keeps, against a sender\'s text', ['openssl'], () => {
  let anchor: string;
  beforeAll(() => {
    run('openssl', ['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', t.path('ca.key'), '-subj', '/CN=Real CA', '-days', '30', '-out', t.path('ca.pem')]);
    anchor = readFileSync(t.path('ca.pem'), 'latin1');
  });

  const sign = (body: string, signers: string[], name: string) => {
    writeFileSync(t.path(`${name}.txt`), body);
    run('openssl', ['cms', '-sign', '-in', t.path(`${name}.txt`), ...signers, '-from', 'evil@example.com', '-to', 'ap@example.com', '-subject', 'invoice', '-out', t.path(`${name}.eml`)]);
    return Buffer.from(`Message-ID: <${name}@example.com>\r\n${readFileSync(t.path(`${name}.eml`), 'latin1').replace(/\r?\n/g, '\r\n')}`, 'latin1');
  };
  const size = (v: unknown) => JSON.stringify(v).length;

  it('16 self-made signers with 60 KB of names or addresses each: the kept verdict holds at most its text budget of them (was: 1.9 MB per record and per attempt, kept for the retention time), every signer still named by fingerprint, and says what it cut', async () => {
    const signers = Array.from({ length: 16 }, (_, n) => selfMade(n, n % 2 ? 'addresses' : 'names')).flat();
    const raw = sign('Content-Type: text/plain\r\n\r\nhello\r\n', signers, 'signers');
    expect(raw.length).toBeGreaterThan(900_000);
    const verdict = await verifyMessage(raw, { trustAnchors: [anchor], includeCertificates: true });
    const kept = evidenceVerdict(verdict) as Verdict & { evidenceCut?: { characters: number; entries: number } };
    expect(size(kept)).toBeLessThan(MAX_EVIDENCE_VERDICT_TEXT + 64 * 1024);
    expect(kept.signers.map((s) => s.certificate!.sha256)).toEqual(verdict.signers.map((s) => s.certificate!.sha256));
    expect(kept.signers.every((s) => /^[0-9a-f]{64}$/.test(s.certificate!.sha256!) && !s.ok)).toBe(true);
    expect(kept.problems.map((p) => p.code)).toEqual(verdict.problems.map((p) => p.code));
    expect(kept.evidenceCut!.characters).toBeGreaterThan(900_000);
    expect(kept.evidenceCut!.entries).toBeGreaterThan(0);
  });

  it('a 1 MB header field inside the signed part: the kept verdict names the field, not its megabyte (was: signedHeaders kept it whole)', async () => {
    const junk = Array.from({ length: 1000 }, () => 'y'.repeat(1000)).join('\r\n ');
    const raw = sign(`Content-Type: text/plain\r\nX-Junk: ${junk}\r\n\r\nhello\r\n`, selfMade(99, 'names').slice(0, 2).concat(['-inkey', t.path('k99.pem')]), 'header');
    const verdict = await verifyMessage(raw, { trustAnchors: [anchor], includeCertificates: true });
    expect(size(verdict.signedHeaders)).toBeGreaterThan(1_000_000);
    const kept = evidenceVerdict(verdict) as Verdict & { evidenceCut?: { characters: number } };
    expect(size(kept)).toBeLessThan(MAX_EVIDENCE_VERDICT_TEXT + 16 * 1024);
    expect(kept.signedHeaders.map((h) => h.name)).toEqual(['Content-Type', 'X-Junk']);
    expect(kept.evidenceCut!.characters).toBeGreaterThan(1_000_000 - MAX_EVIDENCE_VERDICT_TEXT);
  });
});

it('SQLite evidence: a damaged certificate row is written whole again by the next record naming it (was: INSERT OR IGNORE kept the damaged bytes for good, and every record naming the certificate — every message of its CA — read as ERR_STORE_CORRUPT)', async () => {
  const path = t.path('heal.db');
  const store = await openSqliteEvidenceStore(path);
  try {
    const [leaf, ca] = [certificate('leaf'), certificate('ca')];
    await store.put(record(1, { certificates: [leaf, ca] }));
    const raw = new Database(path);
    raw.prepare("UPDATE filter_evidence_certificates SET der = CAST(X'00' || substr(der, 2) AS BLOB) WHERE sha256 = ?").run(ca.sha256);
    raw.close();
    await expect(store.get(record(1).id)).rejects.toMatchObject({ code: 'ERR_STORE_CORRUPT' });
    // The next message of the same CA: its record carries the certificate, checked against its SHA-256.
    await store.put(record(2, { certificates: [ca] }));
    expect(await store.get(record(1).id)).toEqual(record(1, { certificates: [leaf, ca] }));
    expect(await store.get(record(2).id)).toEqual(record(2, { certificates: [ca] }));
  } finally {
    await store.close();
  }
});

it('a verdict whose header protection shows 1000 fields (hp="clear": values in clear) keeps the first MAX_EVIDENCE_VERDICT_LIST of them, short values and all, and counts the rest (was: all 1000, each value under the long-text budget)', () => {
  const fields = Array.from({ length: 1000 }, (_, i) => ({ name: `X-F${i}`, value: 'v'.repeat(60) }));
  const verdict = {
    valid: false,
    signedScope: 'entire',
    signers: [],
    signedHeaders: [],
    layers: [],
    headerProtection: [{ hp: 'clear', where: '1', fields, sentOuter: fields, confidential: fields.map((f) => f.name), differences: [], legacyDisplayParts: [] }],
    problems: [],
    warnings: [],
    at: '2026-12-07T00:00:00.000Z',
  } as unknown as Verdict;
  const kept = evidenceVerdict(verdict) as { headerProtection: { fields: unknown[]; sentOuter: unknown[]; confidential: unknown[] }[]; evidenceCut: { entries: number } };
  expect(kept.headerProtection[0]!.fields).toHaveLength(MAX_EVIDENCE_VERDICT_LIST);
  expect(kept.headerProtection[0]!.sentOuter).toHaveLength(MAX_EVIDENCE_VERDICT_LIST);
  expect(kept.headerProtection[0]!.confidential).toHaveLength(MAX_EVIDENCE_VERDICT_LIST);
  expect(kept.evidenceCut.entries).toBe(3 * (1000 - MAX_EVIDENCE_VERDICT_LIST));
  expect(JSON.stringify(kept).length).toBeLessThan(16 * 1024);
});

it('a record nested deeper than JSON can write out is ERR_INVALID_INPUT at put and update, in both stores (was: a RangeError from structuredClone or JSON.stringify, not a coded error)', async () => {
  let deep: unknown = [];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const bad = record(1, { smime: { result: 'fail', verdict: { x: deep } } });
  const sqlite = await openSqliteEvidenceStore(t.path('deep.db'));
  const { MemoryEvidenceStore } = await import('../../src/filter/evidence.js');
  try {
    for (const store of [new MemoryEvidenceStore(), sqlite]) {
      await expect(store.put(bad)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
      await expect(store.update(bad.id, () => bad)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
      await store.put(record(2));
      expect(await store.get(record(2).id)).toEqual(record(2));
    }
  } finally {
    await sqlite.close();
  }
});
