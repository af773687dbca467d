import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, auditHash, canonicalJson, chainAudit, exportAuditJsonl, verifyAuditChain, type AuditRecord } from '../../src/store/index.js';

describe('canonicalJson', () => {
  it('sorts keys, drops undefined, writes dates as ISO strings, no white space', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x', undefined], c: undefined, d: new Date('2030-01-02T03:04:05.006Z'), e: { z: 0, y: -1.5 } })).toBe(
      '{"a":[true,null,"x",null],"b":1,"d":"2030-01-02T03:04:05.006Z","e":{"y":-1.5,"z":0}}',
    );
    // Keys sort by UTF-16 code units (RFC 8785): uppercase before lowercase, "é" after "z".
    expect(canonicalJson({ é: 1, z: 2, Z: 3 })).toBe('{"Z":3,"z":2,"é":1}');
    expect(canonicalJson('line\n"quote"')).toBe('"line\\n\\"quote\\""');
  });

  it('refuses what JSON cannot hold exactly', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
    expect(() => canonicalJson({ a: 1n })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
    expect(() => canonicalJson(new Map())).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
    expect(() => canonicalJson(new Date(Number.NaN))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
  });
});

const rec = (i: number) => ({ id: `a${i}`, at: new Date(Date.UTC(2030, 0, i)), actor: 'alice', action: 'renew', identityId: 'smime:x@example.com', after: { n: i } });
function chain(n: number): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (let i = 1; i <= n; i++) out.push(chainAudit(rec(i), out[out.length - 1]));
  return out;
}

describe('the audit hash', () => {
  it('is SHA-256 over prevHash and the canonical JSON of the record without hash (checked with node:crypto)', () => {
    const [first] = chain(1);
    const expected = createHash('sha256')
      .update(
        GENESIS_HASH +
          '{"action":"renew","actor":"alice","after":{"n":1},"at":"2030-01-01T00:00:00.000Z","id":"a1","identityId":"smime:x@example.com","prevHash":"' +
          GENESIS_HASH +
          '","seq":1}',
      )
      .digest('hex');
    expect(first!.hash).toBe(expected);
    expect(auditHash(first!)).toBe(expected);
  });
});

describe('verifyAuditChain', () => {
  it('accepts an intact chain, an empty one, and a segment with its anchor', () => {
    const c = chain(6);
    expect(verifyAuditChain(c)).toEqual({ ok: true, checked: 6 });
    expect(verifyAuditChain([])).toEqual({ ok: true, checked: 0 });
    expect(verifyAuditChain(c.slice(3), { anchor: { seq: 3, hash: c[2]!.hash } })).toEqual({ ok: true, checked: 3 });
    expect(verifyAuditChain(c.slice(3)).problem).toBe('removed');
    expect(verifyAuditChain(c, { head: { seq: 6, hash: c[5]!.hash } }).ok).toBe(true);
  });

  it('changed: a field edited in place', () => {
    const c = chain(5);
    c[2] = { ...c[2]!, actor: 'mallory' };
    expect(verifyAuditChain(c)).toEqual({ ok: false, checked: 2, firstBadSeq: 3, problem: 'changed' });
  });

  it('changed: a record edited and re-hashed breaks the next link', () => {
    const c = chain(5);
    const edited = { ...c[2]!, reason: 'forged' };
    c[2] = { ...edited, hash: auditHash(edited) };
    expect(verifyAuditChain(c)).toEqual({ ok: false, checked: 2, firstBadSeq: 3, problem: 'changed' });
  });

  it('changed: a prevHash pointing elsewhere on the first record', () => {
    const c = chain(2);
    const forged = { ...c[0]!, prevHash: 'f'.repeat(64) };
    c[0] = { ...forged, hash: auditHash(forged) };
    expect(verifyAuditChain(c)).toMatchObject({ ok: false, firstBadSeq: 1, problem: 'changed' });
  });

  it('removed: a gap in seq', () => {
    const c = chain(5);
    c.splice(1, 1);
    expect(verifyAuditChain(c)).toEqual({ ok: false, checked: 1, firstBadSeq: 2, problem: 'removed' });
  });

  it('removed: the tail, against a head kept elsewhere', () => {
    const c = chain(5);
    const head = { seq: 5, hash: c[4]!.hash };
    expect(verifyAuditChain(c.slice(0, 3), { head })).toEqual({ ok: false, checked: 3, firstBadSeq: 4, problem: 'removed' });
  });

  it('changed: history rewritten from some record on, against a head kept elsewhere', () => {
    const c = chain(5);
    const head = { seq: 5, hash: c[4]!.hash };
    const rewritten = c.slice(0, 2);
    for (let i = 3; i <= 5; i++) rewritten.push(chainAudit({ ...rec(i), actor: 'mallory' }, rewritten[rewritten.length - 1]));
    expect(verifyAuditChain(rewritten).ok).toBe(true);
    expect(verifyAuditChain(rewritten, { head })).toMatchObject({ ok: false, firstBadSeq: 5, problem: 'changed' });
  });

  it('changed: a head that is the anchor itself is compared with it (an empty slice passed any head at or before its anchor)', () => {
    const c = chain(5);
    const head = { seq: 5, hash: c[4]!.hash };
    expect(verifyAuditChain([], { anchor: { seq: 5, hash: c[4]!.hash }, head }).ok).toBe(true);
    expect(verifyAuditChain([], { anchor: { seq: 5, hash: 'e'.repeat(64) }, head })).toEqual({ ok: false, checked: 0, firstBadSeq: 5, problem: 'changed' });
    expect(() => verifyAuditChain(c, { head: { seq: 5, hash: 'nothex' } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
  });

  it('reordered: two records swapped, or one moved back', () => {
    const c = chain(5);
    expect(verifyAuditChain([c[0]!, c[3]!, c[2]!, c[1]!, c[4]!])).toEqual({ ok: false, checked: 1, firstBadSeq: 2, problem: 'reordered' });
    expect(verifyAuditChain([c[0]!, c[1]!, c[3]!, c[4]!, c[2]!])).toEqual({ ok: false, checked: 2, firstBadSeq: 3, problem: 'reordered' });
  });

  it('inserted: a duplicate seq', () => {
    const c = chain(3);
    const extra = chainAudit({ ...rec(9), actor: 'mallory' }, c[0]);
    expect(verifyAuditChain([c[0]!, c[1]!, extra, c[2]!])).toEqual({ ok: false, checked: 2, firstBadSeq: 2, problem: 'inserted' });
  });
});

describe('exportAuditJsonl', () => {
  it('writes one canonical JSON object per line, parseable back to the same hashes', () => {
    const c = chain(3);
    const text = exportAuditJsonl(c);
    expect(text.endsWith('\n')).toBe(true);
    const back = text
      .trimEnd()
      .split('\n')
      .map((l) => {
        const o = JSON.parse(l) as AuditRecord & { at: string };
        return { ...o, at: new Date(o.at) } as AuditRecord;
      });
    expect(back).toEqual(c);
    expect(verifyAuditChain(back).ok).toBe(true);
    expect(exportAuditJsonl([])).toBe('');
  });
});
