// The web UI over a real (namespaced) LAN: lanboot serves proxyDHCP on eth0 next to a home
// router (dnsmasq) and a second PXE server (another lanboot proxy: two of them make PCs boot
// the wrong thing). A phone in a fourth namespace logs in over the LAN and sees the other
// servers on the Network page and a warning on the dashboard.
//
//   router 10.67.0.1 (dnsmasq)  box 10.67.0.2 (lanboot serve)  rival 10.67.0.3 (PXE proxy)
//   phone 10.67.0.4 (this file, run as a child with LANBOOT_WEB_PHONE=1)
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { WebClient } from '../helpers/browser.js';
import { createTestNetwork } from '../helpers/netns.js';
import { lanbootMain, runLanbootCli } from '../helpers/supervisor.js';
import { repoRoot, requireTools, waitFor } from '../helpers/tools.js';
import { startDnsmasq, startLanbootDhcp } from './dhcp-harness.js';

const BOX = '10.67.0.2';
const RIVAL = '10.67.0.3';
const ROUTER = '10.67.0.1';

if (process.env.LANBOOT_WEB_PHONE === '1') {
  // The phone: first run over the LAN, then the two pages.
  const web = new WebClient(process.env.LANBOOT_WEB_BASE!);
  await web.setup('phone on the lan');
  const home = await web.get('/');
  const network = await web.get('/network');
  process.stdout.write(JSON.stringify({ home: home.text, network: network.text, status: [home.status, network.status] }));
} else {
  test('over the LAN: the phone logs in and sees the other DHCP servers and the PXE warning', { timeout: 120_000 }, async (t) => {
    requireTools('ip', 'dnsmasq');
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'lanboot-web-net-'));
    t.after(() => fsp.rm(dir, { recursive: true, force: true }));
    const net = await createTestNetwork(t, {
      hosts: [
        { name: 'router', address: `${ROUTER}/24`, defaultRoute: true },
        { name: 'box', address: `${BOX}/24` },
        { name: 'rival', address: `${RIVAL}/24` },
        { name: 'phone', address: '10.67.0.4/24', defaultRoute: true },
      ],
    });
    await startDnsmasq(net, 'router', dir, '10.67.0.100,10.67.0.150');
    const rival = await startLanbootDhcp(net, 'rival', { mode: 'proxy', interfaceName: 'eth0', bindMode: 'interface', boot: { httpPort: 8080 } });
    assert.equal(rival.events[0]?.event, 'ready', rival.stderr());

    const dataDir = path.join(dir, 'data');
    const child = net.spawn('box', process.execPath, [lanbootMain, 'serve', '--data', dataDir, '--iscsi-port', '0', '--http-port', '0', '--listen', '0.0.0.0', '--interface', 'eth0', '--dhcp', 'proxy', '--mdns', 'off'], {
      cwd: repoRoot,
      env: { ...process.env, NOTIFY_SOCKET: '' },
    });
    let output = '';
    child.stdout?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-20_000)));
    child.stderr?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-20_000)));
    // proxyDHCP looks for other servers right after it starts.
    const status = await waitFor(
      'lanboot detecting the other DHCP servers',
      async () => {
        if (child.exitCode !== null) throw new Error(`lanboot exited: ${output.slice(-3000)}`);
        const r = await runLanbootCli(dataDir, ['status', '--json'], 10_000);
        if (r.code !== 0) return undefined;
        const s = JSON.parse(r.stdout) as { http: { port: number }; services: { dhcp?: { detection?: { servers: unknown[] } | null } } };
        return s.services.dhcp?.detection ? s : undefined;
      },
      30_000,
      250,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${output.slice(-3000)}`);
    });

    const phone = await net.run('phone', process.execPath, [fileURLToPath(import.meta.url)], {
      timeoutMs: 30_000,
      env: { ...process.env, LANBOOT_WEB_PHONE: '1', LANBOOT_WEB_BASE: `http://${BOX}:${status.http.port}` },
    });
    assert.equal(phone.code, 0, phone.stderr);
    const pages = JSON.parse(phone.stdout) as { home: string; network: string; status: number[] };
    assert.deepEqual(pages.status, [200, 200]);
    assert.match(pages.home, new RegExp(`class="notice warn"[^>]*>Another DHCP server \\(${RIVAL.replaceAll('.', '\\.')}\\) hands out network-boot information \\(undionly\\.kpxe\\)`));
    assert.ok(!pages.home.includes(`Another DHCP server (${ROUTER})`), 'the router (addresses only) is no problem in proxy mode');
    assert.match(pages.network, /mode <strong>proxy<\/strong> on <span class="mono">eth0<\/span>/);
    assert.match(pages.network, new RegExp(`${ROUTER.replaceAll('.', '\\.')}</span> <span class="muted">offers addresses \\(10\\.67\\.0\\.1\\d\\d\\)`));
    assert.match(pages.network, new RegExp(`${RIVAL.replaceAll('.', '\\.')}</span> <span class="muted">proxy only · hands out boot information \\(undionly\\.kpxe\\)`));
  });
}
