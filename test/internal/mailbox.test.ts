/** domainToAscii: the A-labels mailbox binding and name constraints compare (src/internal/mailbox.ts). */
import { domainToASCII } from 'node:url';
import { describe, expect, it } from 'vitest';
import { domainToAscii } from '../../src/internal/mailbox.js';

describe('domainToAscii (RFC 3492 Punycode, per label)', () => {
  // RFC 3492 §7.1 samples (A) Arabic, (B) Chinese, (D) Czech, (L) Japanese, and the usual bücher.
  it.each([
    ['bücher.example', 'xn--bcher-kva.example'],
    ['ليهمابتكلموشعربي؟', 'xn--egbpdaj6bu4bxfgehfvwxn'],
    ['他们为什么不说中文', 'xn--ihqwcrb4cv8a8dqg056pqjye'],
    ['Pročprostěnemluvíčesky', 'xn--proprostnemluvesky-uyb24dma41a'],
    ['3年B組金八先生', 'xn--3b-ww4c5e180e575a65lsy2b'],
    ['BÜCHER.Example', 'xn--bcher-kva.example'],
    ['XN--BCHER-KVA.EXAMPLE', 'xn--bcher-kva.example'],
    ['bu\u0308cher.example', 'xn--bcher-kva.example'],
    ['😀.example', 'xn--e28h.example'],
  ])('%s → %s', (input, ascii) => {
    expect(domainToAscii(input)).toBe(ascii);
    // The same as Node's WHATWG host parser for these (it maps more, see the look-alikes below).
    expect(domainToASCII(input)).toBe(ascii);
  });

  it('maps no look-alike onto the real name: Cyrillic "с" and full-width "ｂ" give other A-labels', () => {
    expect(domainToAscii('bü\u0441her.example')).not.toBe('xn--bcher-kva.example');
    expect(domainToAscii('\uFF42ücher.example')).not.toBe('xn--bcher-kva.example');
    // Node's host parser (UTS #46) folds the full-width letter; a mailbox binding must not.
    expect(domainToASCII('\uFF42ücher.example')).toBe('xn--bcher-kva.example');
  });

  it('lower-cases each character alone: a label ending in capital sigma is σ (as UTS #46 and Node map it), not the final ς of another domain', () => {
    // String.prototype.toLowerCase on a whole label applies Final_Sigma: "ΑΣ" became "ας", the A-label
    // of ας.example, while ΑΣ.example is ασ.example in DNS: two mailboxes compared equal.
    expect(domainToAscii('ΑΣ.example')).toBe(domainToASCII('ασ.example'));
    expect(domainToAscii('ΑΣ.example')).toBe(domainToASCII('ΑΣ.example'));
    expect(domainToAscii('ΑΣ.example')).not.toBe(domainToAscii('ας.example'));
    expect(domainToAscii('ας.example')).toBe(domainToASCII('ας.example'));
  });

  it('a label longer than 63 characters is not encoded, and costs linear time', () => {
    const long = 'ü'.repeat(100_000);
    const t = performance.now();
    expect(domainToAscii(`${long}.example`)).toBe(`${long}.example`);
    expect(performance.now() - t).toBeLessThan(500);
  });
});
