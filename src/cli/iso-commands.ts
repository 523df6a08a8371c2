// `lanboot iso ...`: the ISO library and the URL iPXE boots each file from.
import type { IsoListEntry } from '../web/views.js';
import { COMMON, clientFor, parse, printJson, type CliIo, type Handler } from './common.js';
import { formatBytes, formatTable } from './format.js';

async function isoList(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('iso list', args, COMMON, { min: 0, max: 0, names: '' });
  const isos = await clientFor(values, io).call<IsoListEntry[]>('GET', '/api/v1/isos');
  if (values.json) return printJson(io, isos);
  if (isos.length === 0) {
    io.stdout.write('no ISO files (import one with `lanboot image import FILE.iso --name NAME`)\n');
    return;
  }
  const rows = isos.map((iso) => [`${iso.image}/${iso.fileName}`, formatBytes(iso.sizeBytes), iso.sha256, iso.url]);
  io.stdout.write(`${formatTable(['NAME', 'SIZE', 'SHA256', 'URL'], rows)}\n`);
}

export const ISO_COMMANDS: Record<string, Handler> = { list: isoList };
