// DHCP/BOOTP datagrams from anyone on the LAN (src/dhcp/codec.ts): decoded into a message and
// read as a PXE client request, or refused with DhcpParseError; never any other error. A
// decoded message re-encodes, and the re-encoding decodes to the same client request.
import { decodeClientRequest, decodeDhcpMessage, DhcpEncodeError, DhcpParseError, encodeDhcpMessage } from '../../../src/dhcp/codec.js';
import type { FuzzTarget } from '../fuzzer.js';

export const target: FuzzTarget = {
  maxLength: 1500,
  dictionary: ['\x63\x82\x53\x63', '\x35\x01\x01', '\x35\x01\x03', '\x3c\x09PXEClient', '\x5d\x02\x00\x07', '\x61\x11\x00', '\x4d\x04iPXE', '\xaf', '\xff', '\x00'],
  fuzz(data: Buffer): void {
    let message;
    try {
      message = decodeDhcpMessage(data);
    } catch (error) {
      if (error instanceof DhcpParseError) return;
      throw error;
    }
    let request;
    try {
      request = decodeClientRequest(data);
    } catch (error) {
      if (error instanceof DhcpParseError) return;
      throw error;
    }
    let encoded: Buffer;
    try {
      // Option 52 (overload) is dropped: sname and file are re-encoded as the text they were
      // decoded to, so what they carried as options is in the map already.
      const options = [...message.options.entries()].filter(([code]) => code !== 52);
      encoded = encodeDhcpMessage({ ...message, options });
    } catch (error) {
      if (error instanceof DhcpEncodeError) return;
      throw error;
    }
    let again;
    try {
      again = decodeClientRequest(encoded);
    } catch (error) {
      throw new Error(`a message the encoder wrote does not decode: ${(error as Error).message}`, { cause: error });
    }
    if (again.mac !== request.mac) throw new Error(`re-encoding changed the MAC: ${request.mac} -> ${again.mac}`);
  },
};
