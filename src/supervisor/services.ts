// The services `lanboot serve` runs next to the iSCSI engine. DHCP (src/dhcp), TFTP
// (src/tftp), the boot-script endpoints and the web UI plug in here as SupervisorService
// objects (see service.ts): mount() adds HTTP routes before the listeners start, start()
// gets the bound ports and the box's advertised address, stop() runs in reverse order
// before the engine and the database close.
import type { Logger } from 'pino';
import type { LanbootConfig } from '../config/config.js';
import type { SupervisorService } from './service.js';

export function buildServices(config: LanbootConfig, logger: Logger): SupervisorService[] {
  const services: SupervisorService[] = [];
  // Issue 3 adds here, for example:
  //   if (config.dhcp !== 'off') services.push(dhcpService(config, logger));  // name 'dhcp'
  //   services.push(tftpService(config, logger), bootScriptService(config, logger));
  // While no service is named 'dhcp', the supervisor logs that DHCP is not started.
  void config;
  void logger;
  return services;
}
