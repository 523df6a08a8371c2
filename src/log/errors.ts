// Errors that cross a module boundary carry a stable code, so the API, the CLI and the logs
// can tell kinds of failure apart without parsing messages.

export type LanbootErrorCode =
  | 'LANBOOT_CONFIG_INVALID'
  | 'LANBOOT_INVALID_INPUT'
  | 'LANBOOT_IMAGE_NOT_FOUND'
  | 'LANBOOT_IMAGE_INVALID'
  | 'LANBOOT_SEAT_NOT_FOUND'
  | 'LANBOOT_SEAT_EXISTS'
  | 'LANBOOT_MAC_IN_USE'
  | 'LANBOOT_ALREADY_RUNNING'
  | 'LANBOOT_NO_SUPERVISOR'
  | 'LANBOOT_DB_MIGRATION_FAILED'
  | 'LANBOOT_ENGINE_FAILED'
  | 'LANBOOT_IO_FAILED'
  // Golden image store (src/storage); LANBOOT_NO_SPACE is listed with the seats' codes
  | 'LANBOOT_VERSION_IN_USE'
  | 'LANBOOT_IMPORT_NOT_FOUND'
  | 'LANBOOT_USB_NOT_FOUND'
  | 'LANBOOT_USB_REMOVED'
  | 'LANBOOT_USB_BUSY'
  | 'LANBOOT_IMPORT_INTERRUPTED'
  // Web UI / LAN API auth (src/web/auth)
  | 'LANBOOT_AUTH_REQUIRED'
  | 'LANBOOT_SETUP_REQUIRED'
  | 'LANBOOT_ALREADY_SET_UP'
  | 'LANBOOT_CSRF_REJECTED'
  | 'LANBOOT_RATE_LIMITED'
  // Seats (src/seats/)
  | 'LANBOOT_SEAT_BUSY'
  | 'LANBOOT_SEAT_CONFLICT'
  | 'LANBOOT_SNAPSHOT_NOT_FOUND'
  | 'LANBOOT_NO_SPACE'
  | 'LANBOOT_DISK_FAULT'
  // ISO files over HTTP (src/iso, the addon's sendFileRange)
  | 'LANBOOT_ISO_NOT_FOUND'
  | 'LANBOOT_SEND_STALLED'
  | 'LANBOOT_PEER_GONE'
  | 'LANBOOT_CANCELLED'
  | 'LANBOOT_BUSY'
  | 'LANBOOT_INTERNAL';

export class LanbootError extends Error {
  readonly code: LanbootErrorCode | string;
  /** Extra structured context for logs (never secrets). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: LanbootErrorCode | string, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LanbootError';
    this.code = code;
    this.details = details;
  }
}

export function isLanbootError(value: unknown): value is LanbootError {
  return value instanceof LanbootError;
}

/** The HTTP status the local API answers for an error code. */
export function httpStatusFor(code: string): number {
  switch (code) {
    case 'LANBOOT_CONFIG_INVALID':
    case 'LANBOOT_INVALID_INPUT':
    case 'LANBOOT_IMAGE_INVALID':
      return 400;
    case 'LANBOOT_IMAGE_NOT_FOUND':
    case 'LANBOOT_SEAT_NOT_FOUND':
    case 'LANBOOT_IMPORT_NOT_FOUND':
    case 'LANBOOT_USB_NOT_FOUND':
      return 404;
    case 'LANBOOT_SEAT_EXISTS':
    case 'LANBOOT_MAC_IN_USE':
    case 'LANBOOT_ALREADY_RUNNING':
    case 'LANBOOT_VERSION_IN_USE':
    case 'LANBOOT_USB_REMOVED':
    case 'LANBOOT_USB_BUSY':
      return 409;
    case 'LANBOOT_AUTH_REQUIRED':
      return 401;
    case 'LANBOOT_SETUP_REQUIRED':
    case 'LANBOOT_CSRF_REJECTED':
      return 403;
    case 'LANBOOT_ALREADY_SET_UP':
      return 409;
    case 'LANBOOT_RATE_LIMITED':
      return 429;
    case 'LANBOOT_SEAT_BUSY':
    case 'LANBOOT_SEAT_CONFLICT':
      return 409;
    case 'LANBOOT_SNAPSHOT_NOT_FOUND':
    case 'LANBOOT_ISO_NOT_FOUND':
      return 404;
    case 'LANBOOT_BUSY':
      return 503;
    case 'LANBOOT_NO_SPACE':
      return 507;
    default:
      return 500;
  }
}
