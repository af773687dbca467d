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

describe('the names and text of an identity', () => {
  it('an owner team or approver that hides characters, a mailbox with a control character, or text with a lone surrogate is refused up front (ERR_INVALID_INPUT naming the field)', async () => {
    const h = await harness();
    const cases: [Record<string, unknown>, string][] = [
      [{ owner: { team: '\u202Eyrusaert' } }, 'owner.team'], // shown as 'treasury'
      [{ owner: { team: 'treasury\nhr' } }, 'owner.team'],
      [{ owner: { team: 'treasury\uD800' } }, 'owner.team'], // was: policy.denied whose audit record the store refused
      [{ owner: { team: 'treasury', contact: 'x\uDC00' } }, 'owner.contact'],
      [{ purpose: 'pay\uD800' }, 'purpose'],
      [{ approvedBy: 'bob\u0000' }, 'approvedBy'],
      [{ tags: ['ok', 't\uD800'] }, 'tags.1'],
      [{ mailbox: 'a\u0000b@example.com' }, 'mailbox'],
      [{ mailbox: 'a\u202Eb@example.com' }, 'mailbox'],
    ];
    for (const [change, field] of cases) {
      const input = { mailbox: 'p@example.com', owner: { team: 'treasury' }, ...change };
      await expect(h.manager.enroll(input as never, { actor: 'alice' }), JSON.stringify(change)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field } });
    }
    expect(h.ca.issueCalls).toBe(0);
    expect(await h.store.listAudit()).toEqual([]);
    const ok = await h.manager.enroll({ mailbox: 'p@example.com', owner: { team: ' treasury ', contact: 'Zoë <z@example.com>' }, purpose: 'payments\n(2 lines) 💶', approvedBy: ' Łukasz ' }, { actor: 'alice' });
    expect([ok.owner.team, ok.purpose, ok.approvedBy]).toEqual(['treasury', 'payments\n(2 lines) 💶', 'Łukasz']);
  });

  it('DKIM: the owner team and text follow the same rule', async () => {
    const h = await harness();
    const dkim = new DkimManager({ store: h.store, keyProtector: keyProtector(), resolver: async () => [], clock: h.clock });
    for (const owner of [{ team: 'mail\u2066' }, { team: 'mail', contact: '\uD800' }])
      expect(await code(dkim.create({ domain: 'example.com', owner, algorithm: ['ed25519'] }, { actor: 'alice' })), JSON.stringify(owner)).toBe('ERR_INVALID_INPUT');
  });
});

describe('who approved', () => {
  it("the approval hook's approvedBy is what the identity and the audit record name — not the caller's own claim — and a renewal's approver is recorded too", async () => {
    let n = 0;
    const h = await harness({ policy: { allowedDomainsByOwner: { treasury: ['example.com'] }, approval: async () => ({ approved: true, approvedBy: `iam-ticket-${++n}` }) } });
    // eve enrolls a mailbox for herself and names herself (or the CISO) as approver.
    const rec = await h.manager.enroll({ mailbox: 'eve@example.com', owner: { team: 'treasury' }, approvedBy: 'ciso' }, { actor: 'eve' });
    expect(rec.approvedBy).toBe('iam-ticket-1');
    const created = (await h.store.listAudit()).find((r) => r.action === 'identity.created')!;
    expect(created.after).toMatchObject({ approvedBy: 'iam-ticket-1' });
    await h.manager.renew('eve@example.com', { actor: 'eve' });
    const started = (await h.store.listAudit()).filter((r) => r.action === 'issuance.started').at(-1)!;
    expect(started).toMatchObject({ actor: 'eve', after: { approvedBy: 'iam-ticket-2' } });
  });
});
