/** The DKIM rotation state machine over a fake DNS (publisher and resolver share one map) and a fake clock. */
import { describe, expect, it } from 'vitest';
import { signDkimMessage } from '../../src/dkim/sign.js';
import { manualPublisher, type DnsPublisher, type DnsTxtResolver } from '../../src/dns/index.js';
import { MailPkiError } from '../../src/errors.js';
import { DkimManager, type DkimManagerOptions } from '../../src/lifecycle/dkim.js';
import type { DkimEvent } from '../../src/lifecycle/dkim-events.js';
import { nextDkimStep, parseDkimPolicy } from '../../src/lifecycle/dkim-policy.js';
import { verifyAuditLog } from '../../src/lifecycle/audit.js';
import { MemoryStore, passphraseKeyProtector, type Store } from '../../src/store/index.js';
import { DAY, T0, createTestStore, fakeClock, type FakeClock } from './helpers.js';

/** A zone in memory: what the publisher writes is what the resolver reads. */
function fakeDns() {
  const zone = new Map<string, string[][]>();
  const calls: string[] = [];
  let failNext: Error | undefined;
  const failing: Partial<Record<'retire' | 'remove', Error>> = {};
  const fail = (op: 'retire' | 'remove') => {
    const e = failing[op];
    delete failing[op];
    if (e) throw e;
  };
  const resolver: DnsTxtResolver = async (name) => zone.get(name) ?? [];
  const publisher: DnsPublisher = {
    name: 'fake',
    automatic: true,
    async publish(r) {
      calls.push(`publish ${r.name}`);
      if (failNext) {
        const e = failNext;
        failNext = undefined;
        throw e;
      }
      zone.set(r.name, [[r.value]]);
    },
    async retire(r) {
      calls.push(`retire ${r.name}`);
      fail('retire');
      zone.set(r.name, [[r.value ?? 'v=DKIM1; p=']]);
    },
    async remove(r) {
      calls.push(`remove ${r.name}`);
      fail('remove');
      zone.delete(r.name);
    },
  };
  return { zone, calls, resolver, publisher, failNextWith: (e: Error, op: 'publish' | 'retire' | 'remove' = 'publish') => (op === 'publish' ? (failNext = e) : (failing[op] = e)) };
}

interface Setup {
  manager: DkimManager;
  store: Store;
  clock: FakeClock;
  dns: ReturnType<typeof fakeDns>;
  events: DkimEvent[];
}

function setup(options: Partial<DkimManagerOptions> & { manual?: boolean } = {}): Setup {
  const clock = fakeClock();
  const store = options.store ?? new MemoryStore();
  const dns = fakeDns();
  const events: DkimEvent[] = [];
  const manager = new DkimManager({
    store,
    keyProtector: passphraseKeyProtector('dkim test passphrase', { iterations: 1000 }),
    resolver: dns.resolver,
    publisher: options.manual ? manualPublisher() : dns.publisher,
    clock,
    ...options,
  });
  manager.on('*', (e) => void events.push(e));
  return { manager, store, clock, dns, events };
}

const MESSAGE = 'From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\nDate: Mon, 5 Jan 2026 00:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\nHello\r\n';

describe('DkimManager: create', () => {
  it('creates dkim:<domain> with a first key pending publication and tells the owners the exact record', async () => {
    const { manager, events, store } = setup({ manual: true });
    const { identity, keys } = await manager.create({ domain: 'Example.com', owner: { team: 'mail', contact: 'mail@example.com' }, algorithm: 'ed25519' }, { actor: 'alice' });
    expect(identity).toMatchObject({ id: 'dkim:example.com', kind: 'dkim', name: 'example.com', status: 'pending', keyType: 'ed25519' });
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ selector: 'mp2026011', state: 'publish-requested', algorithm: 'ed25519', signing: false });
    expect(keys[0]!.record.name).toBe('mp2026011._domainkey.example.com');
    expect(keys[0]!.record.value).toMatch(/^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
    expect(events.map((e) => e.type)).toEqual(['dkim.key.generated', 'dkim.record.publish']);
    const publish = events[1]!;
    expect(publish).toMatchObject({ owner: { team: 'mail', contact: 'mail@example.com' }, identity: { id: 'dkim:example.com', kind: 'dkim' }, key: { selector: 'mp2026011' } });
    if (publish.type !== 'dkim.record.publish') throw new Error('unreachable');
    expect(publish.data).toEqual({ record: keys[0]!.record, publisher: 'manual', automatic: false });
    expect(publish.data.record.zoneLine).toBe(`mp2026011._domainkey.example.com. 3600 IN TXT "${keys[0]!.record.value}"`);
    const outbox = await store.listEvents({});
    expect(outbox.map((e) => e.type)).toEqual(['dkim.key.generated', 'dkim.record.publish']);
    const audit = await store.listAudit();
    expect(audit.map((a) => a.action)).toEqual(['dkim.identity.created', 'dkim.key.generated', 'dkim.record.publish']);
    expect(JSON.stringify(audit)).not.toMatch(/protectedKey|ciphertext|PRIVATE/);
    expect((await verifyAuditLog(store)).ok).toBe(true);
  });

  it('refuses a second identity for a domain, bad domains, and two keys of one type', async () => {
    const { manager } = setup();
    await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    await expect(manager.create({ domain: 'example.com', owner: { team: 'x' }, algorithm: 'ed25519' }, { actor: 'a' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_EXISTS' });
    await expect(manager.create({ domain: 'not a domain', owner: { team: 'x' } }, { actor: 'a' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(manager.create({ domain: 'example.org', owner: { team: 'x' }, algorithm: ['rsa-2048', 'rsa-3072'] }, { actor: 'a' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(manager.create({ domain: 'example.org', owner: { team: 'x' } }, { actor: ' ' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });

  it("refuses a signing domain a client shows as a Latin name it is not (lookalikeDomains 'refuse', the default): no identity, no key, an audit record; 'allow' creates it", async () => {
    const { manager, store, events } = setup();
    // раураӏ.com (all Cyrillic, reads paypal.com) and a Cyrillic "е" in еxample.com, written as A-labels as DNS holds them.
    for (const [domain, shown] of [
      ['xn--80aa0cbo65f.com', /раураӏ\.com.*paypal\.com/],
      ['mail.XN--XAMPLE-2OF.com', /еxample\.com.*example\.com/],
    ] as const) {
      const e = await manager.create({ domain, owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'mallory' }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(MailPkiError);
      expect(e).toMatchObject({ code: 'ERR_POLICY_DENIED', details: { rule: 'lookalikeDomains' } });
      expect((e as Error).message).toMatch(shown);
      await expect(manager.get(domain)).rejects.toMatchObject({ code: 'ERR_IDENTITY_NOT_FOUND' });
    }
    expect(events).toEqual([]);
    const audit = (await store.listAudit()).filter((r) => r.action === 'policy.denied');
    expect(audit.map((r) => [r.actor, (r.after as { operation: string; rule: string }).operation, (r.after as { rule: string }).rule])).toEqual([
      ['mallory', 'create', 'lookalikeDomains'],
      ['mallory', 'create', 'lookalikeDomains'],
    ]);
    expect(await verifyAuditLog(store)).toMatchObject({ ok: true });
    // Not a look-alike: a Cyrillic name under its own ccTLD, and a Latin IDN.
    await manager.create({ domain: 'xn--80aswg.xn--p1ai', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    await manager.create({ domain: 'xn--bcher-kva.example', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    const allowing = setup({ lookalikeDomains: 'allow' });
    await allowing.manager.create({ domain: 'xn--80aa0cbo65f.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    expect((await allowing.manager.get('xn--80aa0cbo65f.com')).status).toBe('pending');
    expect(() => setup({ lookalikeDomains: 'maybe' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', details: { field: 'lookalikeDomains' } }));
  });

  it('a refused create of a look-alike domain that already has an identity (made under \'allow\'): the audit record names it, as the S/MIME manager\'s does; nothing changes', async () => {
    const allowing = setup({ lookalikeDomains: 'allow' });
    await allowing.manager.create({ domain: 'xn--80aa0cbo65f.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    const before = await allowing.manager.keys('xn--80aa0cbo65f.com');
    const refusing = setup({ store: allowing.store });
    await expect(refusing.manager.create({ domain: 'XN--80AA0CBO65F.COM.', owner: { team: 'x' }, algorithm: 'ed25519' }, { actor: 'mallory' })).rejects.toMatchObject({ code: 'ERR_POLICY_DENIED' });
    const denied = (await allowing.store.listAudit()).filter((r) => r.action === 'policy.denied');
    // Observed before: no identityId, so the refusal was not among the identity's own records.
    expect(denied).toMatchObject([{ actor: 'mallory', identityId: 'dkim:xn--80aa0cbo65f.com', after: { operation: 'create', rule: 'lookalikeDomains' } }]);
    expect(await refusing.manager.keys('xn--80aa0cbo65f.com')).toEqual(before);
    expect(refusing.events).toEqual([]);
    expect(await verifyAuditLog(allowing.store)).toMatchObject({ ok: true });
  });
  it("an identity made under 'allow' gets no new key once the setting is 'refuse': rotate and the scheduled rotation are ERR_POLICY_DENIED with an audit record, and the owners are told", async () => {
    const policy = { rotationDays: 180, graceDays: 7, removeAfterDays: 30 };
    const allowing = setup({ lookalikeDomains: 'allow', policy });
    await allowing.manager.create({ domain: 'xn--80aa0cbo65f.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    await allowing.manager.runDue();
    const before = await allowing.manager.keys('xn--80aa0cbo65f.com');
    expect(before.map((k) => [k.state, k.signing])).toEqual([['active', true]]);
    const refusing = setup({ store: allowing.store, policy });
    // Observed before: the rotation generated a new key and asked for its record (раураӏ.com kept a fresh key for ever).
    await expect(refusing.manager.rotate('xn--80aa0cbo65f.com', { actor: 'mallory' })).rejects.toMatchObject({ code: 'ERR_POLICY_DENIED', details: { rule: 'lookalikeDomains' } });
    refusing.clock.advanceDays(181);
    const s = await refusing.manager.runDue();
    expect(s.rotated).toEqual([]);
    expect(s.failed).toMatchObject([{ identityId: 'dkim:xn--80aa0cbo65f.com', code: 'ERR_POLICY_DENIED' }]);
    expect(await refusing.manager.keys('xn--80aa0cbo65f.com')).toEqual(before);
    expect(refusing.events.map((e) => [e.type, (e.data as { step?: string; code?: string }).step, (e.data as { code?: string }).code])).toEqual([['dkim.step.failed', 'rotate', 'ERR_POLICY_DENIED']]);
    const denied = (await allowing.store.listAudit()).filter((r) => r.action === 'policy.denied');
    expect(denied).toMatchObject([
      { actor: 'mallory', identityId: 'dkim:xn--80aa0cbo65f.com', after: { operation: 'rotate', rule: 'lookalikeDomains' } },
      { identityId: 'dkim:xn--80aa0cbo65f.com', after: { operation: 'rotate', rule: 'lookalikeDomains' } },
    ]);
    expect(await verifyAuditLog(allowing.store)).toMatchObject({ ok: true });
  });
});

describe('DkimManager: planDue (dkim run-due --dry-run)', () => {
  it('lists the step each key takes next and changes nothing: no write, no event, no key state', async () => {
    const { manager, dns, events, store } = setup({ manual: true });
    const { keys } = await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'alice' });
    dns.zone.set(keys[0]!.record.name, [[keys[0]!.record.value]]);
    const before = { audit: (await store.listAudit()).length, events: events.length, keys: await manager.keys('example.com') };
    const plan = await manager.planDue();
    expect(plan.scanned).toBe(1);
    expect(plan.steps).toEqual([{ identityId: 'dkim:example.com', selector: 'mp2026011', step: 'confirm', state: 'publish-requested' }]);
    expect({ audit: (await store.listAudit()).length, events: events.length, keys: await manager.keys('example.com') }).toEqual(before);
    // The real sweep then takes exactly that step first.
    expect((await manager.runDue()).transitions[0]).toMatchObject({ selector: 'mp2026011', step: 'confirm' });
  });
});

describe('DkimManager: manual publisher', () => {
  it('never activates a key before DNS serves exactly its record', async () => {
    const { manager, dns, events } = setup({ manual: true });
    const { keys } = await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'alice' });
    const name = keys[0]!.record.name;

    let s = await manager.runDue();
    expect(s.transitions).toEqual([]);
    expect(s.waiting).toEqual([{ identityId: 'dkim:example.com', selector: 'mp2026011', state: 'publish-requested', found: 'absent' }]);
    await expect(manager.getSigningKeys('example.com')).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });

    // Someone publishes another key, then a revoked record: still no.
    dns.zone.set(name, [['v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=']]);
    expect((await manager.runDue()).waiting[0]!.found).toBe('other-key');
    dns.zone.set(name, [['v=DKIM1; p=']]);
    expect((await manager.runDue()).waiting[0]!.found).toBe('revoked');
    dns.zone.set(name, [[keys[0]!.record.value], ['v=DKIM1; p=']]);
    expect((await manager.runDue()).waiting[0]!.found).toBe('several-records');
    expect((await manager.keys('example.com'))[0]!.state).toBe('publish-requested');

    // The owners publish the record, split into strings as DNS serves it.
    const v = keys[0]!.record.value;
    dns.zone.set(name, [[v.slice(0, 20), v.slice(20)]]);
    s = await manager.runDue();
    expect(s.transitions.map((t) => t.state)).toEqual(['published', 'active']);
    expect(events.map((e) => e.type)).toEqual(['dkim.key.generated', 'dkim.record.publish', 'dkim.record.confirmed', 'dkim.key.activated']);
    expect(await manager.get('example.com')).toMatchObject({ status: 'active' });
    const signing = await manager.getSigningKeys('example.com');
    expect(signing).toHaveLength(1);
    expect(signing[0]).toMatchObject({ domain: 'example.com', selector: 'mp2026011', algorithm: 'ed25519-sha256', keyAlgorithm: 'ed25519' });
    expect(signing[0]!.privateKey.extractable).toBe(false);
    const signed = await signDkimMessage(MESSAGE, signing);
    expect(signed).toMatch(/^DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed\/relaxed; d=example.com;\s+s=mp2026011;/);
  });

  it('does not activate when the record vanished between confirmation and activation', async () => {
    const { manager, dns, clock } = setup({ manual: true, policy: { activateAfterHours: 24 } });
    const { keys } = await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    dns.zone.set(keys[0]!.record.name, [[keys[0]!.record.value]]);
    expect((await manager.runDue()).transitions.map((t) => t.state)).toEqual(['published']);
    dns.zone.delete(keys[0]!.record.name);
    clock.advanceDays(2);
    const s = await manager.runDue();
    expect(s.transitions).toEqual([]);
    expect(s.waiting[0]).toMatchObject({ state: 'published', found: 'absent' });
    await expect(manager.getSigningKeys('example.com')).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
  });
});

describe('DkimManager: rotation with an automatic publisher', () => {
  it('runs generated → … → removed, one event and audit record per step, old key signing until the new one is confirmed', async () => {
    const { manager, dns, clock, events, store } = setup({ policy: { rotationDays: 180, graceDays: 7, removeAfterDays: 30 } });
    await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'alice' });
    let s = await manager.runDue();
    expect(s.transitions.map((t) => t.state)).toEqual(['published', 'active']);
    expect(dns.calls).toEqual(['publish mp2026011._domainkey.example.com']);
    expect((await manager.get('example.com')).nextDueAt).toEqual(new Date(T0.getTime() + 180 * DAY));

    // Idempotent: nothing due, nothing happens.
    const before = events.length;
    s = await manager.runDue();
    expect(s).toMatchObject({ scanned: 0, transitions: [] });
    s = await manager.runDue(clock(), { domain: 'example.com' });
    expect(s.transitions).toEqual([]);
    expect(events.length).toBe(before);

    // 180 days on: rotation starts by itself, the new key is published, confirmed and activated.
    clock.advanceDays(180);
    s = await manager.runDue();
    expect(s.rotated).toEqual([{ identityId: 'dkim:example.com', selectors: ['mp2026071'] }]);
    expect(s.transitions.map((t) => `${t.selector} ${t.state}`)).toEqual(['mp2026071 published', 'mp2026071 active']);
    let keys = await manager.keys('example.com');
    expect(keys.map((k) => [k.selector, k.state, k.signing])).toEqual([
      ['mp2026011', 'active', false],
      ['mp2026071', 'active', true],
    ]);
    expect((await manager.getSigningKeys('example.com')).map((k) => k.selector)).toEqual(['mp2026071']);

    // Which selectors still have their private key in the store.
    const stored = async (): Promise<Array<[string, boolean]>> =>
      store.transaction(async (tx) =>
        Promise.all((await tx.listCredentials('dkim:example.com')).map(async (c): Promise<[string, boolean]> => [c.selector!, (await tx.getKey(c.keyId!)) !== undefined])),
      );
    expect(await stored()).toEqual([
      ['mp2026011', true],
      ['mp2026071', true],
    ]);

    // Grace: the old record stays for 7 days, then p= empty, confirmed → retired.
    clock.advanceDays(6);
    expect((await manager.runDue()).transitions).toEqual([]);
    clock.advanceDays(1);
    s = await manager.runDue();
    expect(s.transitions.map((t) => `${t.selector} ${t.step} ${t.state}`)).toEqual(['mp2026011 retire retiring', 'mp2026011 confirm-retired retired']);
    expect(dns.zone.get('mp2026011._domainkey.example.com')).toEqual([['v=DKIM1; k=ed25519; p=']]);
    // Retired (DNS serves p= empty): it never signs again, so its private key is destroyed.
    expect(await stored()).toEqual([
      ['mp2026011', false],
      ['mp2026071', true],
    ]);

    // 30 days after retirement the record goes.
    clock.advanceDays(30);
    s = await manager.runDue();
    expect(s.transitions.map((t) => `${t.selector} ${t.state}`)).toEqual(['mp2026011 removed']);
    expect(dns.zone.has('mp2026011._domainkey.example.com')).toBe(false);
    keys = await manager.keys('example.com');
    expect(keys.map((k) => k.state)).toEqual(['removed', 'active']);

    expect(events.map((e) => `${e.type} ${e.key.selector}`)).toEqual([
      'dkim.key.generated mp2026011',
      'dkim.record.publish mp2026011',
      'dkim.record.confirmed mp2026011',
      'dkim.key.activated mp2026011',
      'dkim.key.generated mp2026071',
      'dkim.record.publish mp2026071',
      'dkim.record.confirmed mp2026071',
      'dkim.key.activated mp2026071',
      'dkim.record.retire mp2026011',
      'dkim.key.retired mp2026011',
      'dkim.key.removed mp2026011',
    ]);
    const activated = events.find((e) => e.type === 'dkim.key.activated' && e.key.selector === 'mp2026071');
    expect(activated?.data).toMatchObject({ previous: { selector: 'mp2026011' } });
    const actions = (await store.listAudit()).map((a) => a.action);
    for (const t of ['dkim.key.generated', 'dkim.record.publish', 'dkim.record.confirmed', 'dkim.key.activated', 'dkim.record.retire', 'dkim.key.retired', 'dkim.key.removed'])
      expect(actions).toContain(t);
    expect((await verifyAuditLog(store)).ok).toBe(true);
    expect((await manager.checkDrift('example.com')).entries.map((e) => [e.selector, e.status])).toEqual([
      ['mp2026011', 'ok'],
      ['mp2026071', 'ok'],
    ]);
  });

  it('a refused DNS update leaves the key where it was, tells the owners (event + audit), and the next sweep proceeds', async () => {
    const { manager, dns, events, store } = setup({ store: await createTestStore() });
    await manager.create({ domain: 'example.com', owner: { team: 'mail', contact: 'mail@example.com' }, algorithm: 'ed25519' }, { actor: 'a' });
    const value = (await manager.keys('example.com'))[0]!.record.value;
    dns.failNextWith(new MailPkiError('ERR_DNS_UPDATE_REFUSED', 'the server answered REFUSED'));
    let s = await manager.runDue();
    expect(s.failed).toEqual([{ identityId: 'dkim:example.com', selector: 'mp2026011', code: 'ERR_DNS_UPDATE_REFUSED', message: 'the server answered REFUSED' }]);
    expect(s.transitions).toEqual([]);
    expect((await manager.keys('example.com'))[0]!.state).toBe('publish-requested');

    const failed = events.filter((e) => e.type === 'dkim.step.failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      owner: { team: 'mail', contact: 'mail@example.com' },
      identity: { id: 'dkim:example.com', name: 'example.com' },
      key: { selector: 'mp2026011', state: 'publish-requested' },
      data: { step: 'push', name: 'mp2026011._domainkey.example.com', code: 'ERR_DNS_UPDATE_REFUSED', message: 'the server answered REFUSED' },
    });
    expect(JSON.stringify(failed[0])).not.toContain(value.slice(-20)); // no key material, public or private
    expect((await store.listEvents({})).map((e) => e.type)).toContain('dkim.step.failed');
    const audit = await store.listAudit();
    expect(audit.filter((a) => a.action === 'dkim.step.failed')).toEqual([
      expect.objectContaining({ identityId: 'dkim:example.com', reason: 'push mp2026011: the server answered REFUSED [ERR_DNS_UPDATE_REFUSED]' }),
    ]);
    expect(JSON.stringify(audit)).not.toMatch(/protectedKey|ciphertext|PRIVATE/);
    expect((await verifyAuditLog(store)).ok).toBe(true);

    s = await manager.runDue();
    expect(s.failed).toEqual([]);
    expect((await manager.keys('example.com'))[0]!.state).toBe('active');
    expect(events.filter((e) => e.type === 'dkim.step.failed')).toHaveLength(1);
    expect((await verifyAuditLog(store)).ok).toBe(true);
  });

  it('a failing step is reported once per sweep, not once per retry within a sweep; retire and remove failures too', async () => {
    const { manager, dns, clock, events, store } = setup({ store: await createTestStore(), policy: { graceDays: 0, removeAfterDays: 1 } });
    await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    await manager.runDue();
    await manager.rotate('example.com', { actor: 'a', selector: 'next' });
    dns.failNextWith(new MailPkiError('ERR_DNS_UNAVAILABLE', 'no answer within 5000 ms'), 'retire');
    let s = await manager.runDue();
    expect(s.transitions.map((t) => `${t.selector} ${t.state}`)).toEqual(['next published', 'next active', 'mp2026011 retiring']);
    expect(s.failed).toEqual([expect.objectContaining({ selector: 'mp2026011', code: 'ERR_DNS_UNAVAILABLE' })]);
    expect(events.filter((e) => e.type === 'dkim.step.failed').map((e) => [e.key.selector, e.key.state, (e.data as { step: string }).step])).toEqual([['mp2026011', 'retiring', 'push-retire']]);
    s = await manager.runDue();
    expect(s.transitions.map((t) => `${t.selector} ${t.state}`)).toEqual(['mp2026011 retired']);

    clock.advanceDays(1);
    dns.failNextWith(new MailPkiError('ERR_DNS_UPDATE_REFUSED', 'NOTAUTH'), 'remove');
    s = await manager.runDue();
    expect(s.failed).toEqual([expect.objectContaining({ selector: 'mp2026011', code: 'ERR_DNS_UPDATE_REFUSED' })]);
    expect((await manager.keys('example.com'))[0]!.state).toBe('retired');
    expect(events.filter((e) => e.type === 'dkim.step.failed').map((e) => (e.data as { step: string }).step)).toEqual(['push-retire', 'remove']);
    s = await manager.runDue();
    expect(s.transitions.map((t) => `${t.selector} ${t.state}`)).toEqual(['mp2026011 removed']);
    expect((await store.listAudit()).filter((a) => a.action === 'dkim.step.failed')).toHaveLength(2);
    expect((await verifyAuditLog(store)).ok).toBe(true);
  });

  it('a non-MailPkiError from the publisher is reported as ERR_UNKNOWN with its message', async () => {
    const { manager, dns, events } = setup();
    await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    dns.failNextWith(new Error('socket hang up'));
    const s = await manager.runDue();
    expect(s.failed).toEqual([expect.objectContaining({ code: 'ERR_UNKNOWN', message: 'socket hang up' })]);
    expect(events.find((e) => e.type === 'dkim.step.failed')?.data).toMatchObject({ step: 'push', code: 'ERR_UNKNOWN', message: 'socket hang up' });
  });

  it('refuses a rotation while one is under way; rotate() by hand keeps the old key signing until confirmation', async () => {
    const { manager, dns } = setup();
    await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    await manager.runDue();
    const [fresh] = await manager.rotate('example.com', { actor: 'bob', selector: 'next' });
    expect(fresh).toMatchObject({ selector: 'next', state: 'publish-requested' });
    await expect(manager.rotate('example.com', { actor: 'bob' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    expect((await manager.getSigningKeys('example.com')).map((k) => k.selector)).toEqual(['mp2026011']);
    await manager.runDue();
    expect(dns.zone.has('next._domainkey.example.com')).toBe(true);
    expect((await manager.getSigningKeys('example.com')).map((k) => k.selector)).toEqual(['next']);
  });

  it('signs with RSA and Ed25519 side by side and rotates both', async () => {
    const { manager, clock } = setup();
    const { keys } = await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: ['rsa-2048', 'ed25519'] }, { actor: 'a' });
    expect(keys.map((k) => [k.selector, k.algorithm])).toEqual([
      ['mp2026011', 'rsa-2048'],
      ['mp2026012', 'ed25519'],
    ]);
    expect(keys[0]!.record.strings.length).toBeGreaterThan(1);
    await manager.runDue();
    const signing = await manager.getSigningKeys('example.com');
    expect(signing.map((k) => k.algorithm).sort()).toEqual(['ed25519-sha256', 'rsa-sha256']);
    const signed = await signDkimMessage(MESSAGE, signing);
    expect(signed.match(/^DKIM-Signature:/gm)).toHaveLength(2);
    clock.advanceDays(181);
    const s = await manager.runDue();
    expect(s.rotated[0]!.selectors).toEqual(['mp2026071', 'mp2026072']);
    expect((await manager.getSigningKeys('example.com')).map((k) => k.selector).sort()).toEqual(['mp2026071', 'mp2026072']);
  });
});

describe('DkimManager: create and rotate beside a concurrent runDue', () => {
  it('a runDue that asks for publication of the new key first does not make create or rotate fail after they succeeded', async () => {
    const { manager, events } = setup();
    // Right after the keys are committed, before create/rotate asks for publication, another sweep runs.
    const internals = manager as unknown as { requestPublish: (...args: unknown[]) => Promise<void> };
    const original = internals.requestPublish;
    let raced = 0;
    let sweeping = false;
    internals.requestPublish = async function (this: unknown, ...args: unknown[]) {
      if (!sweeping) {
        sweeping = true;
        raced++;
        await manager.runDue();
        sweeping = false;
      }
      return original.apply(this, args);
    };
    const { keys } = await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519', selector: 's1' }, { actor: 'a' });
    expect(keys.map((k) => [k.selector, k.state])).toEqual([['s1', 'active']]);
    const rotated = await manager.rotate('example.com', { actor: 'a', selector: 's2' });
    expect(rotated.map((k) => k.selector)).toEqual(['s2']);
    expect(raced).toBe(2);
    expect(events.filter((e) => e.type === 'dkim.record.publish').map((e) => e.key.selector)).toEqual(['s1', 's2']);
  });
});

describe('DkimManager: decommission', () => {
  it('stops signing at once, walks the active key out through grace → p= → removed, never rotates again', async () => {
    const { manager, dns, clock, events, store } = setup({ store: await createTestStore(), policy: { rotationDays: 180, graceDays: 7, removeAfterDays: 30 } });
    await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'alice' });
    await manager.runDue();
    await manager.rotate('example.com', { actor: 'alice', selector: 'next' });
    await manager.runDue();
    clock.advanceDays(7);
    await manager.runDue();
    expect((await manager.keys('example.com')).map((k) => [k.selector, k.state, k.signing])).toEqual([
      ['mp2026011', 'retired', false],
      ['next', 'active', true],
    ]);
    const before = events.length;

    const { identity, keys } = await manager.decommission('Example.com', { actor: 'bob', reason: 'domain sold' });
    expect(identity).toMatchObject({ status: 'decommissioned', nextDueAt: new Date(clock().getTime() + 7 * DAY) });
    expect(identity.currentCredentialId).toBeUndefined();
    expect(keys.map((k) => [k.selector, k.state, k.signing])).toEqual([
      ['mp2026011', 'retired', false],
      ['next', 'active', false],
    ]);
    await expect(manager.getSigningKeys('example.com')).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE', message: expect.stringContaining('decommissioned') });
    await expect(manager.getSigningKeys('example.com', { selector: 'next' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    // Not repeatable, and no rotation by hand either.
    await expect(manager.decommission('example.com', { actor: 'bob' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    await expect(manager.rotate('example.com', { actor: 'bob' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    const decommissioned = events.slice(before);
    expect(decommissioned.map((e) => e.type)).toEqual(['dkim.identity.decommissioned']);
    expect(decommissioned[0]).toMatchObject({
      key: { selector: 'next', state: 'active' },
      data: { reason: 'domain sold', keys: [{ selector: 'mp2026011', state: 'retired' }, { selector: 'next', state: 'active' }] },
    });

    // The record stays through the grace period (mail in flight), then p= empty, then deleted.
    let s = await manager.runDue();
    expect(s).toMatchObject({ scanned: 0, transitions: [] });
    clock.advanceDays(6);
    expect((await manager.runDue()).transitions).toEqual([]);
    clock.advanceDays(1);
    s = await manager.runDue();
    expect(s.transitions.map((t) => `${t.selector} ${t.step} ${t.state}`)).toEqual(['next retire retiring', 'next confirm-retired retired']);
    expect(dns.zone.get('next._domainkey.example.com')).toEqual([['v=DKIM1; k=ed25519; p=']]);
    const rotated: string[] = [];
    for (let day = 0; day < 400; day += 10) {
      clock.advanceDays(10);
      s = await manager.runDue();
      rotated.push(...s.rotated.flatMap((r) => r.selectors));
      expect(s.failed).toEqual([]);
    }
    expect(rotated).toEqual([]);
    expect((await manager.keys('example.com')).map((k) => [k.selector, k.state])).toEqual([
      ['mp2026011', 'removed'],
      ['next', 'removed'],
    ]);
    expect(dns.zone.size).toBe(0);
    const after = await manager.get('example.com');
    expect(after.status).toBe('decommissioned');
    expect(after.nextDueAt).toBeUndefined();
    expect(events.slice(before).map((e) => `${e.type} ${e.key.selector}`)).toEqual([
      'dkim.identity.decommissioned next',
      'dkim.record.retire next',
      'dkim.key.retired next',
      'dkim.key.removed mp2026011',
      'dkim.key.removed next',
    ]);
    const actions = (await store.listAudit()).map((a) => a.action);
    expect(actions.slice(actions.indexOf('dkim.identity.decommissioned'))).toEqual([
      'dkim.identity.decommissioned',
      'dkim.key.signing-stopped',
      'dkim.record.retire',
      'dkim.record.pushed',
      'dkim.key.retired',
      'dkim.key.removed',
      'dkim.key.removed',
    ]);
    expect((await verifyAuditLog(store)).ok).toBe(true);
    expect(await manager.checkDrift('example.com')).toMatchObject({ ok: true });
  });

  it('a key whose record was sent out but never signed is retired at once (manual publisher: the owners are told to publish p=)', async () => {
    const { manager, dns, events, store } = setup({ store: await createTestStore(), manual: true });
    const { keys } = await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    const name = keys[0]!.record.name;
    dns.zone.set(name, [[keys[0]!.record.value]]); // the owners did publish it
    const { identity } = await manager.decommission('example.com', { actor: 'a' });
    expect(identity.status).toBe('decommissioned');
    expect((await manager.keys('example.com'))[0]!.state).toBe('retiring');
    const retire = events.find((e) => e.type === 'dkim.record.retire');
    expect(retire?.data).toMatchObject({ record: { name, value: 'v=DKIM1; k=ed25519; p=' }, publisher: 'manual', automatic: false, graceDays: 0 });
    expect(events.find((e) => e.type === 'dkim.identity.decommissioned')?.data).toMatchObject({ reason: 'requested', keys: [{ state: 'retiring' }] });

    // DNS still serves the key: it waits (and is never activated); once the owners publish p=, it is retired.
    let s = await manager.runDue();
    expect(s.transitions).toEqual([]);
    expect(s.waiting).toEqual([expect.objectContaining({ state: 'retiring', found: 'ours' })]);
    await expect(manager.getSigningKeys('example.com')).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    dns.zone.set(name, [['v=DKIM1; k=ed25519; p=']]);
    s = await manager.runDue();
    expect(s.transitions.map((t) => t.state)).toEqual(['retired']);
    expect((await verifyAuditLog(store)).ok).toBe(true);
  });

  it('a decommissioned domain is created again once every key is removed: new owner, a selector never used before, signing after DNS confirms', async () => {
    const { manager, clock, store, dns } = setup({ store: await createTestStore(), policy: { rotationDays: 180, graceDays: 7, removeAfterDays: 30 } });
    await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519', selector: 's1' }, { actor: 'alice' });
    await manager.runDue();
    await manager.decommission('example.com', { actor: 'bob', reason: 'domain sold' });
    const again = { domain: 'example.com', owner: { team: 'new-mail' }, algorithm: 'ed25519' as const };
    // While its keys are on their way out, it cannot start again.
    await expect(manager.create(again, { actor: 'carol' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE', message: expect.stringContaining('s1: active') });
    for (let day = 0; day < 60; day += 10) {
      clock.advanceDays(10);
      expect((await manager.runDue()).failed).toEqual([]);
    }
    expect((await manager.keys('example.com')).map((k) => [k.selector, k.state])).toEqual([['s1', 'removed']]);
    expect(dns.zone.size).toBe(0);
    // A selector of the earlier life is never used again.
    await expect(manager.create({ ...again, selector: 's1' }, { actor: 'carol' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'selector' } });
    const { identity, keys } = await manager.create({ ...again, selector: 's2' }, { actor: 'carol' });
    expect(identity).toMatchObject({ id: 'dkim:example.com', status: 'pending', owner: { team: 'new-mail' } });
    expect(keys.map((k) => [k.selector, k.state])).toEqual([
      ['s1', 'removed'],
      ['s2', 'publish-requested'],
    ]);
    await manager.runDue();
    expect((await manager.getSigningKeys('example.com')).map((k) => k.selector)).toEqual(['s2']);
    expect((await manager.get('example.com')).status).toBe('active');
    const actions = (await store.listAudit()).map((a) => a.action);
    expect(actions.slice(actions.indexOf('dkim.identity.recreated'), actions.indexOf('dkim.identity.recreated') + 2)).toEqual(['dkim.identity.recreated', 'dkim.key.generated']);
    expect((await verifyAuditLog(store)).ok).toBe(true);
    await expect(manager.create(again, { actor: 'carol' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_EXISTS' });
  });

  it('a rotation that was generating its key while the identity was decommissioned adds nothing', async () => {
    const inner = passphraseKeyProtector('dkim test passphrase', { iterations: 1000 });
    let gate: { entered: () => void; open: Promise<void> } | undefined;
    const keyProtector = {
      ...inner,
      async protect(k: Uint8Array) {
        if (gate) {
          gate.entered();
          await gate.open;
        }
        return inner.protect(k);
      },
    };
    const { manager, events } = setup({ keyProtector });
    await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    await manager.runDue();
    let release!: () => void;
    const generating = new Promise<void>((entered) => (gate = { entered, open: new Promise((r) => (release = r)) }));
    const rotation = manager.rotate('example.com', { actor: 'a' });
    await generating;
    await manager.decommission('example.com', { actor: 'b' });
    release();
    await expect(rotation).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    expect((await manager.keys('example.com')).map((k) => k.selector)).toEqual(['mp2026011']);
    expect(events.filter((e) => e.type === 'dkim.key.generated')).toHaveLength(1);
  });

  it('refuses an unknown domain and an empty actor', async () => {
    const { manager } = setup();
    await expect(manager.decommission('nowhere.example', { actor: 'a' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_NOT_FOUND' });
    await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    await expect(manager.decommission('example.com', { actor: ' ' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    expect((await manager.get('example.com')).status).toBe('pending');
  });
});

describe('DkimManager: drift check', () => {
  it('reports missing, different-key, retired-but-published and unresolvable', async () => {
    const { manager, dns, clock } = setup({ policy: { graceDays: 0 } });
    await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    await manager.runDue();
    expect(await manager.checkDrift('example.com')).toMatchObject({ domain: 'example.com', ok: true, entries: [{ selector: 'mp2026011', status: 'ok', found: 'ours' }] });
    const first = 'mp2026011._domainkey.example.com';
    const good = dns.zone.get(first)!;
    dns.zone.delete(first);
    expect(await manager.checkDrift('example.com')).toMatchObject({ ok: false, entries: [{ status: 'missing', found: 'absent', expected: 'key' }] });
    dns.zone.set(first, [['v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=']]);
    expect((await manager.checkDrift('example.com')).entries[0]).toMatchObject({ status: 'different-key', found: 'other-key' });
    dns.zone.set(first, good);
    await manager.rotate('example.com', { actor: 'a' });
    expect((await manager.checkDrift('example.com')).entries.map((e) => e.status)).toEqual(['ok', 'pending']);
    await manager.runDue();
    clock.advanceDays(1);
    await manager.runDue();
    expect((await manager.keys('example.com')).map((k) => k.state)).toEqual(['retired', 'active']);
    dns.zone.set(first, good); // someone put the old key back
    const r = await manager.checkDrift('example.com');
    expect(r.ok).toBe(false);
    expect(r.entries.map((e) => e.status)).toEqual(['retired-but-published', 'ok']);

    const broken = setup({ resolver: async () => Promise.reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })) });
    await broken.manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    expect((await broken.manager.checkDrift('example.com')).entries[0]).toMatchObject({ status: 'unresolvable', found: 'lookup-failed', detail: 'timeout' });
  });
});

describe('nextDkimStep', () => {
  const policy = parseDkimPolicy({});
  const at = new Date('2026-01-05T00:00:00Z');
  it('pushes only with an automatic publisher, and again after republishAfterHours', () => {
    const k = { state: 'publish-requested' as const, keyType: 'rsa', createdAt: at };
    expect(nextDkimStep(k, policy, at, true)).toBe('push');
    expect(nextDkimStep(k, policy, at, false)).toBe('confirm');
    expect(nextDkimStep({ ...k, pushedAt: at }, policy, new Date(at.getTime() + 59 * 60_000), true)).toBe('confirm');
    expect(nextDkimStep({ ...k, pushedAt: at }, policy, new Date(at.getTime() + 60 * 60_000), true)).toBe('push');
  });
  it('retires only after the grace period and removes only after removeAfterDays', () => {
    const active = { state: 'active' as const, keyType: 'rsa', createdAt: at, supersededAt: at };
    expect(nextDkimStep(active, policy, new Date(at.getTime() + 7 * DAY - 1), true)).toBeUndefined();
    expect(nextDkimStep(active, policy, new Date(at.getTime() + 7 * DAY), true)).toBe('retire');
    const retired = { state: 'retired' as const, keyType: 'rsa', createdAt: at, retiredAt: at };
    expect(nextDkimStep(retired, policy, new Date(at.getTime() + 30 * DAY - 1), true)).toBeUndefined();
    expect(nextDkimStep(retired, policy, new Date(at.getTime() + 30 * DAY), true)).toBe('remove');
  });
  it('refuses a bad policy with a coded error', () => {
    expect(() => parseDkimPolicy({ rotationDays: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
    expect(() => parseDkimPolicy({ rotationdays: 10 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
  });
});
