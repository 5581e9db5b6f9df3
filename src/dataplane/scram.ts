/**
 * SCRAM-SHA-256 verifiers as PostgreSQL stores them (RFC 5802/7677; `pg_authid.rolpassword`:
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`). D32: a role's password is
 * sent to the server as its verifier, never in clear, so neither the server's log of a failed
 * statement nor `pg_stat_activity` ever shows it. PostgreSQL applies SASLprep to the password
 * first; for the ASCII passwords dwsbox accepts that is the identity.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

export const SCRAM_ITERATIONS = 4096;

export function scramVerifier(password: string, o: { salt?: Buffer; iterations?: number } = {}): string {
  const salt = o.salt ?? randomBytes(16);
  const iterations = o.iterations ?? SCRAM_ITERATIONS;
  const salted = pbkdf2Sync(Buffer.from(password.normalize('NFKC'), 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
