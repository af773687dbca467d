/**
 * The DKIM rotation procedure end to end against a real DNS server (Knot, started on 127.0.0.1 by
 * the test) with RFC 2136 updates signed with TSIG: create → publish → confirm → active → rotate →
 * new key active → old selector retired (p=) → removed; signing and verifying through the server.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signDkimMessage } from '../../src/dkim/sign.js';
import { verifyDkim } from '../../src/dkim/verify.js';
import { manualPublisher, rfc2136Publisher } from '../../src/dns/index.js';
import { DkimManager, type DkimManagerOptions } from '../../src/lifecycle/dkim.js';
import { verifyAuditLog } from '../../src/lifecycle/audit.js';
import { nodeDnsResolver } from '../../src/node/dns.js';
import { nodeDnsTransport } from '../../src/node/dns-update.js';
import { MemoryStore, passphraseKeyProtector } from '../../src/store/index.js';
import { describeWithPeers } from '../helpers/peers.js';
import { KNOT_BINARY, TSIG_NAME, TSIG_SECRET, startKnot, type KnotServer } from '../dns/knot.js';
import { fakeClock } from './helpers.js';

const MESSAGE =
  'From: Payments <payments@example.com>\r\nTo: bob@example.org\r\nSubject: rotation\r\nDate: Mon, 5 Jan 2026 00:00:00 +0000\r\nMessage-ID: <r1@example.com>\r\n\r\nSigned through the rotation.\r\n';

describeWithPeers('DKIM rotation end to end against knotd with RFC 2136 + TSIG', [KNOT_BINARY], () => {
  let knot: KnotServer;
  let resolver: ReturnType<typeof nodeDnsResolver>;
  const txt = async (name: string) => (await resolver(name)).map((r) => (typeof r === 'string' ? r : r.join('')));
  const publisher = (secret = TSIG_SECRET) =>
    rfc2136Publisher({ server: knot.server, zone: 'example.com', tsig: { name: TSIG_NAME, algorithm: 'hmac-sha256', secret }, transport: nodeDnsTransport(), ttl: 60, timeoutMs: 3000 });
  const manager = (o: Partial<DkimManagerOptions> = {}) => {
    const clock = fakeClock(new Date());
    const store = new MemoryStore();
    const m = new DkimManager({
      store,
      keyProtector: passphraseKeyProtector('rotation e2e', { iterations: 1000 }),
      resolver,
      publisher: publisher(),
      clock,
      policy: { rotationDays: 90, graceDays: 7, removeAfterDays: 14 },
      ...o,
    });
    return { m, store, clock };
  };
  const verify = (signed: string) => verifyDkim(signed, { resolver });

  beforeAll(async () => {
    knot = await startKnot();
    resolver = nodeDnsResolver({ servers: [knot.server], timeoutMs: 1000 });
  });
  afterAll(async () => {
    await knot?.stop();
  });

  it('create → publish → confirm → active → rotate → new key active → old retired (p=) → removed, drift ok throughout', async () => {
    const { m, store, clock } = manager();
    const { keys } = await m.create({ domain: 'example.com', selector: 'first', owner: { team: 'mail' }, algorithm: 'rsa-2048' }, { actor: 'alice' });
    expect(keys[0]).toMatchObject({ selector: 'first', state: 'publish-requested' });
    expect(await txt('first._domainkey.example.com')).toEqual([]);

    let s = await m.runDue();
    expect(s.failed).toEqual([]);
    expect(s.transitions.map((t) => `${t.selector} ${t.state}`)).toEqual(['first published', 'first active']);
    expect(await txt('first._domainkey.example.com')).toEqual([keys[0]!.record.value]);
    expect(await m.checkDrift('example.com')).toMatchObject({ ok: true, entries: [{ selector: 'first', status: 'ok' }] });

    // Sign with the active key; verify through the real DNS server.
    const signed1 = await signDkimMessage(MESSAGE, await m.getSigningKeys('example.com'));
    const v1 = await verify(signed1);
    expect(v1.result).toBe('pass');
    expect(v1.results[0]).toMatchObject({ result: 'pass', domain: 'example.com', selector: 'first', aligned: true, keyBits: 2048 });
    expect((await verify(signed1.replace('Signed through', 'Tampered through'))).result).toBe('fail');

    // Rotate by hand: the new key is published, confirmed and activated; the old one stays published.
    const [next] = await m.rotate('example.com', { actor: 'bob', selector: 'second' });
    expect(next).toMatchObject({ selector: 'second', state: 'publish-requested' });
    expect((await m.getSigningKeys('example.com')).map((k) => k.selector)).toEqual(['first']);
    s = await m.runDue();
    expect(s.transitions.map((t) => `${t.selector} ${t.state}`)).toEqual(['second published', 'second active']);
    expect((await m.getSigningKeys('example.com')).map((k) => k.selector)).toEqual(['second']);
    const signed2 = await signDkimMessage(MESSAGE, await m.getSigningKeys('example.com'));
    expect((await verify(signed2)).results[0]).toMatchObject({ result: 'pass', selector: 'second' });
    // Mail signed before the switch still verifies during the grace period.
    expect((await verify(signed1)).result).toBe('pass');
    expect((await m.checkDrift('example.com')).entries.map((e) => [e.selector, e.status])).toEqual([
      ['first', 'ok'],
      ['second', 'ok'],
    ]);

    // After the grace period the old selector is retired: p= empty in DNS, confirmed.
    clock.advanceDays(7);
    s = await m.runDue();
    expect(s.transitions.map((t) => `${t.selector} ${t.state}`)).toEqual(['first retiring', 'first retired']);
    expect(await txt('first._domainkey.example.com')).toEqual(['v=DKIM1; k=rsa; p=']);
    const late = await verify(signed1);
    expect(late.results[0]).toMatchObject({ result: 'permerror', selector: 'first' });
    expect(await m.checkDrift('example.com')).toMatchObject({ ok: true });

    // And removed after removeAfterDays.
    clock.advanceDays(14);
    s = await m.runDue();
    expect(s.transitions.map((t) => `${t.selector} ${t.state}`)).toEqual(['first removed']);
    expect(await txt('first._domainkey.example.com')).toEqual([]);
    expect((await m.keys('example.com')).map((k) => [k.selector, k.state])).toEqual([
      ['first', 'removed'],
      ['second', 'active'],
    ]);
    expect((await store.listEvents({})).map((e) => e.type)).toEqual([
      'dkim.key.generated',
      'dkim.record.publish',
      'dkim.record.confirmed',
      'dkim.key.activated',
      'dkim.key.generated',
      'dkim.record.publish',
      'dkim.record.confirmed',
      'dkim.key.activated',
      'dkim.record.retire',
      'dkim.key.retired',
      'dkim.key.removed',
    ]);
    expect((await verifyAuditLog(store)).ok).toBe(true);

    // A record deleted by hand shows up in the drift check.
    await publisher().remove({ name: 'second._domainkey.example.com' });
    const drift = await m.checkDrift('example.com');
    expect(drift.ok).toBe(false);
    expect(drift.entries.map((e) => [e.selector, e.status])).toEqual([
      ['first', 'ok'],
      ['second', 'missing'],
    ]);
  });

  it('a wrong TSIG secret is refused by the server: coded failure told to the owners, key state unchanged, nothing in DNS', async () => {
    const { m, store } = manager({ publisher: publisher('d3JvbmctZ2VoZWltbmlzLXdyb25nLXNlY3JldC0zMmI=') });
    await m.create({ domain: 'example.com', selector: 'badtsig', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'alice' });
    const events = (await store.listEvents({})).length;
    const s = await m.runDue();
    expect(s.failed).toEqual([expect.objectContaining({ identityId: 'dkim:example.com', selector: 'badtsig', code: 'ERR_DNS_UPDATE_REFUSED' })]);
    expect((await m.keys('example.com'))[0]!.state).toBe('publish-requested');
    const added = (await store.listEvents({})).slice(events);
    expect(added.map((e) => e.type)).toEqual(['dkim.step.failed']);
    expect(added[0]!.payload).toMatchObject({ key: { selector: 'badtsig' }, data: { step: 'push', code: 'ERR_DNS_UPDATE_REFUSED' } });
    expect(JSON.stringify(added[0]!.payload)).not.toContain('d3JvbmctZ2VoZWltbmlz');
    expect((await verifyAuditLog(store)).ok).toBe(true);
    expect(await txt('badtsig._domainkey.example.com')).toEqual([]);
    await expect(m.getSigningKeys('example.com')).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
  });

  it('a manual publisher never activates without DNS confirmation; once the owners publish, it does', async () => {
    const { m } = manager({ publisher: manualPublisher() });
    const { keys } = await m.create({ domain: 'example.com', selector: 'manual', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'alice' });
    for (let i = 0; i < 3; i++) {
      const s = await m.runDue();
      expect(s.transitions).toEqual([]);
      expect(s.waiting).toEqual([expect.objectContaining({ selector: 'manual', found: 'absent' })]);
    }
    await expect(m.getSigningKeys('example.com')).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    // The owners act on the dkim.record.publish event.
    await publisher().publish({ name: keys[0]!.record.name, value: keys[0]!.record.value });
    const s = await m.runDue();
    expect(s.transitions.map((t) => t.state)).toEqual(['published', 'active']);
    const signed = await signDkimMessage(MESSAGE, await m.getSigningKeys('example.com'));
    expect((await verify(signed)).results[0]).toMatchObject({ result: 'pass', selector: 'manual', algorithm: 'ed25519-sha256' });
  });
});
