// Errors that cross a module boundary carry a stable code, so the API, the CLI and the logs
// can tell kinds of failure apart without parsing messages. LanbootError is the one error
// class the parts throw to each other; the native addon's errors come out as LanbootError too
// (src/native/index.ts wraps them). Pure protocol codecs keep their own error classes only
// where the error never leaves their part (the server owning the socket answers or logs it).

/** Every error code and the HTTP status the local API and the LAN API answer with it. The one
 *  list: a code not here does not type-check, and test/unit/error-codes.test.ts checks that
 *  every code written in src/ and thrown by native/src is here. */
export const ERROR_STATUS = {
  // Caller input and configuration
  LANBOOT_CONFIG_INVALID: 400,
  LANBOOT_INVALID_INPUT: 400,
  LANBOOT_NOT_FOUND: 404, // no such API route
  LANBOOT_ISO_NOT_FOUND: 404,
  LANBOOT_HOST_REFUSED: 421, // Host header not the box's (DNS rebinding)
  LANBOOT_ALREADY_RUNNING: 409,
  LANBOOT_NO_SUPERVISOR: 503,
  LANBOOT_DB_MIGRATION_FAILED: 500,
  LANBOOT_INTERNAL: 500,
  // Golden images and imports (src/storage)
  LANBOOT_IMAGE_NOT_FOUND: 404,
  LANBOOT_IMAGE_INVALID: 400,
  LANBOOT_VERSION_IN_USE: 409,
  LANBOOT_IMPORT_NOT_FOUND: 404,
  LANBOOT_IMPORT_INTERRUPTED: 500,
  LANBOOT_USB_NOT_FOUND: 404,
  LANBOOT_USB_REMOVED: 409,
  LANBOOT_USB_BUSY: 409,
  // Web UI / LAN API auth (src/web/auth)
  LANBOOT_AUTH_REQUIRED: 401,
  LANBOOT_SETUP_REQUIRED: 403,
  LANBOOT_CSRF_REJECTED: 403,
  LANBOOT_LOCAL_ONLY: 403, // only the box's own CLI (the local API socket) may do this
  // Seats (src/seats)
  LANBOOT_SEAT_NOT_FOUND: 404,
  LANBOOT_SEAT_EXISTS: 409,
  LANBOOT_SEAT_BUSY: 409,
  LANBOOT_SEAT_CONFLICT: 409,
  LANBOOT_SNAPSHOT_NOT_FOUND: 404,
  LANBOOT_MAC_IN_USE: 409,
  LANBOOT_NO_SPACE: 507,
  // Groups, Wake-on-LAN (src/seats/groups.ts, src/wake)
  LANBOOT_GROUP_NOT_FOUND: 404,
  LANBOOT_GROUP_EXISTS: 409,
  LANBOOT_SCHEDULE_NOT_FOUND: 404,
  LANBOOT_WAKE_FAILED: 500,
  // Network boot (src/boot, src/dhcp)
  LANBOOT_ENROLL_CODE_NOT_FOUND: 404,
  LANBOOT_BOOT_SCRIPT_UNSAFE: 500, // a stored value an iPXE script cannot carry
  LANBOOT_DHCP_OTHER_SERVER: 409,
  LANBOOT_DHCP_NO_INTERFACE_ADDRESS: 500,
  // The native addon (native/src/napi/addon.cc, engine events from native/src/iscsi/engine.cc)
  LANBOOT_NATIVE_MISSING: 500,
  LANBOOT_ENGINE_FAILED: 500,
  LANBOOT_INVALID_ARGUMENT: 500, // the supervisor called the addon wrongly
  LANBOOT_INVALID_TARGET: 500,
  LANBOOT_ISCSI_BIND: 500,
  LANBOOT_ISCSI_ACCEPT: 500,
  LANBOOT_TARGET_OPEN: 500,
  LANBOOT_TARGET_RESET: 500,
  LANBOOT_TARGET_UNKNOWN: 500,
  LANBOOT_DISK_FLUSH: 500,
  LANBOOT_DELTA_BUSY: 409,
  LANBOOT_EXPORT_FAILED: 500,
  LANBOOT_COPY_FAILED: 500,
  LANBOOT_FILE_NOT_FOUND: 500, // a file the box keeps is missing: not the caller's fault
  LANBOOT_SOURCE_ENDED: 400,
  LANBOOT_VERIFY_FAILED: 500,
  LANBOOT_IO_FAILED: 500,
  LANBOOT_SEND_STALLED: 500,
  LANBOOT_PEER_GONE: 500,
  LANBOOT_CANCELLED: 500,
  LANBOOT_BUSY: 503,
  LANBOOT_SD_NOTIFY: 500,
  LANBOOT_UDP_SOCKET: 500,
  LANBOOT_DISK_FAULT: 500, // engine event: the data disk failed a read or write
} as const satisfies Record<`LANBOOT_${string}`, number>;

export type LanbootErrorCode = keyof typeof ERROR_STATUS;

export const ERROR_CODES = Object.keys(ERROR_STATUS) as LanbootErrorCode[];

export function isLanbootErrorCode(value: unknown): value is LanbootErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_STATUS, value);
}

/** A code read back from outside the process (a stored job, the local API's answer): itself
 *  when the list has it, else `fallback`. */
export function knownErrorCode(value: unknown, fallback: LanbootErrorCode): LanbootErrorCode {
  return isLanbootErrorCode(value) ? value : fallback;
}

export class LanbootError extends Error {
  readonly code: LanbootErrorCode;
  /** Extra structured context for logs (never secrets). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: LanbootErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LanbootError';
    this.code = code;
    this.details = details;
  }
}

export function isLanbootError(value: unknown): value is LanbootError {
  return value instanceof LanbootError;
}

/** The code of any thrown value: a LanbootError's own, else LANBOOT_INTERNAL. */
export function errorCodeOf(error: unknown): LanbootErrorCode {
  return error instanceof LanbootError ? error.code : 'LANBOOT_INTERNAL';
}

/** The HTTP status the APIs answer for an error code. */
export function httpStatusFor(code: LanbootErrorCode): number {
  return ERROR_STATUS[code];
}
