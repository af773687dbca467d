/** createFilter against an SMTP sink (no MTA): attacks — many recipients, slow clients, concurrency, forged headers, failing sinks and stores. */
import { Socket } from 'node:net';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryEvidenceStore, type EvidenceStore } from '../../src/filter/evidence.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';

const ID = 'filter.example.test';
interface Got {
  to: string[];
  text: string;
}

async function startSink(mode: { refuse?: boolean } = {}) {
  const got: Got[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (mode.refuse) return cb(Object.assign(new Error('4.3.2 busy'), { responseCode: 451 }));
        got.push({ to: session.envelope.rcptTo.map((r) => r.address), text: Buffer.concat(chunks).toString('latin1') });
        cb();
      });
    },
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.server.address() as { port: number }).port)));
  return { got, port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function client(port: number) {
  return nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: 8, maxMessages: Infinity });
}

const message = (extra = '') => `${extra}From: cfo@example.com\r\nTo: x@example.com\r\nSubject: Hi\r\nMessage-ID: <t@example.com>\r\n\r\nbody\r\n`;

describe('createFilter under attack', () => {
  let sink: Awaited<ReturnType<typeof startSink>>;
  let filter: RunningFilter;
  const evidence = new MemoryEvidenceStore();
  beforeAll(async () => {
    sink = await startSink();
    filter = await createFilter({
      listen: { port: 0 },
      reinject: { port: sink.port },
      authservId: ID,
      evidence,
      socketTimeoutMs: 500,
      policy: { version: 1, rules: [{ recipients: ['sub.example.com'], require: { smime: true }, otherwise: 'tag' }] },
    });
  });
  afterAll(async () => {
    await filter.close(1000);
    await sink.close();
  });

  it('500 recipients in two dispositions: one copy per disposition, every recipient once', async () => {
    sink.got.length = 0;
    const to = Array.from({ length: 500 }, (_, i) => (i % 2 ? `u${i}@example.com` : `u${i}@sub.example.com`));
    const t = client(filter.port);
    await t.sendMail({ envelope: { from: 'cfo@example.com', to }, raw: message() });
    t.close();
    expect(sink.got).toHaveLength(2);
    const tagged = sink.got.find((g) => g.text.includes('X-Mailpki-Disposition: tag'))!;
    const accepted = sink.got.find((g) => g.text.includes('X-Mailpki-Disposition: accept'))!;
    expect(tagged.to).toHaveLength(250);
    expect(accepted.to).toHaveLength(250);
    expect(new Set([...tagged.to, ...accepted.to]).size).toBe(500);
  });

  it('a client that connects and says nothing is dropped after the socket timeout', async () => {
    const s = new Socket();
    const closed = new Promise<number>((resolve) => {
      const t0 = Date.now();
      s.on('close', () => resolve(Date.now() - t0));
      s.on('error', () => undefined);
      s.on('data', () => undefined); // read, or the FIN is never seen
    });
    s.connect(filter.port, '127.0.0.1');
    const ms = await closed;
    expect(ms).toBeGreaterThanOrEqual(400);
    expect(ms).toBeLessThan(5000);
  });

  it('40 messages over 8 connections at once: all passed on, each with exactly one Authentication-Results of ours', async () => {
    sink.got.length = 0;
    const t = client(filter.port);
    await Promise.all(Array.from({ length: 40 }, (_, i) => t.sendMail({ envelope: { from: 'a@example.org', to: [`r${i}@example.org`] }, raw: message(`Authentication-Results: ${ID}; smime=pass\r\n`) })));
    t.close();
    expect(sink.got).toHaveLength(40);
    for (const g of sink.got) expect(g.text.match(/^Authentication-Results: filter\.example\.test;/gm)).toHaveLength(1);
    expect(sink.got.every((g) => !g.text.includes('smime=pass'))).toBe(true);
  });

  it('a 1 MiB header block of forged fields: passed on with none of them', async () => {
    sink.got.length = 0;
    const forged = `Authentication-Results: ${ID}; dkim=pass (forged)\r\n`.repeat(20_000);
    const t = client(filter.port);
    await t.sendMail({ envelope: { from: 'a@example.org', to: ['big@example.org'] }, raw: message(forged) });
    t.close();
    expect(sink.got).toHaveLength(1);
    expect(sink.got[0]!.text).not.toContain('(forged)');
  });
});

describe('createFilter faults', () => {
  it('the return port refuses (451): the filter answers 451, evidence says deferred', async () => {
    const sink = await startSink({ refuse: true });
    const evidence = new MemoryEvidenceStore();
    const filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: ID, evidence });
    const t = client(filter.port);
    const err = await t.sendMail({ envelope: { from: 'a@example.org', to: ['x@example.org'] }, raw: message() }).catch((e: { responseCode?: number; response?: string }) => e);
    t.close();
    expect((err as { responseCode?: number }).responseCode).toBe(451);
    expect((await evidence.list()).map((r) => [r.outcome, r.faults.length])).toEqual([['deferred', 1]]);
    await filter.close(1000);
    await sink.close();
  });

  it('the evidence store fails: 451, nothing passed on without evidence', async () => {
    const sink = await startSink();
    const broken = new MemoryEvidenceStore();
    broken.put = async () => {
      throw new Error('disk full');
    };
    broken.update = async () => {
      throw new Error('disk full');
    };
    const filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: ID, evidence: broken, policy: { version: 1, rules: [{ recipients: ['example.org'], require: { smime: true }, otherwise: 'reject' }] } });
    const t = client(filter.port);
    const err = await t.sendMail({ envelope: { from: 'a@example.org', to: ['x@example.org'] }, raw: message() }).catch((e: { responseCode?: number }) => e);
    t.close();
    expect((err as { responseCode?: number }).responseCode).toBe(451);
    expect(sink.got).toEqual([]);
    await filter.close(1000);
    await sink.close();
  });

  it('bad options are coded errors naming the field', async () => {
    await expect(createFilter({ reinject: { port: 0 }, authservId: ID })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'reinject.port' } });
    await expect(createFilter({ reinject: { port: 25 }, authservId: 'a;b' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(createFilter({ reinject: { port: 25 }, authservId: ID, policy: { version: 1, rules: [{ recipients: [], require: {}, otherwise: 'tag' }] } })).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      details: { field: 'rules.0.recipients' },
    });
    // Regression: a store of before EvidenceStore.update (get/put/list/prune only) was taken, and every message answered 451 for ever.
    const old = new MemoryEvidenceStore();
    const before = { get: old.get.bind(old), put: old.put.bind(old), list: old.list.bind(old), prune: old.prune.bind(old) } as unknown as EvidenceStore;
    await expect(createFilter({ reinject: { port: 25 }, authservId: ID, evidence: before })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'evidence' } });
  });
});
