/** domainToAscii: the A-labels mailbox binding and name constraints compare; domainToUnicode: the U-labels a reader is shown (src/internal/mailbox.ts). */
import { domainToASCII, domainToUnicode as nodeDomainToUnicode } from 'node:url';
import { describe, expect, it } from 'vitest';
import { asciiALabel, domainToAscii, domainToUnicode } from '../../src/internal/mailbox.js';

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

describe('domainToUnicode (RFC 3492 Punycode decoding, per label)', () => {
  it.each([
    ['xn--bcher-kva.example', 'bücher.example'],
    ['XN--BCHER-KVA.Example', 'bücher.example'],
    ['xn--egbpdaj6bu4bxfgehfvwxn', 'ليهمابتكلموشعربي؟'],
    ['xn--ihqwcrb4cv8a8dqg056pqjye', '他们为什么不说中文'],
    ['xn--proprostnemluvesky-uyb24dma41a', 'pročprostěnemluvíčesky'],
    ['xn--3b-ww4c5e180e575a65lsy2b', '3年b組金八先生'],
    ['xn--e28h.example', '😀.example'],
    ['xn--80aa0cbo65f.com', '\u0440\u0430\u0443\u0440\u0430\u04CF.com'],
    ['xn--80aa0cbo65f.xn--p1ai', '\u0440\u0430\u0443\u0440\u0430\u04CF.\u0440\u0444'],
    ['xn--pple-43d.example', '\u0430pple.example'],
    ['xn--mxa0b.example', '\u03B1\u03C3.example'],
  ])('%s → %s', (ascii, unicode) => {
    expect(domainToUnicode(ascii)).toBe(unicode);
    expect(nodeDomainToUnicode(ascii.toLowerCase())).toBe(unicode);
    // Round trip through the encoder.
    expect(domainToAscii(unicode)).toBe(ascii.toLowerCase());
  });

  it('U-labels as written are NFC and lower-cased character by character, as domainToAscii reads them', () => {
    expect(domainToUnicode('BU\u0308CHER.Example')).toBe('bücher.example');
    expect(domainToUnicode('\u0420\u0410\u0423\u0420\u0410\u04C0.COM')).toBe('\u0440\u0430\u0443\u0440\u0430\u04CF.com');
    expect(domainToUnicode('\u0391\u03A3.example')).toBe('\u03B1\u03C3.example');
  });

  it('an A-label that does not decode is left as it is (clients show it so): a bad digit, an overflow, a surrogate, over-long, empty', () => {
    for (const label of ['xn--', 'xn--bcher-kv!', 'xn--zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz', 'xn--99999999999999999999', `xn--${'a'.repeat(70)}`, 'xn--b\u00fccher-kva'])
      expect(domainToUnicode(`${label}.example`)).toBe(`${label.toLowerCase()}.example`);
  });

  it('an A-label whose Punycode starts with the delimiter ("xn---80aa0cbo65f") decodes after it, as WHATWG URL (Node url.domainToUnicode) shows it (was: left as it is, and a lenient client showed раураӏ.com unflagged)', () => {
    expect(nodeDomainToUnicode('xn---80aa0cbo65f.com')).toBe('\u0440\u0430\u0443\u0440\u0430\u04CF.com');
    expect(domainToUnicode('xn---80aa0cbo65f.com')).toBe('\u0440\u0430\u0443\u0440\u0430\u04CF.com');
    expect(domainToUnicode('XN---80AA0CBO65F.com')).toBe('\u0440\u0430\u0443\u0440\u0430\u04CF.com');
    // Only a lone delimiter: nothing to decode.
    expect(domainToUnicode('xn---.example')).toBe('xn---.example');
  });

  it('an A-label that decodes to ASCII only is no U-label: left as it is', () => {
    // "xn--abc-" decodes to "abc"; IDNA (RFC 5891 §5.4) refuses it. Lenient decoders show "abc"
    // (Node's url.domainToUnicode does): asciiALabel says so, and latinLookalike flags it.
    expect(domainToUnicode('xn--abc-.example')).toBe('xn--abc-.example');
    expect(nodeDomainToUnicode('xn--abc-.example')).toBe('abc.example');
    expect(asciiALabel('xn--abc-')).toBe('abc');
    expect(asciiALabel('XN--ABC-')).toBe('abc');
    for (const label of ['xn--', 'xn---', 'xn--bcher-kva', 'abc-', 'xn--abc-!']) expect(asciiALabel(label), label).toBeUndefined();
  });

  it('costs linear time in the domain (a 1 MB domain of A-labels well under a second)', () => {
    const t = performance.now();
    domainToUnicode(Array(16_000).fill('xn--80aa0cbo65f').join('.'));
    domainToUnicode(`xn--${'9'.repeat(1_000_000)}`);
    expect(performance.now() - t).toBeLessThan(1000);
  });
});
