/** Addresses in display names that a reader sees but a parser does not (issue 11, finding 3). */
import { describe, expect, it } from 'vitest';
import { findAddressesInDisplayNames, parseAddressList } from '../../src/mime/index.js';
import { findDisguisedAddresses, hasBidiControls, revealLookalikes } from '../../src/mime/address.js';

describe('findDisguisedAddresses', () => {
  it.each([
    ['ceo at example.com', ['ceo@example.com']],
    ['CEO AT Example.COM', ['CEO@example.com']],
    ['ceo (at) example (dot) com', ['ceo@example.com']],
    ['ceo [at] example[.]com', ['ceo@example.com']],
    ['ceo{at}example.com', ['ceo@example.com']],
    ['ceo @ example . com', ['ceo@example.com']],
    ['ceo\u3000at\u3000example.com', ['ceo@example.com']],
    ['c\u200Beo a\u200Dt example.com', ['ceo@example.com']],
    ['Support team at example.co.uk', ['team@example.co.uk']],
    // Attack report item 5: look-alikes of "@", "at" and "." a reader takes for them.
    ['ceo\u24D0example.com', ['ceo@example.com']],
    ['ceo\u{1F130}example.com', ['ceo@example.com']],
    ['ceo \u0430t example.com', ['ceo@example.com']],
    ['ceo at example\u3002com', ['ceo@example.com']],
    ['ceo at example\uFF61com', ['ceo@example.com']],
    ['ceo at example\uFF0Ecom', ['ceo@example.com']],
    ['ceo at example\u00B7com', ['ceo@example.com']],
    ['ceo-at-example.com', ['ceo@example.com']],
    ['ceo_at_example.com', ['ceo@example.com']],
  ])('%j reads as %j', (name, want) => {
    expect(findDisguisedAddresses(name)).toEqual(want);
  });

  it.each(['Sales at Example', 'Sales-at-Example', '\u24B6nna Schmidt', 'Mary-Anne_at_home', 'x\u00B7y at home', 'Meet at noon', 'Alice at Example Corp.', 'At @ home', 'payments@example.com', 'Team Payments', 'at', ''])('%j holds none', (name) => {
    expect(findDisguisedAddresses(name)).toEqual([]);
  });

  it('stays linear on hostile names (1 MB each well under a second)', () => {
    for (const name of ['a at '.repeat(200_000), ' '.repeat(1_000_000) + 'x', ' ('.repeat(500_000) + 'at', '@ '.repeat(500_000), ' dot'.repeat(250_000)]) {
      const t = performance.now();
      findDisguisedAddresses(name);
      expect(performance.now() - t).toBeLessThan(3000);
    }
  });
});

describe('revealLookalikes and findAddressesInDisplayNames', () => {
  it('full-width and invisible characters are normalised before the address scan', () => {
    expect(revealLookalikes('ｃｅｏ＠ｅｘａｍｐｌｅ．ｃｏｍ')).toBe('ceo@example.com');
    expect(revealLookalikes('ceo\uFE6Bexa\u200Bmple.com')).toBe('ceo@example.com');
    const found = findAddressesInDisplayNames(parseAddressList('"ｃｅｏ＠ｅｘａｍｐｌｅ．ｃｏｍ" <x@evil.test>, "ceo@exa\u200Bmple.com" <y@evil.test>'));
    expect(found.map((d) => [d.addresses, d.mismatch])).toEqual([
      [['ceo@example.com'], true],
      [['ceo@example.com'], true],
    ]);
  });

  it('bidirectional controls are detected', () => {
    expect(hasBidiControls('\u202Emoc.elpmaxe')).toBe(true);
    expect(hasBidiControls('Payments Team')).toBe(false);
  });
});

describe('findDisguisedAddresses on hostile sizes', () => {
  it('a display name with 60,000 spelled-out addresses is scanned in linear time (quadratic de-dup took 24 s)', () => {
    const name = Array.from({ length: 60_000 }, (_, i) => `u${i} at d${i}.com`).join(' ');
    const t = performance.now();
    const found = findDisguisedAddresses(name);
    expect(performance.now() - t).toBeLessThan(2000);
    expect(found).toHaveLength(60_000);
  });
});
