/**
 * DNS UPDATE encoding and TSIG against known bytes.
 *
 * KNSUPDATE_HEX provenance: captured on Debian 12 with knot-dnsutils 3.2.6 by pointing
 * `knsupdate -y hmac-sha256:mailpki-update.:<TSIG_SECRET>` at a UDP socket on 127.0.0.1 and sending
 *   zone example.com. / update delete sel._domainkey.example.com. TXT /
 *   update add sel._domainkey.example.com. 3600 TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
 * (knsupdate compresses the update names; its TSIG RR is uncompressed, as RFC 8945 asks).
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import {
  RR_TYPE,
  encodeName,
  encodeUpdate,
  importTsigKey,
  parseMessage,
  signTsig,
  txtRdata,
  verifyRequestTsig,
  verifyResponseTsig,
} from '../../src/dns/index.js';
import { fromHex, toHex } from '../../src/internal/bytes.js';
import { TSIG_NAME, TSIG_SECRET } from './knot.js';

const KNSUPDATE_HEX =
  '475d28000001000000020001076578616d706c6503636f6d00000600010373656c0a5f646f6d61696e6b6579c00c001000ff000000000000c01d001000010000' +
  '0e10004342763d444b494d313b206b3d656432353531393b20703d3131715941594b7843726656532f3754795751484f6737686376506170694d6c727749616150' +
  '634855526f3d0e6d61696c706b692d7570646174650000fa00ff00000000003d0b686d61632d7368613235360000006b0290b1012c0020310ee9af59d2d2ec50dc' +
  '3a6fb979f4437213ea909d35e18913c154875799966a475d00000000';
const VALUE = 'v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=';
const key = () => importTsigKey({ name: TSIG_NAME, algorithm: 'hmac-sha256', secret: TSIG_SECRET }, crypto);

describe('DNS names and TXT RDATA', () => {
  it('encodes names as labels, trailing dot optional', () => {
    expect(toHex(encodeName('sel._domainkey.example.com'))).toBe('0373656c0a5f646f6d61696e6b6579076578616d706c6503636f6d00');
    expect(encodeName('example.com.')).toEqual(encodeName('example.com'));
    expect(toHex(encodeName('Example.COM', { lowercase: true }))).toBe('076578616d706c6503636f6d00');
  });
  it('refuses empty labels, long labels, long names and non-ASCII', () => {
    for (const bad of ['a..b', `${'a'.repeat(64)}.com`, `${'abcdefgh.'.repeat(29)}com`, 'bü.com', 'a b.com']) expect(() => encodeName(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
  });
  it('cuts TXT values into ≤ 255-byte character-strings', () => {
    const v = 'x'.repeat(600);
    const r = txtRdata(v);
    expect(r.length).toBe(603);
    expect([r[0], r[256], r[512]]).toEqual([255, 255, 90]);
    expect(toHex(txtRdata(''))).toBe('00');
    expect(() => txtRdata('caf\u00e9')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
  });
});

describe('RFC 2136 UPDATE encoding', () => {
  it('writes header, zone, delete-RRset and add exactly (hand-assembled from RFC 2136 §2, names uncompressed)', () => {
    const msg = encodeUpdate({
      id: 0x475d,
      zone: 'example.com',
      updates: [
        { op: 'delete-rrset', name: 'sel._domainkey.example.com', type: RR_TYPE.TXT },
        { op: 'add', name: 'sel._domainkey.example.com', type: RR_TYPE.TXT, ttl: 3600, rdata: txtRdata(VALUE) },
      ],
    });
    const name = '0373656c0a5f646f6d61696e6b6579076578616d706c6503636f6d00';
    const expected = [
      '475d', '2800', '0001', '0000', '0002', '0000', // id, opcode UPDATE, ZO=1 PR=0 UP=2 AD=0
      '076578616d706c6503636f6d00', '0006', '0001', // zone example.com SOA IN
      name, '0010', '00ff', '00000000', '0000', // delete RRset: TXT, class ANY, TTL 0, RDLENGTH 0
      name, '0010', '0001', '00000e10', '0043', '42', toHex(new TextEncoder().encode(VALUE)), // add: TXT IN 3600, one string
    ].join('');
    expect(toHex(msg)).toBe(expected);
    // The same update sections as knsupdate's, once its compression is undone.
    const p = parseMessage(msg);
    expect({ id: p.id, opcode: p.opcode, counts: p.counts }).toEqual({ id: 0x475d, opcode: 5, counts: [1, 0, 2, 0] });
  });
});

describe('TSIG (RFC 8945) against knsupdate', () => {
  const knsupdate = fromHex(KNSUPDATE_HEX);

  it('parses the message and its TSIG record', () => {
    const p = parseMessage(knsupdate);
    expect(p).toMatchObject({ id: 0x475d, qr: false, opcode: 5, rcode: 0, counts: [1, 0, 2, 1] });
    expect(p.tsig).toMatchObject({ name: 'mailpki-update', algorithm: 'hmac-sha256', timeSigned: 0x6b0290b1, fudge: 300, originalId: 0x475d, error: 0 });
    expect(p.tsig!.mac.length).toBe(32);
  });

  it('verifies the MAC knsupdate computed, and refuses it under another secret', async () => {
    const p = parseMessage(knsupdate);
    expect(await verifyRequestTsig(knsupdate, p, await key(), crypto)).toBe(true);
    const wrong = await importTsigKey({ name: TSIG_NAME, algorithm: 'hmac-sha256', secret: 'd3JvbmctZ2VoZWltbmlzLXdyb25nLXNlY3JldC0zMmI=' }, crypto);
    expect(await verifyRequestTsig(knsupdate, p, wrong, crypto)).toBe(false);
  });

  it('signing knsupdate\u2019s unsigned message at the same time gives its bytes exactly', async () => {
    const p = parseMessage(knsupdate);
    const unsigned = knsupdate.slice(0, p.tsig!.offset);
    unsigned[11] = 0; // ARCOUNT without the TSIG
    const signed = await signTsig(unsigned, await key(), { timeSigned: p.tsig!.timeSigned, fudge: 300, crypto });
    expect(toHex(signed.message)).toBe(KNSUPDATE_HEX);
    expect(signed.mac).toEqual(p.tsig!.mac);
  });

  it('checks a signed answer: valid, too old, altered, unsigned refusal, BADSIG', async () => {
    const k = await key();
    const request = await signTsig(encodeUpdate({ id: 7, zone: 'example.com', updates: [] }), k, { timeSigned: 1_000_000, crypto });
    // The answer a server sends, its MAC computed independently here with node:crypto (RFC 8945 §4.3.1:
    // request MAC with its length, the answer without TSIG, then the TSIG variables).
    const answer = encodeUpdate({ id: 7, zone: 'example.com', updates: [] });
    answer[2] = 0xa8;
    const keyName = toHex(encodeName(TSIG_NAME));
    const alg = toHex(encodeName('hmac-sha256'));
    const time = '0000000f424a'; // 1_000_010
    const vars = `${keyName}00ff00000000${alg}${time}012c00000000`;
    const mac = createHmac('sha256', Buffer.from(TSIG_SECRET, 'base64'))
      .update(Buffer.from(`0020${toHex(request.mac)}${toHex(answer)}${vars}`, 'hex'))
      .digest('hex');
    const rdata = `${alg}${time}012c0020${mac}0007${'0000'}0000`;
    const wireHex = `${toHex(answer).slice(0, 20)}0001${toHex(answer).slice(24)}${keyName}00fa00ff00000000${(rdata.length / 2).toString(16).padStart(4, '0')}${rdata}`;
    const wire = fromHex(wireHex);
    const check = (bytes: Uint8Array, now = 1_000_020, parsed = parseMessage(bytes)) => verifyResponseTsig(bytes, parsed, k, { requestMac: request.mac, now, crypto });
    await expect(check(wire)).resolves.toBeUndefined();
    await expect(check(wire, 1_000_020 + 400)).rejects.toMatchObject({ code: 'ERR_DNS_RESPONSE_INVALID' });
    const altered = wire.slice();
    altered[3] = 5; // RCODE REFUSED, not what was signed
    await expect(check(altered)).rejects.toMatchObject({ code: 'ERR_DNS_RESPONSE_INVALID' });
    const refused = answer.slice();
    refused[3] = 9; // NOTAUTH without TSIG: the server did not accept our key
    await expect(check(refused)).rejects.toMatchObject({ code: 'ERR_DNS_UPDATE_REFUSED' });
    const badsig = parseMessage(wire);
    badsig.tsig!.error = 16;
    await expect(check(wire, 1_000_020, badsig)).rejects.toThrow(/BADSIG/);
  });
});

describe('parseMessage on hostile input', () => {
  it('gives ERR_DNS_RESPONSE_INVALID for truncation, pointer loops and trailing bytes, never a hang', () => {
    const cases = [
      new Uint8Array(5),
      fromHex('0001 8000 0001 0000 0000 0000 c00c 0006 0001'), // pointer to itself
      fromHex('0001 8000 0000 0000 0000 0000 ff'),
      fromHex('0001 8000 0001 0000 0000 0000 3f41'),
    ];
    for (const c of cases) {
      let err: unknown;
      try {
        parseMessage(c);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MailPkiError);
      expect((err as MailPkiError).code).toBe('ERR_DNS_RESPONSE_INVALID');
    }
  });
});
