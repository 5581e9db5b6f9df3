import { ERROR_CODES, formatMessage, type ErrorCode } from './codes.js';

export interface AppErrorOptions {
  args?: readonly unknown[];
  details?: Record<string, unknown>;
  cause?: unknown;
  /** override the catalog's retryable flag (e.g. a command known to be transient) */
  retryable?: boolean;
  /** override the formatted message entirely */
  message?: string;
}

/** An error from the catalog. Never hand-write an HTTP status outside the catalog. */
export class AppError extends Error {
  override name = 'AppError';
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly wireCode: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, opts: AppErrorOptions = {}) {
    const spec = ERROR_CODES[code];
    super(opts.message ?? formatMessage(spec.message, opts.args ?? []), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.httpStatus = spec.httpStatus;
    this.wireCode = spec.wireCode;
    this.retryable = opts.retryable ?? spec.retryable;
    this.details = opts.details;
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

/**
 * Turn anything thrown into an Error (graphile-worker's coerceError). An Error is returned as
 * it is; anything else is wrapped, with the original value kept as the new error's `cause`.
 */
export function coerceError(e: unknown): Error {
  if (e instanceof Error) return e;
  if (typeof e === 'string') return new Error(e, { cause: e });
  let message: string;
  try {
    message = `non-error thrown: ${JSON.stringify(e)}`;
  } catch {
    message = 'non-error thrown';
  }
  return new Error(message, { cause: e });
}
