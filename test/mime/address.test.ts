import { describe, expect, it } from 'vitest';
import { findAddressesInDisplayNames, normalizeAddress, parseAddressList } from '../../src/mime/index.js';

type Row = [label: string, input: string, mailboxes: [name: string | undefined, address: string][], errors: number];

const TABLE: Row[] = [
  ['bare addr-spec', 'alice@example.org', [[undefined, 'alice@example.org']], 0],
  ['angle-addr only', '<alice@example.org>', [[undefined, 'alice@example.org']], 0],
  ['atom display name', 'Alice Liddell <alice@example.org>', [['Alice Liddell', 'alice@example.org']], 0],
  ['quoted display name', '"Liddell, Alice" <alice@example.org>', [['Liddell, Alice', 'alice@example.org']], 0],
  ['quoted name with escapes', '"A \\"B\\" C" <a@example.org>', [['A "B" C', 'a@example.org']], 0],
  ['encoded-word name', '=?UTF-8?Q?J=C3=B6rg?= <j@example.de>', [['Jörg', 'j@example.de']], 0],
  ['encoded words split', '=?UTF-8?B?SsO2?= =?UTF-8?B?cmc=?= <j@example.de>', [['Jörg', 'j@example.de']], 0],
  ['obsolete phrase with dot', 'John Q. Public <john@example.com>', [['John Q. Public', 'john@example.com']], 0],
  ['comment as name (old form)', 'john@example.com (John Doe)', [['John Doe', 'john@example.com']], 0],
  ['comments around', '(c1) Alice (c2) <alice@example.org> (c3)', [['Alice', 'alice@example.org']], 0],
  ['comment inside addr', 'alice(nested (comment))@example.org', [['nested (comment)', 'alice@example.org']], 0],
  ['two mailboxes', 'a@example.org, "B" <b@example.org>', [[undefined, 'a@example.org'], ['B', 'b@example.org']], 0],
  ['empty list elements', ', a@example.org,,b@example.org,', [[undefined, 'a@example.org'], [undefined, 'b@example.org']], 0],
  ['group', 'Team: a@example.org, B <b@example.org>;', [[undefined, 'a@example.org'], ['B', 'b@example.org']], 0],
  ['empty group', 'undisclosed-recipients:;', [], 0],
  ['group then mailbox', 'G: a@x.org; c@y.org', [[undefined, 'a@x.org'], [undefined, 'c@y.org']], 0],
  ['unterminated group', 'G: a@x.org', [[undefined, 'a@x.org']], 1],
  ['obsolete route', '<@relay.example,@r2.example:user@example.org>', [[undefined, 'user@example.org']], 0],
  ['quoted local part kept quoted', '"john doe"@example.org', [[undefined, '"john doe"@example.org']], 0],
  ['needlessly quoted local part', '"john"@example.org', [[undefined, 'john@example.org']], 0],
  ['quoted local part with @', '"ceo@bank.example"@evil.example', [[undefined, '"ceo@bank.example"@evil.example']], 0],
  ['domain literal', 'x@[192.0.2.1]', [[undefined, 'x@[192.0.2.1]']], 0],
  ['empty From', '', [], 0],
  ['name only', 'John Doe', [], 1],
  ['null return path', '<>', [], 1],
  ['missing closing angle', 'A <a@example.org', [['A', 'a@example.org']], 1],
  ['text after angle-addr', 'A <a@example.org> trailing', [['A', 'a@example.org']], 1],
  ['no domain', 'alice@', [], 1],
  ['unclosed quote', '"Alice <alice@example.org>', [], 2],
  ['display name holding an address', '"ceo@bank.example" <attacker@evil.example>', [['ceo@bank.example', 'attacker@evil.example']], 0],
  ['unquoted address as display name', 'ceo@bank.example <attacker@evil.example>', [['ceo@bank.example', 'attacker@evil.example']], 1],
  ['two words in a local part', 'a b@example.org', [[undefined, 'ab@example.org']], 1],
  ['quoted address then an address (Composition Kills)', '"<a@evil.example>" payments@example.com', [[undefined, '"<a@evil.example>payments"@example.com']], 1],
  ['space inside a domain', 'x@exa mple.com', [[undefined, 'x@example.com']], 1],
  ['domain ending in a dot', 'x@example.com.', [[undefined, 'x@example.com.']], 1],
  ['backslash before a comma', 'payments@example.com\\, <a@evil.example>', [[undefined, 'payments@example.com\\'], [undefined, 'a@evil.example']], 1],
  ['NUL in a display name', 'a@b\0<c@example.org>', [['a@b\0', 'c@example.org']], 2],
  ['UTF-8 display name (RFC 6532)', 'Zoë <zoe@example.org>', [['Zoë', 'zoe@example.org']], 0],
];

describe('parseAddressList', () => {
  it.each(TABLE)('%s: %s', (_label, input, mailboxes, errors) => {
    const r = parseAddressList(input);
    expect(r.mailboxes.map((m) => [m.name, m.address])).toEqual(mailboxes);
    expect(r.errors).toHaveLength(errors);
  });

  it('lists the comments that are not a display name: the one of the old form `a@b (Name)` is the name, not also a comment', () => {
    expect(parseAddressList('payments@example.com (Payments Team)').comments).toEqual([]);
    expect(parseAddressList('payments@example.com (=?utf-8?q?Payments_Team?=)').mailboxes[0]!.name).toBe('Payments Team');
    expect(parseAddressList('(c1) Alice (c2) <alice@example.org> (=?utf-8?q?NEW_IBAN?=)').comments).toEqual(['c1', 'c2', 'NEW IBAN']);
    expect(parseAddressList('G: a@x.org (A), (between) B <b@x.org> (c (nested));').comments).toEqual(['between', 'c (nested)']);
    expect(parseAddressList('"(not a comment)" <a@x.org>').comments).toEqual([]);
  });

  it('reports groups with their members, and members know their group', () => {
    const r = parseAddressList('Board: a@x.org, b@x.org;, c@y.org');
    expect(r.groups).toHaveLength(1);
    expect(r.groups[0]!.name).toBe('Board');
    expect(r.groups[0]!.mailboxes.map((m) => m.address)).toEqual(['a@x.org', 'b@x.org']);
    expect(r.mailboxes.map((m) => m.group)).toEqual(['Board', 'Board', undefined]);
  });

  it('splits local part and domain', () => {
    const [m] = parseAddressList('Alice <Alice.L@Example.ORG>').mailboxes;
    expect(m!.local).toBe('Alice.L');
    expect(m!.domain).toBe('Example.ORG');
  });
});

describe('findAddressesInDisplayNames', () => {
  it.each([
    ['"ceo@bank.example" <attacker@evil.example>', ['ceo@bank.example'], true],
    ['ceo@bank.example <attacker@evil.example>', ['ceo@bank.example'], true],
    ['"CEO (ceo@bank.example)" <attacker@evil.example>', ['ceo@bank.example'], true],
    ['=?UTF-8?Q?ceo=40bank.example?= <attacker@evil.example>', ['ceo@bank.example'], true],
    ['"ceo\uff20bank.example" <attacker@evil.example>', ['ceo@bank.example'], true],
    ['"bob@example.org" <bob@EXAMPLE.org>', ['bob@example.org'], false],
    ['attacker@evil.example (ceo@bank.example)', ['ceo@bank.example'], true],
  ])('%s', (input, addresses, mismatch) => {
    const found = findAddressesInDisplayNames(parseAddressList(input));
    expect(found).toHaveLength(1);
    expect(found[0]!.addresses).toEqual(addresses);
    expect(found[0]!.mismatch).toBe(mismatch);
  });

  it('finds nothing in ordinary names', () => {
    expect(findAddressesInDisplayNames(parseAddressList('Alice <a@x.org>, "At @ home" <b@x.org>, c@x.org'))).toEqual([]);
  });
});

describe('normalizeAddress', () => {
  it('lower-cases the domain only and leaves IDNA labels alone', () => {
    expect(normalizeAddress(' John.Doe@Example.COM ')).toBe('John.Doe@example.com');
    expect(normalizeAddress('x@XN--BCHER-KVA.example')).toBe('x@xn--bcher-kva.example');
    expect(normalizeAddress('"A@B"@Example.org')).toBe('"A@B"@example.org');
    expect(normalizeAddress('no-at')).toBe('no-at');
  });
});
