import { randomBytes, randomUUID } from 'node:crypto';

export const newId = (): string => randomUUID();
export const isUuid = (s: string): boolean => /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s);
/** A DWS-style project id: 32 hex chars. */
export const newProjectId = (): string => randomBytes(16).toString('hex');
/** AK: 20 upper-case alphanumerics, like Huawei Cloud's. */
export function newAccessKey(): string {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const b = randomBytes(20);
  return Array.from(b, (x) => abc[x % abc.length]).join('');
}
export const newSecretKey = (): string => randomBytes(30).toString('base64url').slice(0, 40);
export const newPassword = (): string => 'Dw' + randomBytes(18).toString('base64url').replace(/[-_]/g, 'x') + '#9a';
