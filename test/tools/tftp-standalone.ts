// Runs lanboot's TFTP server alone in its own process, for bench/tftp.ts (so the benchmark's
// clients never share an event loop with the server they measure) and for trying it by hand:
//   node dist/test/tools/tftp-standalone.js --root DIR [--host 127.0.0.1] [--port 0] [--max-window 64]
// (`lanboot serve` runs the same server inside the supervisor; this is not the product's entry.)
// Prints one JSON line {"port": N} once listening; stops cleanly on SIGTERM/SIGINT.
import { parseArgs } from 'node:util';
import { TftpServer } from '../../src/tftp/server.js';

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'max-block': { type: 'string', default: '65464' },
    'max-window': { type: 'string', default: '64' },
    'max-transfers': { type: 'string', default: '512' },
  },
});
if (!values.root) {
  process.stderr.write('tftp standalone: --root DIR is required\n');
  process.exit(2);
}
const server = new TftpServer({
  root: values.root,
  host: values.host,
  port: Number(values.port),
  maxBlockSize: Number(values['max-block']),
  maxWindowSize: Number(values['max-window']),
  maxTransfers: Number(values['max-transfers']),
  // Benchmark clients all come from 127.0.0.1.
  maxTransfersPerClient: Number(values['max-transfers']),
});
await server.start();
process.stdout.write(`${JSON.stringify({ port: server.address().port, pid: process.pid })}\n`);
const shutdown = (): void => {
  void server.stop().then(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
