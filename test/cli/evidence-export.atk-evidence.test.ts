/** Regressions from the attack on the evidence change (h/atk-evidence): `mailpki evidence export` (a real process) while the filter prunes. */
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { openSqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { tempDir } from '../helpers/peers.js';
import { record } from '../filter/evidence-contract.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));

it('evidence export while the filter prunes the records it already read: every record still kept is exported (was: the next page started after a pruned record, found none, and the export ended early with exit 0)', async () => {
  const t = tempDir('mailpki-export-');
  try {
    const db = t.path('store.db');
    const store = await openSqliteEvidenceStore(db);
    // 1500 records past retention (the oldest), 1000 kept: three pages of 1000.
    await Promise.all(Array.from({ length: 2500 }, (_, i) => store.put(record(i + 1))));
    const fifo = t.path('out.fifo');
    spawnSync('mkfifo', [fifo]);
    // The auditor's export writes into a pipe we read slowly: it holds its first page while we stop reading.
    const exporter = spawn(process.execPath, ['--import', 'tsx', BIN, 'evidence', 'export', '--db', db, '--out', fifo], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    exporter.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number>((r) => exporter.on('exit', (code) => r(code ?? -1)));
    const reader = createReadStream(fifo, { highWaterMark: 4096 });
    let text = '';
    let held = false;
    await new Promise<void>((resolve) =>
      reader.on('data', (c) => {
        text += c.toString();
        if (!held && text.split('\n').length > 20) (reader.pause(), (held = true), resolve());
      }),
    );
    // The filter's daily prune (or its start) now: the first 1500 go, the page boundary record (the 1000th) among them.
    expect(await store.prune(new Date(record(1501).receivedAt))).toBe(1500);
    await store.close();
    const ended = new Promise<void>((r) => reader.on('end', () => r()));
    reader.resume();
    await ended;
    expect(await exited).toBe(0);
    const ids = new Set(
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { id: string }).id),
    );
    const kept = Array.from({ length: 1000 }, (_, i) => record(i + 1501).id);
    expect(kept.filter((id) => !ids.has(id)).length, `kept records missing from the export; it said: ${stderr.trim()}`).toBe(0);
  } finally {
    t.cleanup();
  }
}, 120_000);
