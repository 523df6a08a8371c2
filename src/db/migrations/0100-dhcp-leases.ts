// DHCP leases of lanboot's full-DHCP mode (src/dhcp/lease-store.ts). One row per address the
// server has offered or bound; a row whose expires_at has passed is free again.
//   state 'offered'  : held for a client between DHCPOFFER and DHCPREQUEST (short hold)
//   state 'bound'    : acknowledged (RFC 2131 section 4.3.2)
//   state 'declined' : a client reported the address in use (DHCPDECLINE, section 4.3.3);
//                      quarantined until expires_at, mac is the declining client
//   state 'released' : the client gave it back (DHCPRELEASE, section 4.3.4); kept so the same
//                      client gets the same address again
// Times are ms since the epoch (INTEGER) so expiry is one indexed comparison.
import type { Db } from '../database.js';

export function up(db: Db): void {
  db.exec(`
    CREATE TABLE dhcp_leases (
      interface   TEXT NOT NULL,
      ip          TEXT NOT NULL,
      mac         TEXT NOT NULL,
      client_id   TEXT,
      hostname    TEXT,
      state       TEXT NOT NULL CHECK (state IN ('offered', 'bound', 'declined', 'released')),
      expires_at  INTEGER NOT NULL,
      updated_at  INTEGER NOT NULL,
      PRIMARY KEY (interface, ip)
    ) STRICT;
    CREATE INDEX dhcp_leases_by_mac ON dhcp_leases (interface, mac);
    CREATE INDEX dhcp_leases_by_expiry ON dhcp_leases (expires_at);
  `);
}
