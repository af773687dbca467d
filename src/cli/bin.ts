/** Process entry of the `mailpki` command. */
import { runCli } from './main.js';

const code = await runCli(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stdoutBytes: (b) => process.stdout.write(b),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
  stdin: () => process.stdin,
});
process.exitCode = code;
