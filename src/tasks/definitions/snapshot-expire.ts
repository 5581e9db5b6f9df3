/**
 * snapshot.expire: the repository task of a stanza (D2). It belongs to the stanza, not to a
 * cluster, so it also runs after the cluster is gone; it expires every backup set that no
 * visible snapshot needs, and loops until none is left.
 */
import type { NoState, TaskDefinition } from '../definition.js';
import { expireUnneeded } from './snapshot-chain.js';

export interface SnapshotExpireParams {
  stanza: string;
}

export const snapshotExpire: TaskDefinition<SnapshotExpireParams, NoState, never> = {
  kind: 'snapshot.expire',
  maxAttempts: 5,
  plan: () => [{ id: 'EXPIRE_BACKUPS', item: 'EXPIRE', runsTools: true }],
  steps: {
    EXPIRE_BACKUPS: async (ctx) => {
      const expired = await expireUnneeded(
        {
          store: ctx.store,
          dataPlane: ctx.dataPlane,
          log: ctx.log,
          lockFile: ctx.lockFile,
          signal: ctx.signal,
          now: () => ctx.clock.now(),
          write: ctx.write,
        },
        ctx.params.stanza,
      );
      ctx.progress({ source: 'pgbackrest expire', percent: 100, info: { expired: expired.join(',') || 'none' } });
    },
  },
};
