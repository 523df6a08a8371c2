#!/usr/bin/env node
// `lanboot`: the command-line interface. `serve` runs the supervisor; every other command
// drives a running supervisor through its local API (DATA/lanboot.sock).
import { processEnvironment } from '../config/config.js';
import { runCli } from './commands.js';

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: processEnvironment(),
  cwd: process.cwd(),
});
// process.exit, not exitCode: after a forced stop (second signal, deadline) open handles
// must not keep the process alive.
process.exit(code);
