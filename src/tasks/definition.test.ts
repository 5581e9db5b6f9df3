/**
 * Typed task definitions: checked by the type checker (`npm test` runs tsc first; each
 * `@ts-expect-error` below fails the check when the line it marks compiles).
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { NoState, OutcomeContext, StepContext, TaskDefinition } from './definition.js';
import { clusterScaleOut } from './definitions/cluster-scale.js';
import { snapshotCreate } from './definitions/snapshot-create.js';

interface Params {
  clusterId: string;
}
interface State {
  label: string;
  count: number;
}
interface Checkpoint {
  targetLsn?: string;
}

describe('typed task definitions', () => {
  it("a step sees its kind's parameters, its state (every field may be missing) and its checkpoint (null until set)", () => {
    const def: TaskDefinition<Params, State, Checkpoint> = {
      kind: 'snapshot.create',
      maxAttempts: 1,
      plan: () => [{ id: 'A', item: 'X' }],
      steps: {
        A: async (ctx) => {
          expectTypeOf(ctx.params).toEqualTypeOf<Params>();
          expectTypeOf(ctx.task.params).toEqualTypeOf<Params>();
          expectTypeOf(ctx.state.label).toEqualTypeOf<string | undefined>();
          expectTypeOf(ctx.checkpoint).toEqualTypeOf<Checkpoint | null>();
          await ctx.setState({ count: 1 });
          // @ts-expect-error: not a field of the kind's state
          await ctx.setState({ other: 1 });
          // @ts-expect-error: a checkpoint of the wrong shape
          await ctx.setCheckpoint({ targetLsn: 5 });
        },
      },
      async extrasOnSuccess(o) {
        expectTypeOf(o.state.count).toEqualTypeOf<number | undefined>();
      },
    };
    expect(Object.keys(def.steps)).toEqual(['A']);
  });

  it('a kind that keeps no state and no checkpoint cannot set either', () => {
    const step = async (ctx: StepContext<Params, NoState, never>): Promise<void> => {
      expectTypeOf(ctx.checkpoint).toEqualTypeOf<null>();
      // @ts-expect-error: the kind keeps no state
      await ctx.setState({ label: 'x' });
      // @ts-expect-error: its steps keep no checkpoint
      await ctx.setCheckpoint({});
    };
    expect(typeof step).toBe('function');
  });

  it("helpers shared by several kinds take any kind's context", () => {
    const shared = (ctx: StepContext<unknown>): string => ctx.stepId;
    const outcome = (o: OutcomeContext<{ clusterId: string }>): string => o.params.clusterId;
    expectTypeOf(shared).toBeCallableWith({} as StepContext<Params, State, Checkpoint>);
    expectTypeOf(outcome).toBeCallableWith({} as OutcomeContext<Params, NoState>);
  });

  it('the definitions carry their own types', () => {
    type ScaleOutCheckpoint = Parameters<(typeof clusterScaleOut.steps)[string]>[0]['checkpoint'];
    expectTypeOf<ScaleOutCheckpoint>().toEqualTypeOf<{ checked?: true; copying?: true; targetLsn?: string } | null>();
    type SnapshotLabel = Parameters<(typeof snapshotCreate.steps)[string]>[0]['state']['label'];
    expectTypeOf<SnapshotLabel>().toEqualTypeOf<string | undefined>();
    expect(clusterScaleOut.kind).toBe('cluster.scale_out');
  });
});
