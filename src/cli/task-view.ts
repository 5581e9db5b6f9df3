/**
 * Watching a task from the command line: on a terminal, a live multi-line view with one
 * progress bar per sub-item (status, percent, bytes, rate, estimate), redrawn in place;
 * elsewhere, one line per sub-item status change. The figures are the API's own
 * (progressInfo of each sub-item).
 */
import cliProgress from 'cli-progress';
import type { Static } from '@sinclair/typebox';
import type { DwsClient } from './client.js';
import type { SubItem, TaskBody } from '../api/schemas/task.js';

/** The wire shapes, from the route schemas (types only: the CLI is a client of the API). */
export type SubItemBody = Static<typeof SubItem>;
export type TaskBodyOut = Static<typeof TaskBody>;

export const TERMINAL = new Set(['SUCCESS', 'FAILED', 'ROLLBACK_SUCCESS', 'ROLLBACK_FAIL']);

export function progressInfoOf(s: SubItemBody): Record<string, unknown> {
  try {
    return JSON.parse(String((JSON.parse(s.detail) as { progressInfo?: string }).progressInfo ?? '{}')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

const megabytes = (n: unknown): string => (typeof n === 'number' && n > 0 ? `${(n / 1e6).toFixed(1)} MB` : '');

function describe(s: SubItemBody): { percent: number; text: string } {
  const pi = progressInfoOf(s);
  const percent = s.status === 'SUCCESS' ? 100 : Number(String(pi['progress'] ?? '0').replace('%', '')) || 0;
  const done = megabytes(pi['backupSize']);
  const total = megabytes(pi['totalSize']);
  const rate = (pi['backupRate'] as { producerRate?: string } | undefined)?.producerRate ?? '';
  const parts = [
    done && total ? `${done}/${total}` : done,
    rate && rate !== '0.0MB/s' ? rate : '',
    s.status === 'RUNNING' && s.estimated_time >= 0 ? `ETA ${s.estimated_time}s` : '',
  ];
  return { percent, text: parts.filter(Boolean).join('  ') };
}

/** A plain-text rendering of a task (for `tasks show` and the end of a watch). */
export function renderTask(t: TaskBodyOut): string {
  const lines = [`${t.action_name}  ${t.status}  cluster ${t.cluster_name}  submitted ${t.submit_time}  task ${t.id}`];
  for (const item of t.items) {
    lines.push(`  ${item.item_name}`);
    for (const s of item.sub_items) {
      const d = describe(s);
      lines.push(`    ${s.status.padEnd(16)} ${d.percent.toFixed(2).padStart(6)}%  ${s.sub_item_name}${d.text ? '  ' + d.text : ''}`);
      if (s.status === 'FAILED' || s.status === 'ROLLBACK_FAIL') {
        const pi = progressInfoOf(s);
        lines.push(
          `      failed step ${String(pi['failedStep'] ?? s.step ?? '')}: ${String(pi['errorCode'] ?? '')} ${String(pi['errorMsg'] ?? '')}`,
        );
      }
    }
  }
  if (t.error_msg && t.status !== 'SUCCESS') lines.push(`  error: ${t.error_code ?? ''} ${t.error_msg}`);
  return lines.join('\n');
}

export interface WatchOptions {
  intervalMs: number;
  out: NodeJS.WriteStream;
  /** the live view; false: one line per change */
  tty: boolean;
  fetch: () => Promise<TaskBodyOut>;
}

/** Poll the task until it ends; returns its final body. */
export async function watchTask(o: WatchOptions): Promise<TaskBodyOut> {
  if (!o.tty) return watchPlain(o);
  const multi = new cliProgress.MultiBar(
    {
      stream: o.out,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      forceRedraw: true,
      noTTYOutput: false,
      fps: 5,
      barsize: 24,
      barCompleteChar: '█',
      barIncompleteChar: '░',
      format: (options, params, payload: { name: string; status: string; text: string; header?: boolean }) => {
        if (payload.header) return payload.name;
        const size = options.barsize ?? 24;
        const filled = Math.round((params.progress ?? 0) * size);
        const bar = (options.barCompleteChar ?? '#').repeat(filled) + (options.barIncompleteChar ?? '-').repeat(size - filled);
        return `  ${bar} ${params.value.toFixed(2).padStart(6)}%  ${payload.status.padEnd(16)} ${payload.name}${payload.text ? '  ' + payload.text : ''}`;
      },
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  let last: TaskBodyOut;
  try {
    for (;;) {
      last = await o.fetch();
      const title = `${last.action_name} ${last.status} (${last.cluster_name}) ${last.progress ?? ''}`;
      const head = bars.get('#title') ?? multi.create(100, 0, { name: title, status: '', text: '', header: true });
      bars.set('#title', head);
      head.update(0, { name: title, status: '', text: '', header: true });
      for (const [i, item] of last.items.entries()) {
        const key = `#item${i}`;
        if (!bars.has(key)) bars.set(key, multi.create(100, 0, { name: item.item_name, status: '', text: '', header: true }));
        for (const s of item.sub_items) {
          const d = describe(s);
          const k = `${i}:${s.step ?? s.sub_item_name}`;
          const payload = { name: s.sub_item_name, status: s.status, text: d.text };
          const bar = bars.get(k) ?? multi.create(100, 0, payload);
          bars.set(k, bar);
          bar.update(d.percent, payload);
        }
      }
      if (TERMINAL.has(last.status)) break;
      await new Promise((r) => setTimeout(r, o.intervalMs));
    }
  } finally {
    multi.stop();
  }
  const failed = last.items.flatMap((x) => x.sub_items).find((s) => s.status === 'FAILED' || s.status === 'ROLLBACK_FAIL');
  if (failed) {
    const pi = progressInfoOf(failed);
    o.out.write(
      `failed step ${String(pi['failedStep'] ?? failed.step ?? '')} (${failed.sub_item_name}): ${String(pi['errorCode'] ?? '')} ${String(pi['errorMsg'] ?? '')}\n`,
    );
  }
  return last;
}

async function watchPlain(o: WatchOptions): Promise<TaskBodyOut> {
  const seen = new Map<string, string>();
  for (;;) {
    const t = await o.fetch();
    for (const item of t.items) {
      for (const s of item.sub_items) {
        const k = `${item.item_name}/${s.step ?? s.sub_item_name}`;
        if (seen.get(k) !== s.status) {
          seen.set(k, s.status);
          if (s.status !== 'WAITING') o.out.write(`${new Date().toISOString()} ${s.status.padEnd(16)} ${s.sub_item_name}\n`);
        }
      }
    }
    if (TERMINAL.has(t.status)) {
      o.out.write(`${renderTask(t)}\n`);
      return t;
    }
    await new Promise((r) => setTimeout(r, o.intervalMs));
  }
}

/** The newest task of a cluster (after a mutating call that returns no job id). */
export async function newestTask(client: DwsClient, clusterId: string): Promise<TaskBodyOut | null> {
  const r = await client.call<{ tasks: TaskBodyOut[] }>('GET', `/dwsbox/v1/{project_id}/clusters/${clusterId}/tasks?limit=1`);
  return r.tasks[0] ?? null;
}
