/**
 * Free text a tenant stores and others display (cluster and snapshot descriptions, tag keys
 * and values): one rule, used by every route that takes it, so nothing stored through one
 * route is refused by another (issue 12). The rule is the one DWS documents for descriptions:
 * none of `! < > ' = & "`; here also no control characters (they break logs and terminals).
 * Names have their own validator (`validateName` in services/cluster-service.ts): a letter
 * first, then letters, digits, `-` and `_`.
 */
import { AppError } from '../errors/app-error.js';
import type { Tag } from './records.js';

export const DESCRIPTION_MAX_LENGTH = 256;
export const TAG_KEY_MAX_LENGTH = 128;
export const TAG_VALUE_MAX_LENGTH = 255;
export const TAGS_MAX = 20;

/** The characters free text may not hold: DWS's `! < > ' = & "`, and C0 controls and DEL. */
const FORBIDDEN = /[!<>'=&"\u0000-\u001f\u007f]/;
const SHOWN = '! < > \' = & " or control characters';

/** Why `text` may not be stored as free text, or null. */
export function freeTextProblem(text: string, max: number): string | null {
  if (text.length > max) return `must be at most ${max} characters`;
  if (FORBIDDEN.test(text)) return `must not contain ${SHOWN}`;
  return null;
}

/** 400 DWS.0001 naming `field` unless `text` is a valid description (empty is valid). */
export function validateDescription(field: string, text: string): void {
  const why = freeTextProblem(text, DESCRIPTION_MAX_LENGTH);
  if (why) throw new AppError('VALIDATION', { args: [`${field} ${why}`] });
}

/**
 * 400 DWS.0001 naming the tag unless every key is 1 to 128 characters without surrounding
 * spaces, every value at most 255, keys are unique, at most 20 tags, and neither holds a
 * forbidden character.
 */
export function validateTags(tags: readonly Tag[], field = 'tags'): void {
  if (tags.length > TAGS_MAX) throw new AppError('VALIDATION', { args: [`${field}: at most ${TAGS_MAX} tags`] });
  const seen = new Set<string>();
  for (const t of tags) {
    if (!t.key || t.key.length > TAG_KEY_MAX_LENGTH)
      throw new AppError('VALIDATION', { args: [`${field}: every key must be 1 to ${TAG_KEY_MAX_LENGTH} characters`] });
    if (t.key.trim() !== t.key) throw new AppError('VALIDATION', { args: [`${field}: a key must not start or end with a space`] });
    const keyWhy = freeTextProblem(t.key, TAG_KEY_MAX_LENGTH);
    if (keyWhy) throw new AppError('VALIDATION', { args: [`${field}: a key ${keyWhy}`] });
    const valueWhy = freeTextProblem(t.value, TAG_VALUE_MAX_LENGTH);
    if (valueWhy) throw new AppError('VALIDATION', { args: [`${field}: the value of ${t.key} ${valueWhy}`] });
    if (seen.has(t.key)) throw new AppError('VALIDATION', { args: [`${field}: key ${t.key} appears twice`] });
    seen.add(t.key);
  }
}
