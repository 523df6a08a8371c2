// A "slowloris" login: a connection that sends a valid Login Request one byte every 3 s, so
// that no single read ever waits long, must still be closed once the login phase has lasted
// longer than the engine's login timeout. Otherwise a handful of such connections per
// second hold every connection slot (EngineOptions.maxConnections) and every PC on the LAN
// is locked out of logging in, indefinitely.
//
// The engine's login timeout is 30 s (loginTimeoutMs in native/src/iscsi/engine.h) and is
// not settable from JavaScript, so this case takes about 30 s when it passes and 45 s when
// it fails. It is kept apart from iscsi-malformed.test.ts for that reason.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, startEngineHost, type TargetHost } from '../helpers/engine-host.js';
import { IscsiConnection, IscsiSession, buildLoginRequest, encodePdu, encodeTextKeys, expectGood } from '../helpers/iscsi-wire.js';

const TARGET_IQN = 'iqn.2026-11.test.lanboot:slowloris-disk';
const INITIATOR_IQN = 'iqn.2026-11.test.lanboot:slowloris';
/** The engine's login timeout plus slack for a loaded 2-core machine. */
const LOGIN_DEADLINE_MS = 30_000 + 15_000;
const BYTE_INTERVAL_MS = 3_000;

describe('slow login (slowloris)', { timeout: 120_000 }, () => {
  let host: TargetHost;
  let cleanup: () => void = () => undefined;

  before(async () => {
    const tmp = makeTempDir('lanboot-slowloris-');
    cleanup = tmp.cleanup;
    const golden = path.join(tmp.dir, 'golden.img');
    fs.writeFileSync(golden, Buffer.alloc(1 << 20, 0x11));
    host = await startEngineHost({
      targets: [{ iqn: TARGET_IQN, goldenPath: golden, deltaDir: path.join(tmp.dir, 'delta'), initiators: [INITIATOR_IQN], serial: 'SLOWLORIS01', naaHex: '5001405abcdef0a1' }],
    });
  });

  after(async () => {
    await host?.stop();
    cleanup();
  });

  it('closes a login that trickles in one byte every 3 s once the login timeout has passed', async () => {
    const baselineFds = host.fdCount();
    const login = encodePdu({
      bhs: buildLoginRequest({ transit: true, csg: 1, nsg: 3, isid: Buffer.from([0x80, 5, 4, 3, 2, 1]), tsih: 0, itt: 1, cid: 0, cmdSn: 1, expStatSn: 0 }),
      data: encodeTextKeys([
        ['InitiatorName', INITIATOR_IQN],
        ['SessionType', 'Normal'],
        ['TargetName', TARGET_IQN],
      ]),
    });
    const slow = await IscsiConnection.open(host.host, host.port);
    const started = Date.now();
    try {
      let sent = 0;
      while (!slow.isClosed && Date.now() - started < LOGIN_DEADLINE_MS && sent < login.length - 1) {
        await slow.sendRaw(login.subarray(sent, sent + 1)).catch(() => undefined);
        sent++;
        await Promise.race([slow.closed, new Promise((r) => setTimeout(r, BYTE_INTERVAL_MS))]);
      }
      const closedAfterMs = Date.now() - started;
      assert.ok(
        slow.isClosed,
        `the target still holds a login that has trickled for ${closedAfterMs} ms (${sent} bytes): the login timeout must bound the whole login phase, not each read`,
      );
    } finally {
      slow.destroy();
    }
    // A well-behaved login still works, and the slow connection's descriptor is gone.
    const s = await IscsiSession.open({ host: host.host, port: host.port, initiatorIqn: INITIATOR_IQN, targetIqn: TARGET_IQN, timeoutMs: 5000 });
    try {
      await s.clearUnitAttention();
      expectGood(await s.read10(0, 1), 'read after the slow login');
    } finally {
      s.destroy();
    }
    const deadline = Date.now() + 5000;
    while (host.fdCount() > baselineFds && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(host.fdCount() <= baselineFds, `descriptor leak: ${host.fdCount()} open, baseline ${baselineFds}`);
    assert.ok(host.isAlive());
  });
});
