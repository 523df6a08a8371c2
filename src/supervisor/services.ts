// The services `lanboot serve` runs next to the iSCSI engine. DHCP (src/dhcp), TFTP
// (src/tftp) and the boot-script endpoints (src/boot) plug in here as SupervisorService
// objects (see service.ts): mount() adds HTTP routes before the listeners start, start()
// gets the bound ports and the box's advertised address, stop() runs in reverse order
// before the engine and the database close.
import type { Logger } from 'pino';
import type { LanbootConfig } from '../config/config.js';
import { DhcpService } from '../dhcp/service.js';
import { BootService } from '../boot/service.js';
import { TftpBootService } from '../boot/tftp-service.js';
import { MdnsService } from '../discovery/mdns-service.js';
import { IsoService } from '../iso/service.js';
import type { SupervisorService } from './service.js';

/** What the network-boot services run with, derived from the configuration. */
export interface NetworkBootSettings {
  /** undefined = no TFTP server. */
  tftpPort: number | undefined;
  dhcpForce: boolean;
}

/** Well-known TFTP port (RFC 1350); without root a free high port is the default. */
export const TFTP_PORT_ROOT = 69;
export const TFTP_PORT_UNPRIVILEGED = 6969;

export function networkBootSettings(config: LanbootConfig, isRoot: boolean): NetworkBootSettings {
  let tftpPort = config.tftpPort;
  // PXE firmware fetches iPXE over TFTP only when lanboot answers its DHCP: with an interface
  // (DHCP on), TFTP runs by default.
  if (tftpPort === undefined && config.interface !== undefined && config.dhcp !== 'off') tftpPort = isRoot ? TFTP_PORT_ROOT : TFTP_PORT_UNPRIVILEGED;
  return { tftpPort, dhcpForce: config.dhcpForce };
}

export function buildServices(config: LanbootConfig, logger: Logger): SupervisorService[] {
  const settings = networkBootSettings(config, typeof process.getuid === 'function' && process.getuid() === 0);
  const services: SupervisorService[] = [];
  const boot = new BootService();
  if (config.dhcp !== 'off' && config.interface !== undefined) {
    const dhcp = new DhcpService({ force: settings.dhcpForce });
    dhcp.events.on('pxe-request', (event) => boot.recordDhcpStep(event));
    services.push(dhcp);
  }
  if (settings.tftpPort !== undefined) {
    const tftp = new TftpBootService({ port: settings.tftpPort });
    tftp.events.on('transfer', (event) => boot.recordTftpTransfer(event));
    services.push(tftp);
  }
  services.push(boot);
  services.push(new IsoService());
  // mDNS only on a served interface (config.mdns defaults to on when one is given).
  if (config.mdns && config.interface !== undefined) services.push(new MdnsService({ interfaceName: config.interface }));
  logger.debug({ services: services.map((s) => s.name), tftpPort: settings.tftpPort, dhcpForce: settings.dhcpForce }, 'network boot services');
  return services;
}
