// The read-transfer state machine, driven packet by packet with no sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePacket, Opcode } from '../../src/tftp/codec.js';
import { ReadTransfer, negotiateReadOptions, type TransferAction, type BlockToSend } from '../../src/tftp/transfer.js';

const limits = { maxBlockSize: 1468, maxWindowSize: 64, defaultTimeoutMs: 1000 };

function machine(fileSize: number, requested: Parameters<typeof negotiateReadOptions>[0], maxRetries = 3): ReadTransfer {
  return new ReadTransfer({ fileSize, negotiated: negotiateReadOptions(requested, fileSize, limits), maxRetries });
}

function blocksOf(actions: TransferAction[]): BlockToSend[] {
  const send = actions.find((action) => action.type === 'sendBlocks');
  assert.ok(send && send.type === 'sendBlocks', `expected sendBlocks in ${JSON.stringify(actions.map((a) => a.type))}`);
  return send.blocks;
}
const wire = (actions: TransferAction[]): number[] => blocksOf(actions).map((block) => block.block);

test('negotiation: only requested options are acknowledged, each clamped to the server limits', () => {
  assert.equal(negotiateReadOptions({}, 100, limits).oack, null);
  const all = negotiateReadOptions({ blksize: 65464, tsize: 0, timeoutSeconds: 3, windowsize: 1000 }, 850528, limits);
  assert.deepEqual(all.oack, [
    ['blksize', '1468'],
    ['tsize', '850528'],
    ['timeout', '3'],
    ['windowsize', '64'],
  ]);
  assert.equal(all.blockSize, 1468);
  assert.equal(all.windowSize, 64);
  assert.equal(all.timeoutMs, 3000);
  // An empty file gets no tsize in the OACK (curl refuses "tsize 0"); with nothing else asked,
  // no OACK at all.
  assert.equal(negotiateReadOptions({ tsize: 0 }, 0, limits).oack, null);
  assert.deepEqual(negotiateReadOptions({ tsize: 0, blksize: 1024 }, 0, limits).oack, [['blksize', '1024']]);
  const small = negotiateReadOptions({ blksize: 8 }, 100, limits);
  assert.deepEqual(small.oack, [['blksize', '8']]);
  assert.equal(small.windowSize, 1);
  assert.equal(small.timeoutMs, 1000);
});

test('no options: lock-step DATA/ACK, short last block ends the transfer (RFC 1350)', () => {
  const transfer = machine(1000, {});
  const first = transfer.start();
  assert.deepEqual(blocksOf(first), [{ block: 1, index: 1, offset: 0, length: 512 }]);
  assert.deepEqual(first[1], { type: 'armTimer', ms: 1000 });
  assert.deepEqual(blocksOf(transfer.onAck(1)), [{ block: 2, index: 2, offset: 512, length: 488 }]);
  assert.deepEqual(transfer.onAck(2), [{ type: 'finish', result: { ok: true, bytes: 1000 } }]);
  assert.equal(transfer.state, 'finished');
  assert.deepEqual(transfer.onAck(2), []);
  assert.deepEqual(transfer.onTimeout(), []);
});

test('a file that is a multiple of blksize ends with an empty block; an empty file is one empty block', () => {
  const transfer = machine(1024, {});
  transfer.start();
  transfer.onAck(1);
  assert.deepEqual(blocksOf(transfer.onAck(2)), [{ block: 3, index: 3, offset: 1024, length: 0 }]);
  assert.equal(transfer.onAck(3)[0]?.type, 'finish');
  const empty = machine(0, {});
  assert.deepEqual(blocksOf(empty.start()), [{ block: 1, index: 1, offset: 0, length: 0 }]);
  assert.deepEqual(empty.onAck(1), [{ type: 'finish', result: { ok: true, bytes: 0 } }]);
});

test('options: OACK first, DATA only after ACK 0 (RFC 2347)', () => {
  const transfer = machine(5000, { blksize: 1024, tsize: 0, windowsize: 2 });
  const first = transfer.start();
  assert.equal(first[0]?.type, 'send');
  if (first[0]?.type !== 'send') return;
  assert.deepEqual(parsePacket(first[0].packet), {
    opcode: Opcode.OACK,
    options: [
      ['blksize', '1024'],
      ['tsize', '5000'],
      ['windowsize', '2'],
    ],
  });
  assert.equal(transfer.state, 'awaitingOackAck');
  assert.deepEqual(transfer.onAck(1), [], 'an ACK other than 0 does not answer the OACK');
  // Timeout before ACK 0: the OACK goes again.
  const again = transfer.onTimeout();
  assert.equal(again[0]?.type === 'send' && parsePacket(again[0].packet).opcode, Opcode.OACK);
  assert.deepEqual(wire(transfer.onAck(0)), [1, 2]);
  assert.deepEqual(wire(transfer.onAck(2)), [3, 4]);
  assert.deepEqual(blocksOf(transfer.onAck(4)), [{ block: 5, index: 5, offset: 4096, length: 904 }]);
  assert.deepEqual(transfer.onAck(5), [{ type: 'finish', result: { ok: true, bytes: 5000 } }]);
});

test('windows: partial ACK restarts after the acknowledged block; stale and future ACKs are ignored (RFC 7440)', () => {
  const transfer = machine(10 * 512 + 100, { windowsize: 4 }); // blocks 1..11
  transfer.start();
  assert.deepEqual(wire(transfer.onAck(0)), [1, 2, 3, 4]);
  assert.deepEqual(wire(transfer.onAck(4)), [5, 6, 7, 8]);
  // Block 7 got lost: the client acknowledges 6, the next window starts at 7.
  assert.deepEqual(wire(transfer.onAck(6)), [7, 8, 9, 10]);
  assert.deepEqual(transfer.onAck(6), [], 'the ACK before the window is stale');
  assert.deepEqual(transfer.onAck(4), [], 'an older ACK is stale');
  assert.deepEqual(transfer.onAck(11), [], 'a block not yet sent cannot be acknowledged');
  assert.deepEqual(transfer.onAck(30000), []);
  assert.deepEqual(wire(transfer.onAck(10)), [11]);
  assert.equal(transfer.onAck(11)[0]?.type, 'finish');
});

test('lost ACK: timeout retransmits the same window; duplicate ACKs never do (RFC 1123 4.2.3.1)', () => {
  const transfer = machine(3000, {}, 2);
  transfer.start();
  assert.deepEqual(wire(transfer.onAck(1)), [2]);
  // The ACK for block 2 was lost: after the timeout block 2 goes again, the timer is re-armed.
  const retransmit = transfer.onTimeout();
  assert.deepEqual(wire(retransmit), [2]);
  assert.deepEqual(retransmit[1], { type: 'armTimer', ms: 1000 });
  // The client answers the retransmission and also repeats its older ACK: no second send.
  assert.deepEqual(transfer.onAck(1), []);
  assert.deepEqual(wire(transfer.onAck(2)), [3]);
  // Progress resets the retry budget: two more timeouts are allowed, the third gives up.
  assert.deepEqual(wire(transfer.onTimeout()), [3]);
  assert.deepEqual(wire(transfer.onTimeout()), [3]);
  const giveUp = transfer.onTimeout();
  assert.equal(giveUp.length, 1);
  const finish = giveUp[0];
  assert.ok(finish?.type === 'finish' && !finish.result.ok);
  assert.equal(finish.result.code, 'TFTP_TIMEOUT');
  assert.equal(finish.result.bytes, 1024);
  assert.equal(transfer.state, 'finished');
});

test('OACK never acknowledged: retransmitted up to the limit, then given up', () => {
  const transfer = machine(100, { tsize: 0 }, 1);
  transfer.start();
  assert.equal(transfer.onTimeout()[0]?.type, 'send');
  const giveUp = transfer.onTimeout()[0];
  assert.ok(giveUp?.type === 'finish' && !giveUp.result.ok && giveUp.result.code === 'TFTP_TIMEOUT');
});

test('client ERROR ends the transfer; abort sends ERROR and ends it', () => {
  const transfer = machine(3000, {});
  transfer.start();
  transfer.onAck(1);
  const ended = transfer.onError(8, 'option refused');
  const finish = ended[0];
  assert.ok(finish?.type === 'finish' && !finish.result.ok);
  assert.equal(finish.result.code, 'TFTP_CLIENT_ERROR');
  assert.match(finish.result.message, /ERROR 8: option refused/);
  assert.deepEqual(transfer.onAck(2), []);

  // An ERROR answering the OACK declines the options (UEFI's tsize probe ends this way).
  const probe = machine(3000, { tsize: 0 });
  probe.start();
  const declined = probe.onError(8, 'tsize probe done')[0];
  assert.ok(declined?.type === 'finish' && !declined.result.ok && declined.result.code === 'TFTP_CLIENT_DECLINED');

  const aborted = machine(3000, {});
  aborted.start();
  const actions = aborted.abort(0, 'server shutting down');
  assert.equal(actions[0]?.type === 'send' && parsePacket(actions[0].packet).opcode, Opcode.ERROR);
  assert.equal(actions[1]?.type === 'finish' && !actions[1].result.ok && actions[1].result.code, 'TFTP_ABORTED');
  assert.deepEqual(aborted.abort(0, 'again'), []);
});

function driveToEnd(transfer: ReadTransfer, lossEvery: number): { wireSeen: number[]; bytes: number; offsetsOk: boolean } {
  const wireSeen: number[] = [];
  let bytes = 0;
  let offsetsOk = true;
  let nextIndex = 1;
  let actions = transfer.start();
  if (transfer.state === 'awaitingOackAck') actions = transfer.onAck(0);
  let round = 0;
  for (;;) {
    const finish = actions.find((action) => action.type === 'finish');
    if (finish) {
      assert.ok(finish.type === 'finish' && finish.result.ok);
      return { wireSeen, bytes, offsetsOk };
    }
    const blocks = blocksOf(actions);
    let lastInOrder = nextIndex - 1;
    for (const block of blocks) {
      round++;
      // Drop some blocks to exercise partial-window ACKs across the 16-bit wrap.
      if (lossEvery > 0 && round % lossEvery === 0) break;
      if (block.index !== nextIndex) continue;
      if (block.offset !== (block.index - 1) * transfer.blockSize || block.block !== (block.index & 0xffff)) offsetsOk = false;
      wireSeen.push(block.block);
      bytes += block.length;
      nextIndex++;
      lastInOrder = block.index;
    }
    actions = lastInOrder === nextIndex - 1 && lastInOrder >= blocks[0]!.index ? transfer.onAck(lastInOrder & 0xffff) : transfer.onTimeout();
  }
}

test('block numbers roll over past 65535 on a >32 MiB file at blksize 512', () => {
  const fileSize = 33 * 1024 * 1024 + 123; // 67585 blocks: wraps once
  const transfer = machine(fileSize, {}, 3);
  assert.equal(transfer.lastBlockIndex, 67585);
  const { wireSeen, bytes, offsetsOk } = driveToEnd(transfer, 0);
  assert.equal(bytes, fileSize);
  assert.ok(offsetsOk);
  assert.equal(wireSeen.length, 67585);
  assert.deepEqual(wireSeen.slice(65533, 65538), [65534, 65535, 0, 1, 2]);
  assert.equal(wireSeen.at(-1), 67585 - 65536);
});

test('rollover with windows and losses: ACKs that straddle the wrap map to the right blocks', () => {
  const fileSize = 33 * 1024 * 1024; // a multiple of 512: ends with an empty block 67585
  const transfer = machine(fileSize, { blksize: 512, windowsize: 7 }, 3);
  const { wireSeen, bytes, offsetsOk } = driveToEnd(transfer, 97);
  assert.equal(bytes, fileSize);
  assert.ok(offsetsOk);
  assert.equal(wireSeen.length, 67585);
  assert.equal(wireSeen.at(-1), 67585 & 0xffff);
});
