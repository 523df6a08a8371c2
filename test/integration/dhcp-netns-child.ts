// Runs lanboot's DHCP pieces inside a test network namespace (a Node process cannot switch
// namespaces, so the tests start this file with `ip netns exec NS node ...`). It talks to the
// test as JSON lines on stdout; pino logs go to stderr.
//
//   server '{"mode":"proxy"|"full", ...FullDhcpOptions minus db, "dbFile": "..."}'
//       prints {"event":"ready"}, then one line per server event; stops on SIGTERM
//   send   '{"packets":["hex",...],"port":67,"address":"255.255.255.255","bindPort":68,"waitMs":1500}'
//          (or '-' and the same JSON on stdin)
//       sends each packet, prints {"event":"reply","from":..,"hex":..} per datagram received, then exits
//   detect '{"interfaceName":"eth0","timeoutMs":2000}'
//       prints {"event":"detected","servers":[...]}
//   service '{"dhcp":"proxy"|"full","dhcpRange":{...},"dbFile":"...","httpPort":8080}'
//       runs the supervisor's DHCP service, calls its local API routes, prints
//       {"event":"api","path":..,"status":..,"body":..} for each, stops and exits
import dgram from 'node:dgram';
import { pino } from 'pino';
import { ProxyDhcpServer } from '../../src/dhcp/proxy-server.js';
import { FullDhcpServer, type FullDhcpOptions } from '../../src/dhcp/full-server.js';
import { detectDhcpServers } from '../../src/dhcp/detect.js';
import { createDhcpSocketFactory, type DhcpBindMode } from '../../src/dhcp/socket.js';
import { loadNative } from '../../src/native/index.js';
import { openDatabase, migrate } from '../../src/db/database.js';
import { Hono } from 'hono';
import { DhcpService } from '../../src/dhcp/service.js';
import type { DhcpRange, DhcpSettings } from '../../src/config/config.js';
import type { StartContext } from '../../src/supervisor/service.js';

function print(value: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** 'interface' binds through the addon (SO_BINDTODEVICE), as the supervisor does. */
function socketFactoryFor(mode: DhcpBindMode) {
  return mode === 'interface' ? createDhcpSocketFactory('interface', loadNative().openInterfaceUdpSocket) : createDhcpSocketFactory('any-address');
}

const logger = pino({ name: 'lanboot-test', level: process.env['LANBOOT_TEST_LOG_LEVEL'] ?? 'info' }, pino.destination({ dest: 2, sync: true }));

async function runServer(config: Record<string, unknown>): Promise<void> {
  const bindMode = (config['bindMode'] as DhcpBindMode | undefined) ?? 'any-address';
  const socketFactory = socketFactoryFor(bindMode);
  const interfaceName = (config['interfaceName'] as string | undefined) ?? 'eth0';
  let server: ProxyDhcpServer | FullDhcpServer;
  let closeDb = () => {};
  if (config['mode'] === 'full') {
    const db = openDatabase(config['dbFile'] as string);
    await migrate(db);
    closeDb = () => db.close();
    const full = new FullDhcpServer({ ...(config as unknown as Omit<FullDhcpOptions, 'db'>), interfaceName, db, socketFactory, logger });
    full.on('lease', (e) => print({ event: 'lease', ...e }));
    full.on('lease-released', (e) => print({ event: 'lease-released', ...e }));
    full.on('lease-declined', (e) => print({ event: 'lease-declined', ...e }));
    full.on('lease-expired', (e) => print({ event: 'lease-expired', ...e }));
    full.on('other-servers', (servers) => print({ event: 'other-servers', servers }));
    server = full;
  } else {
    server = new ProxyDhcpServer({
      interfaceName,
      socketFactory,
      logger,
      ...(config['boot'] ? { boot: config['boot'] as object } : {}),
    });
  }
  server.on('pxe-request', (e) => print({ event: 'pxe-request', ...e }));
  server.on('dropped', (e) => print({ event: 'dropped', ...e }));
  try {
    await server.start();
  } catch (error) {
    print({ event: 'start-failed', code: (error as { code?: string }).code, message: (error as Error).message });
    closeDb();
    process.exitCode = 3;
    return;
  }
  print({ event: 'ready' });
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await server.stop();
  closeDb();
}

async function runSend(config: { packets: string[]; port: number; address: string; bindPort: number; waitMs: number }): Promise<void> {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve) => socket.bind(config.bindPort, '0.0.0.0', () => resolve()));
  socket.setBroadcast(true);
  socket.on('message', (datagram, rinfo) => print({ event: 'reply', from: rinfo.address, fromPort: rinfo.port, hex: datagram.toString('hex') }));
  for (const hex of config.packets) {
    await new Promise<void>((resolve, reject) =>
      socket.send(Buffer.from(hex, 'hex'), config.port, config.address, (error) => (error ? reject(error) : resolve())),
    );
  }
  await new Promise((resolve) => setTimeout(resolve, config.waitMs));
  socket.close();
}

async function runDetect(config: { interfaceName?: string; timeoutMs?: number; bindMode?: DhcpBindMode }): Promise<void> {
  const servers = await detectDhcpServers({
    interfaceName: config.interfaceName ?? 'eth0',
    socketFactory: socketFactoryFor(config.bindMode ?? 'any-address'),
    timeoutMs: config.timeoutMs ?? 2000,
    logger,
  });
  print({ event: 'detected', servers });
}

async function runService(config: Record<string, unknown>): Promise<void> {
  const db = openDatabase(config['dbFile'] as string);
  await migrate(db);
  const localApi = new Hono();
  const mode = config['dhcp'] as 'proxy' | 'full' | 'off';
  const settings: DhcpSettings =
    mode === 'off' ? { mode } : mode === 'proxy' ? { mode, interface: 'eth0' } : { mode, interface: 'eth0', range: config['dhcpRange'] as DhcpRange | undefined, force: config['force'] === true };
  const service = new DhcpService(settings, socketFactoryFor('interface'), { detectTimeoutMs: 1500 });
  service.events.on('pxe-request', (e) => print({ event: 'pxe-request', ...e }));
  // The DHCP service reads only these fields of the supervisor's context.
  const ctx = {
    logger,
    db,
    api: localApi,
    httpPort: config['httpPort'] ?? 8080,
  } as unknown as StartContext;
  service.mount(ctx);
  try {
    await service.start(ctx);
    print({ event: 'ready' });
    for (const [method, path] of [['POST', '/api/v1/dhcp/detect'], ['GET', '/api/v1/dhcp'], ['GET', '/api/v1/dhcp/leases']] as const) {
      const response = await localApi.request(path, { method });
      print({ event: 'api', path, status: response.status, body: await response.json() });
    }
  } catch (error) {
    print({ event: 'start-failed', code: (error as { code?: string }).code, message: (error as Error).message });
  } finally {
    await service.stop();
    db.close();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const [command, json] = process.argv.slice(2);
// '-': the configuration comes on stdin (for large packet lists).
const config = JSON.parse(json === '-' ? await readStdin() : (json ?? '{}')) as Record<string, unknown>;
const run = command === 'server' ? runServer(config) : command === 'send' ? runSend(config as never) : command === 'detect' ? runDetect(config) : command === 'service' ? runService(config) : Promise.reject(new Error(`unknown command ${command}`));
run.catch((error: Error) => {
  print({ event: 'error', message: error.message, code: (error as { code?: string }).code });
  process.exitCode = 2;
});
