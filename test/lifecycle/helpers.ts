/** Shared set-up for the lifecycle tests: a fake clock, a LocalCA that counts, a store, a manager. */
import { LocalCA, MemoryCaStorage, type CertificateAuthority, type IssueRequest } from '../../src/ca/index.js';
import { MailPkiError } from '../../src/errors.js';
import { LifecycleManager, type LifecycleEvent, type LifecycleManagerOptions } from '../../src/lifecycle/index.js';
import { MemoryStore, passphraseKeyProtector, type Store } from '../../src/store/index.js';

export const T0 = new Date('2026-01-05T00:00:00Z');
export const DAY = 86_400_000;
export const PASSPHRASE = 'correct horse battery staple 42';

/**
 * The store every lifecycle test runs on: the in-memory store, or with MAILPKI_TEST_STORE=sqlite
 * a fresh SQLite file per store (`MAILPKI_TEST_STORE=sqlite npx vitest run test/lifecycle`).
 */
export async function createTestStore(): Promise<Store> {
  if (process.env.MAILPKI_TEST_STORE !== 'sqlite') return new MemoryStore();
  const [{ mkdtempSync }, { tmpdir }, { join }, { openSqliteStore }] = await Promise.all([
    import('node:fs'),
    import('node:os'),
    import('node:path'),
    import('../../src/node/sqlite-store.js'),
  ]);
  return openSqliteStore(join(mkdtempSync(join(tmpdir(), 'mailpki-lifecycle-')), 'test.db'));
}

export interface FakeClock {
  (): Date;
  set(d: Date): void;
  advanceDays(n: number): Date;
}

export function fakeClock(start: Date = T0): FakeClock {
  let t = start.getTime();
  const clock = (() => new Date(t)) as FakeClock;
  clock.set = (d) => {
    t = d.getTime();
  };
  clock.advanceDays = (n) => {
    t += n * DAY;
    return new Date(t);
  };
  return clock;
}

export const at = (days: number): Date => new Date(T0.getTime() + days * DAY);

/** A CA wrapper that counts calls, records idempotency keys and fails on demand. */
export interface CountingCa extends CertificateAuthority {
  local: LocalCA;
  issueCalls: number;
  idempotencyKeys: string[];
  /** The next issue calls throw this (once per entry). */
  failIssue: MailPkiError[];
  /** Called right after the CA answered an issue request. */
  afterIssue?: () => void;
  supportsSuspension: boolean;
}

export async function countingCa(clock: FakeClock): Promise<CountingCa> {
  const local = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com', 'example.org', '.example.org'] }, { clock });
  const ca: CountingCa = {
    local,
    issueCalls: 0,
    idempotencyKeys: [],
    failIssue: [],
    supportsSuspension: true,
    async info() {
      return { ...(await local.info()), supportsSuspension: ca.supportsSuspension };
    },
    async issue(req: IssueRequest) {
      ca.issueCalls++;
      if (req.idempotencyKey) ca.idempotencyKeys.push(req.idempotencyKey);
      const fail = ca.failIssue.shift();
      if (fail) throw fail;
      const r = await local.issue(req);
      ca.afterIssue?.();
      return r;
    },
    revoke: (req) => local.revoke(req),
    getChain: () => local.getChain(),
  };
  return ca;
}

export const keyProtector = () => passphraseKeyProtector(PASSPHRASE, { iterations: 1000 });

export interface Harness {
  clock: FakeClock;
  ca: CountingCa;
  store: Store;
  manager: LifecycleManager;
  events: LifecycleEvent[];
  make(extra?: Partial<LifecycleManagerOptions>): LifecycleManager;
}

export async function harness(options: Partial<LifecycleManagerOptions> = {}, store?: Store): Promise<Harness> {
  const clock = fakeClock();
  const ca = await countingCa(clock);
  const s = store ?? (await createTestStore());
  const protector = keyProtector();
  const make = (extra: Partial<LifecycleManagerOptions> = {}) =>
    new LifecycleManager({
      ca,
      store: s,
      clock,
      keyProtector: protector,
      policy: { allowedDomainsByOwner: { treasury: ['example.com'], hr: ['example.com', '.example.org'] } },
      ...options,
      ...extra,
    });
  const manager = make();
  const events: LifecycleEvent[] = [];
  manager.on('*', (e) => {
    events.push(e);
  });
  return { clock, ca, store: s, manager, events, make };
}

/** "type identity-name" per event, for exact comparisons. */
export const brief = (events: readonly LifecycleEvent[]): string[] => events.map((e) => `${e.type} ${e.identity.name}`);

export async function auditActions(store: Store): Promise<string[]> {
  return (await store.listAudit()).map((r) => r.action);
}
