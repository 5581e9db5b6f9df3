/** PostgreSQL WAL positions (LSNs) as PostgreSQL writes them, `X/Y` in hexadecimal. */

/** The position in bytes. */
export function lsnBytes(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi || '0'}`) << 32n) + BigInt(`0x${lo || '0'}`);
}

/** Compare two positions: negative when a < b. */
export function compareLsn(a: string, b: string): number {
  const d = lsnBytes(a) - lsnBytes(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}
