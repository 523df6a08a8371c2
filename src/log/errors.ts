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
      return 404;
    case 'LANBOOT_SEAT_EXISTS':
    case 'LANBOOT_MAC_IN_USE':
    case 'LANBOOT_ALREADY_RUNNING':
      return 409;
    default:
      return 500;
  }
}
