/** `mailpki dkim …` in-process over a SQLite store; DNS steps against a real Knot server on 127.0.0.1. */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithPeers, tempDir } from '../helpers/peers.js';
import { KNOT_BINARY, TSIG_NAME, TSIG_SECRET, startKnot, type KnotServer } from '../dns/knot.js';
import { cli } from './helpers.js';

const t = tempDir('mailpki-cli-dkim-');
afterAll(() => t.cleanup());
const db = t.path('inv.db');
const env = { MAILPKI_PASSPHRASE: 'store passphrase', USER: 'alice', TSIG_SECRET };
const run = (args: string[], stdin = '') => cli([...args, '--db', db], env, stdin);
const MESSAGE = 'From: Payments <payments@example.com>\r\nTo: bob@example.org\r\nSubject: cli\r\nDate: Mon, 5 Jan 2026 00:00:00 +0000\r\nMessage-ID: <c1@example.com>\r\n\r\nHello from the CLI.\r\n';

beforeAll(async () => {
  expect((await run(['init'])).code).toBe(0);
});

describe('mailpki dkim (no DNS needed)', () => {
  it('create prints the TXT record and its zone-file line; keys lists it pending', async () => {
    const r = await run(['dkim', 'create', '--domain', 'manual.example', '--selector', 's2026', '--owner', 'mail', '--algo', 'ed25519']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Created dkim:manual.example for mail');
    expect(r.stdout).toMatch(/^name: {5}s2026\._domainkey\.manual\.example$/m);
    expect(r.stdout).toMatch(/^TXT: {6}v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/m);
    expect(r.stdout).toMatch(/^zone: {5}s2026\._domainkey\.manual\.example\. 3600 IN TXT "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}="$/m);
    const keys = await run(['dkim', 'keys', '--domain', 'manual.example']);
    expect(keys.stdout).toMatch(/^s2026\s+ed25519\s+publish-requested\s+s2026\._domainkey\.manual\.example$/m);
    const json = JSON.parse((await run(['dkim', 'keys', '--domain', 'manual.example', '--json'])).stdout);
    expect(json[0]).toMatchObject({ selector: 's2026', state: 'publish-requested', signing: false });
  });

  it("create refuses a look-alike signing domain (exit 2, ERR_POLICY_DENIED); a store whose policy says lookalikeDomains 'allow' creates it", async () => {
    const r = await run(['dkim', 'create', '--domain', 'xn--80aa0cbo65f.com', '--owner', 'mail', '--algo', 'ed25519']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/раураӏ\.com.*paypal\.com.*\[ERR_POLICY_DENIED\]/);
    const allowing = t.path('allow.db');
    writeFileSync(t.path('allow.json'), JSON.stringify({ lookalikeDomains: 'allow' }));
    expect((await cli(['init', '--db', allowing, '--policy', t.path('allow.json')], env)).code).toBe(0);
    const created = await cli(['dkim', 'create', '--domain', 'xn--80aa0cbo65f.com', '--owner', 'mail', '--algo', 'ed25519', '--db', allowing], env);
    expect(created.stderr).toBe('');
    expect(created.stdout).toContain('Created dkim:xn--80aa0cbo65f.com for mail');
  });

  it('sign refuses before DNS has confirmed the record (exit 2, ERR_IDENTITY_STATE)', async () => {
    const r = await run(['dkim', 'sign', '--domain', 'manual.example'], MESSAGE);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no active DKIM key yet.*\[ERR_IDENTITY_STATE\]/);
  });

  it('decommission stops signing at once and lists where each key goes; a second time is exit 2 (ERR_IDENTITY_STATE)', async () => {
    expect((await run(['dkim', 'create', '--domain', 'gone.example', '--selector', 'old', '--owner', 'mail', '--algo', 'ed25519'])).code).toBe(0);
    const r = await run(['dkim', 'decommission', '--domain', 'gone.example', '--reason', 'brand retired']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Decommissioned dkim:gone.example; nothing signs for gone.example any more.');
    expect(r.stdout).toMatch(/^old\s+ed25519\s+retiring\s+old\._domainkey\.gone\.example$/m);
    const again = await run(['dkim', 'decommission', '--domain', 'gone.example']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/decommissioned.*\[ERR_IDENTITY_STATE\]/);
    const sign = await run(['dkim', 'sign', '--domain', 'gone.example'], MESSAGE);
    expect(sign.code).toBe(2);
    expect(sign.stderr).toContain('[ERR_IDENTITY_STATE]');
    expect((await run(['dkim', 'rotate', '--domain', 'gone.example'])).stderr).toContain('[ERR_IDENTITY_STATE]');
    expect((await run(['dkim', 'decommission'])).stderr).toContain('[ERR_USAGE]');
    expect((await run(['dkim', 'decommission', '--domain', 'nowhere.example'])).stderr).toContain('[ERR_IDENTITY_NOT_FOUND]');
  });

  it('usage errors are exit 2 with one line', async () => {
    for (const args of [['dkim'], ['dkim', 'nope'], ['dkim', 'create', '--domain', 'x.example'], ['dkim', 'create', '--domain', 'x.example', '--owner', 'm', '--algo', 'dsa'], ['dkim', 'sign', '--domain', 'x.example', '--zone', 'x.example']]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/\[ERR_USAGE\]|\[ERR_INVALID_INPUT\]/);
    }
    expect((await cli(['dkim', 'keys', '--domain', 'x.example', '--db', t.path('missing.db')], env)).stderr).toContain('mailpki init');
  });

  it('verify: an unsigned message is exit 1, an unreadable file exit 2', async () => {
    const none = await run(['dkim', 'verify', '--dns', '127.0.0.1:9'], MESSAGE);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('dkim=none');
    expect((await run(['dkim', 'verify', '--in', t.path('nope.eml')])).code).toBe(2);
  });
});

describeWithPeers('mailpki dkim against knotd (RFC 2136 + TSIG)', [KNOT_BINARY], () => {
  let knot: KnotServer;
  const dnsArgs = () => ['--domain', 'example.com', '--dns', knot.server, '--update-server', knot.server, '--zone', 'example.com', '--tsig-name', TSIG_NAME, '--tsig-secret-env', 'TSIG_SECRET'];
  beforeAll(async () => {
    knot = await startKnot();
  });
  afterAll(async () => {
    await knot?.stop();
  });

  it('create → run-due publishes and activates → sign → verify (exit 0) → rotate → run-due → check', async () => {
    expect((await run(['dkim', 'create', '--domain', 'example.com', '--selector', 'one', '--owner', 'mail', '--algo', 'rsa-2048,ed25519'])).code).toBe(2);
    const created = await run(['dkim', 'create', '--domain', 'example.com', '--owner', 'mail', '--algo', 'rsa-2048,ed25519']);
    expect(created.code).toBe(0);
    const selectors = [...created.stdout.matchAll(/^selector: (\S+)/gm)].map((m) => m[1]);
    expect(selectors).toHaveLength(2);

    const due = await run(['dkim', 'run-due', ...dnsArgs()]);
    expect(due.stderr).toBe('');
    expect(due.code).toBe(0);
    expect(due.stdout).toMatch(/4 step\(s\)/);
    expect(due.stdout).toMatch(/^ {2}active\s+dkim:example\.com/m);

    const msg = t.path('msg.eml');
    writeFileSync(msg, MESSAGE);
    const signedPath = t.path('signed.eml');
    const signed = await run(['dkim', 'sign', '--domain', 'example.com', '--in', msg, '--out', signedPath]);
    expect(signed.code).toBe(0);
    const signedText = readFileSync(signedPath, 'latin1');
    expect(signedText.match(/^DKIM-Signature:/gm)).toHaveLength(2);

    const ok = await run(['dkim', 'verify', '--dns', knot.server, '--in', signedPath]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/dkim=pass d=example\.com s=\S+ a=rsa-sha256/);
    expect(ok.stdout).toMatch(/dkim=pass d=example\.com s=\S+ a=ed25519-sha256/);
    const json = JSON.parse((await run(['dkim', 'verify', '--json', '--dns', knot.server, '--in', signedPath])).stdout);
    expect(json).toMatchObject({ result: 'pass', aligned: { domain: 'example.com', result: 'pass' } });
    const tampered = await run(['dkim', 'verify', '--dns', knot.server], signedText.replace('Hello from', 'Goodbye from'));
    expect(tampered.code).toBe(1);

    expect((await run(['dkim', 'check', '--domain', 'example.com', '--dns', knot.server])).stdout).toMatch(/^No drift for example\.com/);

    const rotated = await run(['dkim', 'rotate', '--domain', 'example.com']);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain('Rotation started for example.com');
    expect((await run(['dkim', 'rotate', '--domain', 'example.com'])).stderr).toContain('[ERR_IDENTITY_STATE]');
    const due2 = await run(['dkim', 'run-due', ...dnsArgs()]);
    expect(due2.code).toBe(0);
    const keys = (await run(['dkim', 'keys', '--domain', 'example.com'])).stdout;
    expect(keys.match(/ signing /g)).toHaveLength(2);
    expect(keys.match(/\bactive\b/g)).toHaveLength(4);

    // Eight days later the old selectors are retired in DNS.
    const later = new Date(Date.now() + 8 * 86_400_000).toISOString();
    const due3 = await run(['dkim', 'run-due', '--now', later, ...dnsArgs()]);
    expect(due3.code).toBe(0);
    expect(due3.stdout.match(/^ {2}retired\s/gm)).toHaveLength(2);
    const check = await run(['dkim', 'check', '--domain', 'example.com', '--json', '--dns', knot.server]);
    expect(check.code).toBe(0);
    expect(JSON.parse(check.stdout).entries.map((e: { state: string; status: string }) => `${e.state} ${e.status}`)).toEqual([
      'retired ok',
      'retired ok',
      'active ok',
      'active ok',
    ]);

    // Decommissioned: signing stops now; after the grace period run-due sets p= on the last keys.
    expect((await run(['dkim', 'decommission', '--domain', 'example.com'])).code).toBe(0);
    expect((await run(['dkim', 'sign', '--domain', 'example.com', '--in', msg])).code).toBe(2);
    const due4 = await run(['dkim', 'run-due', '--now', new Date(Date.now() + 8 * 86_400_000).toISOString(), ...dnsArgs()]);
    expect(due4.code).toBe(0);
    expect(due4.stdout.match(/^ {2}retired\s/gm)).toHaveLength(2);
    expect(due4.stdout).toContain('0 rotation(s)');
    const check2 = await run(['dkim', 'check', '--domain', 'example.com', '--json', '--dns', knot.server]);
    expect(check2.code).toBe(0);
    expect(JSON.parse(check2.stdout).entries.map((e: { state: string }) => e.state)).toEqual(['retired', 'retired', 'retired', 'retired']);
  });

  it('a wrong TSIG secret: run-due exits 1 naming ERR_DNS_UPDATE_REFUSED; the key stays pending (check: no drift)', async () => {
    expect((await run(['dkim', 'create', '--domain', 'sub.example.com', '--owner', 'mail', '--algo', 'ed25519'])).code).toBe(0);
    const bad = await cli(['dkim', 'run-due', '--db', db, ...dnsArgs().slice(2), '--domain', 'sub.example.com'], { ...env, TSIG_SECRET: 'd3JvbmctZ2VoZWltbmlzLXdyb25nLXNlY3JldC0zMmI=' });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('[ERR_DNS_UPDATE_REFUSED]');
    const check = await run(['dkim', 'check', '--domain', 'sub.example.com', '--dns', knot.server]);
    expect(check.code).toBe(0); // pending, not drift
    expect(check.stdout).toMatch(/pending/);
  });
});
