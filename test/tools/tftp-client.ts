// A small TFTP read client on top of the codec: a test tool, not part of the product. Used by
// tests (as the windowsize peer next to atftp), by bench/tftp.ts and by bench/pxe-storm.ts (each
// simulated PC reading from the address it leased). Supports blksize, tsize, timeout and windowsize (RFC 7440
// receiver side: ACK at the end of each window, and on a gap ACK the last in-order block).
import dgram from 'node:dgram';
import net from 'node:net';
import { Opcode, TftpParseError, parsePacket, serializeAck, serializeError, serializeRequest, type TftpOptionList } from '../../src/tftp/codec.js';

export interface TftpGetOptions {
  host: string;
  port: number;
  /**
   * Local address to bind the client socket to (default: any, the kernel picks the source).
   * lanboot limits transfers per client address, so many simulated PCs on one host each read
   * from their own address.
   */
  localAddress?: string;
  filename: string;
  /** Options to request, e.g. [['blksize','1468'],['windowsize','16']]. */
  options?: TftpOptionList;
  /** Per-packet wait before the client re-sends its last ACK / request. Default 1000 ms. */
  timeoutMs?: number;
  /** Attempts per packet before giving up. Default 5. */
  retries?: number;
  /** Test hook: return true to act as if this DATA packet (16-bit block, nth arrival) was lost. */
  dropData?: (block: number, arrival: number) => boolean;
  /** Hard cap on bytes accepted; protects the caller from a runaway server. Default 256 MiB. */
  maxBytes?: number;
  /**
   * Benchmark hook: wait this long before sending each ACK, to stand in for a LAN's round trip
   * (loopback has almost none). Default 0.
   */
  ackDelayMs?: number;
}

export interface TftpGetResult {
  data: Buffer;
  /** Options the server acknowledged (null when it answered with DATA directly). */
  oack: Record<string, string> | null;
  /** Server transfer port (its TID). */
  serverPort: number;
  dataPackets: number;
}

export class TftpClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly tftpErrorCode?: number,
  ) {
    super(message);
    this.name = 'TftpClientError';
  }
}

export function tftpGet(options: TftpGetOptions): Promise<TftpGetResult> {
  const timeoutMs = options.timeoutMs ?? 1000;
  const maxAttempts = options.retries ?? 5;
  const maxBytes = options.maxBytes ?? 256 << 20;
  const requested = options.options ?? [];
  const socket = dgram.createSocket(net.isIPv6(options.host) ? 'udp6' : 'udp4');
  return new Promise<TftpGetResult>((resolve, reject) => {
    let blockSize = 512;
    let windowSize = 1;
    let serverPort = -1;
    let oack: Record<string, string> | null = null;
    let expectedIndex = 1; // absolute index of the next block we want
    let receivedInWindow = 0;
    let lastSent: Buffer = serializeRequest(Opcode.RRQ, options.filename, 'octet', requested);
    let lastSentTo = options.port;
    let attempts = 0;
    let arrivals = 0;
    let dataPackets = 0;
    let gapAckedAt = 0;
    const chunks: Buffer[] = [];
    let total = 0;
    let timer: NodeJS.Timeout | null = null;
    let settled = false;

    const finish = (error: Error | null): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      socket.close();
      if (error) reject(error);
      else resolve({ data: Buffer.concat(chunks, total), oack, serverPort, dataPackets });
    };
    const send = (packet: Buffer, port: number): void => {
      lastSent = packet;
      lastSentTo = port;
      attempts = 0;
      socket.send(packet, port, options.host);
      arm();
    };
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        attempts++;
        if (attempts >= maxAttempts) {
          finish(new TftpClientError('TFTP_TIMEOUT', `no answer after ${maxAttempts} attempts`));
          return;
        }
        if (expectedIndex > 1 && receivedInWindow > 0) {
          // RFC 7440 section 4: mid-window silence; acknowledge what arrived in order.
          receivedInWindow = 0;
          lastSent = serializeAck((expectedIndex - 1) & 0xffff);
        }
        socket.send(lastSent, lastSentTo, options.host);
        arm();
      }, timeoutMs);
    };
    const ackDelayMs = options.ackDelayMs ?? 0;
    const ack = (index: number): void => {
      if (ackDelayMs > 0) setTimeout(() => !settled && send(serializeAck(index & 0xffff), serverPort), ackDelayMs);
      else send(serializeAck(index & 0xffff), serverPort);
    };

    socket.on('error', (error) => finish(error));
    socket.on('message', (message, rinfo) => {
      if (serverPort === -1) serverPort = rinfo.port; // RFC 1350 section 4: the server's TID
      if (rinfo.port !== serverPort) return;
      let packet;
      try {
        packet = parsePacket(message);
      } catch (error) {
        if (error instanceof TftpParseError) return finish(new TftpClientError(error.code, `bad packet from server: ${error.message}`));
        throw error;
      }
      if (packet.opcode === Opcode.ERROR) {
        return finish(new TftpClientError('TFTP_SERVER_ERROR', `server sent ERROR ${packet.errorCode}: ${packet.message}`, packet.errorCode));
      }
      if (packet.opcode === Opcode.OACK) {
        if (dataPackets > 0 || oack) return; // a repeated OACK: our ACK 0 will be resent by the timer
        oack = Object.fromEntries(packet.options);
        // RFC 2347: an OACK may only carry options the client asked for; RFC 2348/7440: never
        // a larger blksize or windowsize than asked. Anything else is refused with ERROR 8.
        const asked = Object.fromEntries(requested);
        const problem = Object.keys(oack).find((name) => !(name in asked)) ?? (['blksize', 'windowsize'] as const).find((name) => {
          if (oack![name] === undefined) return false;
          const granted = Number(oack![name]);
          return !Number.isInteger(granted) || granted < 1 || granted > Number(asked[name]);
        });
        if (problem !== undefined) {
          const failure = new TftpClientError('TFTP_BAD_OACK', `server OACK has unacceptable option "${problem}"`);
          if (timer) clearTimeout(timer);
          socket.send(serializeError(8, `unacceptable option ${problem}`), serverPort, options.host, () => finish(failure));
          return;
        }
        if (oack.blksize) blockSize = Number(oack.blksize);
        if (oack.windowsize) windowSize = Number(oack.windowsize);
        return ack(0);
      }
      if (packet.opcode !== Opcode.DATA) return;
      arrivals++;
      if (options.dropData?.(packet.block, arrivals)) return;
      dataPackets++;
      if (packet.block !== (expectedIndex & 0xffff)) {
        // A gap, or a retransmission of blocks we hold (our ACK was lost): RFC 7440 section 4
        // has the receiver acknowledge the last in-order block so the sender restarts after it.
        // Once per position: the rest of a stale window must not turn into a storm of ACKs.
        if (gapAckedAt === expectedIndex) return;
        gapAckedAt = expectedIndex;
        receivedInWindow = 0;
        return ack(expectedIndex - 1);
      }
      if (total + packet.data.length > maxBytes) return finish(new TftpClientError('TFTP_TOO_BIG', `more than ${maxBytes} bytes`));
      chunks.push(Buffer.from(packet.data));
      total += packet.data.length;
      expectedIndex++;
      receivedInWindow++;
      const last = packet.data.length < blockSize;
      if (last) {
        // Close only once the final ACK has left: closing earlier cancels the queued send, and
        // the server would wait for it through all its retransmissions.
        if (timer) clearTimeout(timer);
        const finalAck = serializeAck(packet.block);
        const sendFinal = (): void => socket.send(finalAck, serverPort, options.host, () => finish(null));
        if (ackDelayMs > 0) setTimeout(sendFinal, ackDelayMs);
        else sendFinal();
        return;
      }
      if (receivedInWindow >= windowSize) {
        receivedInWindow = 0;
        ack(expectedIndex - 1);
      } else {
        arm();
      }
    });
    socket.bind(0, options.localAddress, () => send(lastSent, options.port));
  });
}
