/**
 * What the store's callers see of a classified driver error (StoreError): a unique violation
 * becomes the refusal the caller names (a taken cluster name, a busy cluster), a transient
 * one STORE_UNAVAILABLE (503, retryable); anything else goes on as it is.
 */
import { AppError } from '../errors/app-error.js';
import { isStoreError } from '../errors/store-error.js';

export function rethrowStoreError(e: unknown, onUniqueViolation?: () => AppError): never {
  if (isStoreError(e)) {
    if (onUniqueViolation && e.kind === 'unique-violation') throw onUniqueViolation();
    if (e.transient) throw new AppError('STORE_UNAVAILABLE', { args: [e.message], cause: e });
  }
  throw e;
}
