// The services `lanboot serve` runs next to the iSCSI engine. DHCP (src/dhcp), TFTP
// (src/tftp) and the boot-script endpoints (src/boot) plug in here as SupervisorService
// objects (see service.ts): mount() adds HTTP routes before the listeners start, start()
// gets the bound ports and the box's advertised address, stop() runs in reverse order
// before the engine and the database close. Each one is built with its slice of the
// configuration, which decided already whether it runs (src/config/config.ts).
import type { Logger } from 'pino';
import type { LanbootConfig } from '../config/config.js';
import { DhcpService } from '../dhcp/service.js';
import { BootService } from '../boot/service.js';
import { TftpBootService } from '../boot/tftp-service.js';
import { MdnsService } from '../discovery/mdns-service.js';
import { IsoService } from '../iso/service.js';
import type { NativeAddon } from '../native/index.js';
import { createDhcpSocketFactory } from '../dhcp/socket.js';
import { HistoryService } from '../history/service.js';
import { DEFAULT_WAKE_SETTINGS } from '../wake/sender.js';
import { WakeService } from '../wake/service.js';
import type { SupervisorService } from './service.js';

/** What the services take from the native addon. */
export type ServicesNative = Pick<NativeAddon, 'openInterfaceUdpSocket' | 'sendFileRange'>;

export function buildServices(config: LanbootConfig, logger: Logger, native: ServicesNative): SupervisorService[] {
  const services: SupervisorService[] = [];
  const boot = new BootService({ listen: config.listen, dhcp: config.dhcp, scriptOwnerCheck: config.scriptOwnerCheck, menu: config.bootMenu });
  if (config.dhcp.mode !== 'off') {
    const dhcp = new DhcpService(config.dhcp, createDhcpSocketFactory('interface', native.openInterfaceUdpSocket));
    dhcp.events.on('pxe-request', (event) => boot.recordDhcpStep(event));
    services.push(dhcp);
  }
  if (config.tftp !== undefined) {
    const tftp = new TftpBootService(config.tftp);
    tftp.events.on('transfer', (event) => boot.recordTftpTransfer(event));
    services.push(tftp);
  }
  services.push(boot);
  services.push(new IsoService(native.sendFileRange));
  services.push(new HistoryService());
  // Magic packets leave from the LAN interface, when one is named.
  services.push(new WakeService({ settings: { ...DEFAULT_WAKE_SETTINGS, interface: config.interface ?? null }, openInterfaceUdpSocket: native.openInterfaceUdpSocket }));
  if (config.mdns !== undefined) services.push(new MdnsService(config.mdns));
  logger.debug({ services: services.map((s) => s.name), dhcp: config.dhcp, tftp: config.tftp ?? null }, 'network boot services');
  return services;
}
