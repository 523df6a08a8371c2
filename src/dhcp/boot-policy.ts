// Which boot file a network-booting client gets. Pure: a parsed request in, a decision out.
//
// The chain is: firmware PXE (BIOS or UEFI) fetches an iPXE binary over TFTP, or UEFI HTTP boot
// fetches it over HTTP; iPXE then asks DHCP again and must get the HTTP boot script, never the
// iPXE binary a second time (the classic infinite chainload loop).
import type { DhcpClientRequest } from './codec.js';

/** RFC 4578 section 2.1 and the IANA "Processor Architecture Types" registry. */
export const ClientArch = {
  BIOS_X86: 0,
  EFI_IA32: 6,
  EFI_BC: 7,
  EFI_X64: 9,
  EFI_ARM32: 10,
  EFI_ARM64: 11,
  EFI_X86_HTTP: 15,
  EFI_X64_HTTP: 16,
  EFI_ARM64_HTTP: 19,
} as const;

export type UefiIpxeBinary = 'snponly.efi' | 'ipxe.efi';

export interface BootPolicySettings {
  /** Address clients use to reach lanboot's TFTP and HTTP servers. */
  serverAddress: string;
  httpPort: number;
  /** The iPXE binary for UEFI x64: snponly.efi (uses the firmware's NIC driver) or ipxe.efi. */
  uefiBinary: UefiIpxeBinary;
  /** Path of the per-client iPXE script on the HTTP server. */
  bootScriptPath: string;
  /** HTTP path prefix under which the iPXE binaries are served (UEFI HTTP boot). */
  httpBinaryPrefix: string;
}

export const DEFAULT_BOOT_POLICY: Omit<BootPolicySettings, 'serverAddress'> = {
  httpPort: 80,
  uefiBinary: 'snponly.efi',
  bootScriptPath: '/boot.ipxe',
  httpBinaryPrefix: '/ipxe/',
};

/** Which part of the chain is asking. */
export type BootStage = 'pxe-bios' | 'pxe-uefi' | 'http-uefi' | 'ipxe';

export type BootDecision =
  | {
      kind: 'boot';
      stage: BootStage;
      /** The architecture the decision was made for (first of option 93), -1 if unknown. */
      arch: number;
      /** Option 67 / file field: a TFTP file name, or an http:// URL. */
      bootFile: string;
      /** Option 60 to echo: PXE spec requires PXEClient, UEFI HTTP boot requires HTTPClient. */
      vendorClassEcho: 'PXEClient' | 'HTTPClient';
      /** Whether the answer goes out over TFTP (siaddr/next-server matters). */
      viaTftp: boolean;
    }
  | { kind: 'ignore'; reason: 'not-pxe' | 'unsupported-arch'; arch: number };

export function isIpxe(request: DhcpClientRequest): boolean {
  // iPXE sends user class "iPXE" (plain string, not RFC 3004) and its option 175 settings.
  return request.userClasses.includes('iPXE') || request.ipxeSettings !== undefined;
}

export function isHttpBootClient(request: DhcpClientRequest): boolean {
  return request.vendorClass.startsWith('HTTPClient');
}

export function isPxeClient(request: DhcpClientRequest): boolean {
  return request.vendorClass.startsWith('PXEClient');
}

function hostForUrl(address: string, port: number): string {
  return port === 80 ? address : `${address}:${port}`;
}

export function bootScriptUrl(settings: BootPolicySettings): string {
  return `http://${hostForUrl(settings.serverAddress, settings.httpPort)}${settings.bootScriptPath}`;
}

export function decideBoot(request: DhcpClientRequest, settings: BootPolicySettings): BootDecision {
  const arch = request.architectures[0] ?? -1;
  const httpClient = isHttpBootClient(request);

  // iPXE first: it also sends PXEClient vendor class and arch, and giving it the iPXE binary
  // again would have it chainload itself forever instead of fetching its boot script.
  if (isIpxe(request)) {
    return {
      kind: 'boot',
      stage: 'ipxe',
      arch,
      bootFile: bootScriptUrl(settings),
      vendorClassEcho: httpClient ? 'HTTPClient' : 'PXEClient',
      viaTftp: false,
    };
  }

  if (httpClient) {
    // UEFI HTTP boot (UEFI 2.5+ spec section 24.7): x64 (16) or unspecified; option 67 must be a
    // URL and option 60 "HTTPClient" must be echoed or the firmware discards the offer.
    if (arch !== ClientArch.EFI_X64_HTTP && arch !== -1) return { kind: 'ignore', reason: 'unsupported-arch', arch };
    return {
      kind: 'boot',
      stage: 'http-uefi',
      arch,
      bootFile: `http://${hostForUrl(settings.serverAddress, settings.httpPort)}${settings.httpBinaryPrefix}${settings.uefiBinary}`,
      vendorClassEcho: 'HTTPClient',
      viaTftp: false,
    };
  }

  if (!isPxeClient(request)) return { kind: 'ignore', reason: 'not-pxe', arch };

  // PXE 2.1 ROMs that omit option 93 are BIOS ones (option 93 came with RFC 4578 and UEFI).
  const pxeArch = arch === -1 ? ClientArch.BIOS_X86 : arch;
  if (pxeArch === ClientArch.BIOS_X86) {
    return { kind: 'boot', stage: 'pxe-bios', arch: pxeArch, bootFile: 'undionly.kpxe', vendorClassEcho: 'PXEClient', viaTftp: true };
  }
  if (pxeArch === ClientArch.EFI_BC || pxeArch === ClientArch.EFI_X64) {
    return { kind: 'boot', stage: 'pxe-uefi', arch: pxeArch, bootFile: settings.uefiBinary, vendorClassEcho: 'PXEClient', viaTftp: true };
  }
  // Debian's ipxe package ships x86 binaries only: IA32 and ARM firmware get no answer, so
  // another server on the LAN can still serve them.
  return { kind: 'ignore', reason: 'unsupported-arch', arch: pxeArch };
}
