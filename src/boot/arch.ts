// Client system architecture numbers (DHCP option 93) as people call them on a LAN.

/** RFC 4578 section 2.1 (0-9) and the IANA "Processor Architecture Types" registry (11 ARM
 *  64-bit UEFI, 16 x64 UEFI HTTP boot) -> a short name for the CLI and the web UI. */
export function archName(arch: number | null | undefined): string {
  switch (arch) {
    case null:
    case undefined:
      return 'unknown';
    case 0:
      return 'BIOS';
    case 6:
      return 'UEFI ia32';
    case 7:
    case 9:
      return 'UEFI x64';
    case 11:
      return 'UEFI arm64';
    case 16:
      return 'UEFI x64 HTTP';
    default:
      return `arch ${arch}`;
  }
}
