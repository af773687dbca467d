/** .ci/postfix-alternate-dirs on a copy of main.cf: appends the test slots to what is listed, keeps the rest, a second run changes nothing. */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { describeWithPeers, run, tempDir } from '../helpers/peers.js';

const SCRIPT = fileURLToPath(new URL('../../.ci/postfix-alternate-dirs', import.meta.url));
const SLOTS = [0, 1, 2, 3, 4, 5, 6, 7].map((n) => `/tmp/mailpki-postfix/${n}/conf`);
const t = tempDir('mailpki-ci-postconf-');
afterAll(() => t.cleanup());

function confDir(name: string, mainCf: string | undefined): string {
  const dir = t.path(name);
  run('mkdir', ['-p', dir]);
  copyFileSync('/usr/share/postfix/master.cf.dist', `${dir}/master.cf`);
  if (mainCf !== undefined) writeFileSync(`${dir}/main.cf`, mainCf);
  return dir;
}
const listed = (dir: string) => run('postconf', ['-c', dir, '-h', 'alternate_config_directories']).trim();

describeWithPeers('.ci/postfix-alternate-dirs', ['postconf'], () => {
  it('appends the missing slots to an existing value, keeping its entries ($names unexpanded) and the other settings', () => {
    const dir = confDir('existing', 'myhostname = mx.example.test\nalternate_config_directories = /srv/other/conf, $config_directory/extra /tmp/mailpki-postfix/3/conf\n');
    run(SCRIPT, [dir]);
    expect(listed(dir)).toBe(`/srv/other/conf, $config_directory/extra /tmp/mailpki-postfix/3/conf ${SLOTS.filter((s) => !s.includes('/3/')).join(' ')}`);
    expect(run('postconf', ['-c', dir, '-h', 'myhostname']).trim()).toBe('mx.example.test');
    const once = readFileSync(`${dir}/main.cf`, 'utf8');
    run(SCRIPT, [dir]);
    expect(readFileSync(`${dir}/main.cf`, 'utf8')).toBe(once);
  });

  it('sets the slots where nothing is listed, and creates a missing main.cf', () => {
    const empty = confDir('empty', 'myhostname = mx.example.test\n');
    run(SCRIPT, [empty]);
    expect(listed(empty)).toBe(SLOTS.join(' '));
    const none = confDir('none', undefined);
    run(SCRIPT, [none]);
    expect(listed(none)).toBe(SLOTS.join(' '));
    const once = readFileSync(`${none}/main.cf`, 'utf8');
    run(SCRIPT, [none]);
    expect(readFileSync(`${none}/main.cf`, 'utf8')).toBe(once);
  });
});
