/**
 * Accountability (atk-trail): every change names its actor, and the name is one a reader can trust
 * to be what it looks like. Refused up front, before a key is generated or the CA asked.
 */
import { describe, expect, it } from 'vitest';
import { DkimManager } from '../../src/lifecycle/index.js';
import { harness, keyProtector } from './helpers.js';

const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => e.code ?? String(e));

const BAD_ACTORS = [
  '',
  '   ',
  'eve\uD800', // a lone surrogate: SQLite stores U+FFFD and the record no longer matches its hash
  'alice\nseq 7 bob', // a line break: one actor shown as two lines in a log or a terminal
  'alice\u0000', // NUL: shown as 'alice' by C tools
  '\u202Eecila', // a right-to-left override: 'alice' on screen
  'ali\u2066ce',
  'bob\u0085',
  'x'.repeat(501),
];

describe('actor names', () => {
  it('a lifecycle change with an actor that is empty, hides characters or cannot be stored is refused (ERR_INVALID_INPUT, field actor), before the CA is asked', async () => {
    const h = await harness();
    for (const actor of BAD_ACTORS) {
      await expect(h.manager.enroll({ mailbox: 'p@example.com', owner: { team: 'treasury' } }, { actor }), JSON.stringify(actor)).rejects.toMatchObject({
        code: 'ERR_INVALID_INPUT',
        details: { field: 'actor' },
      });
    }
    expect(h.ca.issueCalls).toBe(0);
    expect(await h.store.listAudit()).toEqual([]);
    // A plain name with inner spaces, an e-mail address or a non-Latin name is fine.
    await h.manager.enroll({ mailbox: 'p@example.com', owner: { team: 'treasury' } }, { actor: '  Zoë Müller-Łukasz (佐藤) <zoe@example.com> ' });
    expect((await h.store.listAudit()).map((r) => r.actor)).toContain('Zoë Müller-Łukasz (佐藤) <zoe@example.com>');
    for (const actor of BAD_ACTORS) expect(await code(h.manager.renew('p@example.com', { actor })), JSON.stringify(actor)).toBe('ERR_INVALID_INPUT');
    expect(await code(h.manager.runDue(h.clock(), { actor: 'swe\rep' }))).toBe('ERR_INVALID_INPUT');
  });

  it('a reason that cannot be stored (lone surrogate) is refused before the CA is asked', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'p@example.com', owner: { team: 'treasury' } }, { actor: 'alice' });
    const calls = h.ca.issueCalls;
    expect(await code(h.manager.renew('p@example.com', { actor: 'alice', reason: 'rotation \uD800' }))).toBe('ERR_INVALID_INPUT');
    expect(h.ca.issueCalls).toBe(calls);
  });

  it('DKIM: the same rule', async () => {
    const h = await harness();
    const dkim = new DkimManager({ store: h.store, keyProtector: keyProtector(), resolver: async () => [], clock: h.clock });
    for (const actor of BAD_ACTORS)
      expect(await code(dkim.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: ['ed25519'] }, { actor })), JSON.stringify(actor)).toBe('ERR_INVALID_INPUT');
  });
});
