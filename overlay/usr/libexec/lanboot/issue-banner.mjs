#!/usr/bin/node
// lanboot-banner.service: writes /run/issue.d/50-lanboot.issue (agetty shows /run/issue.d
// above the login prompt; /etc is read-only) with the web UI address and a QR code of it, or
// why lanboot is not running. QR code by lean-qr, drawn with half-block characters so each
// text row holds two module rows.
import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { generate } from '/usr/lib/lanboot/app/node_modules/lean-qr/index.mjs';

const ISSUE_DIR = '/run/issue.d';
const CONFIG = '/etc/lanboot/config.json';

function uiAddress() {
  let port = 80;
  try {
    const config = JSON.parse(fs.readFileSync(CONFIG, 'utf8'));
    if (Number.isInteger(config.httpPort)) port = config.httpPort;
  } catch { /* defaults */ }
  for (const name of Object.keys(os.networkInterfaces()).sort()) {
    for (const info of os.networkInterfaces()[name] ?? []) {
      if (info.family === 'IPv4' && !info.internal) return `http://${info.address}${port === 80 ? '' : `:${port}`}/`;
    }
  }
  return undefined;
}

export function qrText(text) {
  const code = generate(text);
  const pad = 2;
  const lines = [];
  // Light modules are drawn as blocks (a terminal is light-on-dark): inverted, as scanners accept.
  for (let y = -pad; y < code.size + pad; y += 2) {
    let line = '';
    for (let x = -pad; x < code.size + pad; x++) {
      const top = !code.get(x, y);
      const bottom = y + 1 < code.size + pad ? !code.get(x, y + 1) : false;
      line += top && bottom ? '\u2588' : top ? '\u2580' : bottom ? '\u2584' : ' ';
    }
    lines.push(line);
  }
  return lines.join('\n');
}

function serviceState() {
  try {
    return execFileSync('systemctl', ['show', '-p', 'ActiveState', '--value', 'lanboot.service'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

let release = '';
try {
  release = fs.readFileSync('/etc/lanboot-release', 'utf8').match(/^LANBOOT_VERSION=(.*)$/m)?.[1] ?? '';
} catch { /* not an appliance build */ }
let dataStatus = '';
try {
  dataStatus = fs.readFileSync('/run/lanboot/data-disk', 'utf8').trim();
} catch { /* not run yet */ }

const lines = [`lanboot ${release}`.trim(), ''];
const state = serviceState();
const url = uiAddress();
if (state !== 'active') {
  lines.push(`lanboot is NOT running (${state}).`);
  if (dataStatus && !dataStatus.startsWith('ok')) lines.push(dataStatus);
  lines.push('Details: journalctl -u lanboot-data -u lanboot', '');
} else if (url) {
  lines.push(`Open ${url} on a phone or PC on this LAN (or http://lanboot.local/):`, '', qrText(url), '');
} else {
  lines.push('lanboot is running but this box has no IPv4 address yet: check the network cable.', '');
}
// agetty expands backslash escapes in issue files: keep the text literal.
const text = lines.join('\n').replaceAll('\\', '\\\\') + '\n';
fs.mkdirSync(ISSUE_DIR, { recursive: true });
fs.writeFileSync(`${ISSUE_DIR}/50-lanboot.issue`, text);
// Running agettys re-read the issue files.
try {
  execFileSync('agetty', ['--reload'], { stdio: 'ignore' });
} catch { /* no agetty running yet */ }
