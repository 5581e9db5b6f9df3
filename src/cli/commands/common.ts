/** What every API command shares (cli/commands/api.ts, monitoring.ts): its context, usage errors, argument checks, output. */
import type { DwsClient } from '../client.js';

/** A mistake in the command line: exit code 2, the message alone. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Ctx {
  client: DwsClient;
  json: boolean;
  values: Record<string, unknown>;
  positionals: string[];
  out: NodeJS.WriteStream;
}

export const need = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || v === '') throw new UsageError(`${what} is required`);
  return v;
};

export const int = (v: unknown, what: string): number => {
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new UsageError(`${what} must be a whole number`);
  return n;
};

/** The answer as JSON with --json, else the text. */
export function print(ctx: Ctx, value: unknown, text: () => string): void {
  ctx.out.write((ctx.json ? JSON.stringify(value, null, 2) : text()) + '\n');
}

/** Rows as columns two spaces apart (the first row is the header). */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
