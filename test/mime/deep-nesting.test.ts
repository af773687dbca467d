/**
 * Stack depth (issue 11, finding 5): every nesting limit a caller may set must be safe on a small
 * JavaScript stack. `mimeLimits.maxDepth: 1000` with 998 nested levels used to throw an uncaught
 * RangeError under `node --stack-size=400`. Each case runs in a child process with that stack and
 * must end in a result or a coded MailPkiError, never another exception.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const child = fileURLToPath(new URL('./deep-nesting-child.ts', import.meta.url));

function runSmallStack(...args: string[]): Record<string, { result?: unknown; code?: string; uncaught?: string }> {
  const out = execFileSync(process.execPath, ['--stack-size=400', '--import', 'tsx', child, ...args], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('deep nesting on a 400 KiB stack (finding 5)', () => {
  it('mimeLimits.maxDepth 1000 with 998 nested multiparts parses and verifies under --stack-size=400, no RangeError (finding 5)', () => {
    const r = runSmallStack('multipart', '998', '1000');
    expect(r).toEqual({
      parseMessage: { result: 999 },
      make7bitSafe: { result: true },
      verifyMessage: { result: ['SMIME_NOT_SIGNED'] },
    });
  });

  it('998 levels of alternating multipart and message/rfc822 under --stack-size=400 (finding 5)', () => {
    const r = runSmallStack('mixed', '998', '1000');
    expect(r.parseMessage).toEqual({ result: 999 });
    expect(r.verifyMessage).toEqual({ result: ['SMIME_NOT_SIGNED'] });
  });

  it('deeper than maxDepth is ERR_NESTING_TOO_DEEP, not RangeError (finding 5)', () => {
    const r = runSmallStack('multipart', '600', '500');
    expect(r).toEqual({
      parseMessage: { code: 'ERR_NESTING_TOO_DEEP' },
      make7bitSafe: { code: 'ERR_NESTING_TOO_DEEP' },
      verifyMessage: { code: 'ERR_NESTING_TOO_DEEP' },
    });
  });

  it('CMS BER nesting: a maxDepth above MAX_BER_DEPTH is refused, deep BER is ERR_NESTING_TOO_DEEP, under --stack-size=400 (finding 5)', () => {
    expect(runSmallStack('ber', '20000', '100000')).toEqual({ parseSignedData: { code: 'ERR_INVALID_INPUT' } });
    expect(runSmallStack('ber', '20000', '256')).toEqual({ parseSignedData: { code: 'ERR_NESTING_TOO_DEEP' } });
  });
});
