/**
 * Property tests explore new random inputs on every local run; CI uses one fixed seed so that a
 * run is reproducible (a failure's seed and path are printed by fast-check either way).
 */
import fc from 'fast-check';

if (process.env.CI) fc.configureGlobal({ seed: Number(process.env.MAILPKI_FC_SEED ?? 20261122) });
