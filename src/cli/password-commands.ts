// `lanboot password set`: the web UI's admin password, set over the local API socket (no web
// login needed: being able to open the socket is being the box's owner). The new password
// never comes from argv, where `ps` and the shell history would show it: it is read from
// stdin (first line) or, on a terminal, typed twice at a prompt with echo off.
import { LanbootError } from '../log/errors.js';
import { checkNewPassword, MAX_PASSWORD_LENGTH } from '../web/auth/password.js';
import { COMMON, clientFor, parse, printJson, type CliIo, type Handler } from './common.js';

/** Reads stdin up to the first newline (or its end); bounded so a wrong pipe cannot fill memory. */
async function readFirstLine(stdin: NodeJS.ReadableStream): Promise<string> {
  const limit = MAX_PASSWORD_LENGTH * 4 + 2;
  let text = '';
  for await (const chunk of stdin) {
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    const newline = text.indexOf('\n');
    if (newline >= 0) return text.slice(0, newline).replace(/\r$/, '');
    if (text.length > limit) break;
  }
  if (text.length > limit) throw new LanbootError('LANBOOT_INVALID_INPUT', `password: at most ${MAX_PASSWORD_LENGTH} characters`);
  return text.replace(/\r$/, '');
}

/** A prompt on the terminal with echo off (raw mode, one key at a time). */
async function promptHidden(io: CliIo, stdin: NodeJS.ReadStream, question: string): Promise<string> {
  io.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = '';
      const onData = (chunk: Buffer | string) => {
        for (const ch of chunk.toString()) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            io.stderr.write('\n');
            return resolve(typed);
          }
          if (ch === '\u0003' || ch === '\u0004') {
            stdin.off('data', onData);
            io.stderr.write('\n');
            return reject(new LanbootError('LANBOOT_INVALID_INPUT', 'password set: cancelled'));
          }
          if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
          else if (typed.length <= MAX_PASSWORD_LENGTH) typed += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
}

async function passwordSet(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('password set', args, COMMON, { min: 0, max: 0, names: '' });
  const stdin = io.stdin;
  if (stdin === undefined) throw new LanbootError('LANBOOT_INVALID_INPUT', 'password set: no stdin to read the new password from');
  let password: string;
  if ((stdin as NodeJS.ReadStream).isTTY && typeof (stdin as NodeJS.ReadStream).setRawMode === 'function') {
    const tty = stdin as NodeJS.ReadStream;
    const first = await promptHidden(io, tty, 'New admin password: ');
    const again = await promptHidden(io, tty, 'Again: ');
    password = checkNewPassword(first, again);
  } else {
    const line = await readFirstLine(stdin);
    password = checkNewPassword(line, line);
  }
  const result = await clientFor(values, io).call<{ changed: boolean; sessionsEnded: boolean }>('PUT', '/api/v1/admin/password', { json: { password } });
  if (values.json) return printJson(io, result);
  io.stdout.write(result.sessionsEnded ? 'admin password changed; every web session was logged out\n' : 'admin password set\n');
}

export const PASSWORD_COMMANDS: Record<string, Handler> = { set: passwordSet };
