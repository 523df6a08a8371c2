// TFTP packets from anyone on the LAN (src/tftp/codec.ts, src/tftp/paths.ts): parsed or
// refused with TftpParseError; a request's options read or refused; its file name mapped to
// segments that never leave the root, or refused with PathRefusedError.
import { Opcode, parsePacket, parseRequestedOptions, serializeAck, serializeOack, TftpParseError } from '../../../src/tftp/codec.js';
import { normalizeRequestPath, PathRefusedError } from '../../../src/tftp/paths.js';
import type { FuzzTarget } from '../fuzzer.js';

export const target: FuzzTarget = {
  maxLength: 1200,
  dictionary: ['\x00\x01', '\x00\x04', '\x00\x06', 'octet\x00', 'netascii\x00', 'blksize\x00', 'tsize\x00', 'timeout\x00', 'windowsize\x00', '1468\x00', '65464\x00', '../', '/', '\\'],
  fuzz(data: Buffer): void {
    let packet;
    try {
      packet = parsePacket(data);
    } catch (error) {
      if (error instanceof TftpParseError) return;
      throw error;
    }
    if (packet.opcode === Opcode.ACK) {
      if (!serializeAck(packet.block).equals(data.subarray(0, 4))) throw new Error('ACK does not re-serialize to its bytes');
      return;
    }
    if (packet.opcode !== Opcode.RRQ && packet.opcode !== Opcode.WRQ) return;
    try {
      const options = parseRequestedOptions(packet.options);
      if (options.blksize !== undefined && (options.blksize < 8 || options.blksize > 65464)) throw new Error(`blksize ${options.blksize} accepted`);
      serializeOack(packet.options);
    } catch (error) {
      if (!(error instanceof TftpParseError)) throw error;
    }
    try {
      const segments = normalizeRequestPath(packet.filename);
      for (const segment of segments) {
        if (segment === '..' || segment === '.' || segment === '' || segment.includes('/') || segment.includes('\\') || segment.includes('\0')) {
          throw new Error(`unsafe path segment ${JSON.stringify(segment)} from ${JSON.stringify(packet.filename)}`);
        }
      }
    } catch (error) {
      if (!(error instanceof PathRefusedError)) throw error;
    }
  },
};
