// Events the DHCP servers emit for the supervisor (boot timeline, "PC .. is waiting").
import type { BootStage } from './boot-policy.js';

/** Which DHCP exchange of a PC's boot this is. */
export type DhcpBootStep =
  | 'dhcp-discover' // DHCPDISCOVER on port 67 (proxy or full)
  | 'dhcp-request' // DHCPREQUEST on port 67 (full mode)
  | 'proxy-request'; // ProxyDHCPREQUEST on port 4011 (PXE 2.1 section 2.2.1)

export interface PxeRequestEvent {
  interfaceName: string;
  mac: string;
  /** First type of option 93 (RFC 4578), -1 when the client sent none. */
  arch: number;
  vendorClass: string;
  /** Option 77 classes joined by ",", "" when absent. */
  userClass: string;
  step: DhcpBootStep;
  stage: BootStage;
  bootFile: string;
  /** ms since epoch. */
  time: number;
}

export interface LeaseEvent {
  interfaceName: string;
  mac: string;
  ip: string;
  hostname: string | undefined;
  expiresAt: number;
}

export interface DroppedPacketEvent {
  interfaceName: string;
  port: number;
  from: string;
  code: string;
  reason: string;
}
