/**
 * The read models the services build and the route schemas that validate and serialize them
 * describe the same shapes (pg-boss's typeDriftTest): a mismatch fails `tsc` on this file.
 */
import { describe, expectTypeOf, it } from 'vitest';
import type { Static } from '@sinclair/typebox';
import type { SubItemOut, TaskBody, JobBody } from '../../src/services/task-service.js';
import type { SubItem, TaskBody as TaskBodySchema, JobBody as JobBodySchema } from '../../src/api/schemas/task.js';

describe('route schemas and service read models', () => {
  it('agree on the task body, its sub-items and the job body', () => {
    expectTypeOf<SubItemOut>().toEqualTypeOf<Static<typeof SubItem>>();
    expectTypeOf<TaskBody>().toEqualTypeOf<Static<typeof TaskBodySchema>>();
    expectTypeOf<JobBody>().toEqualTypeOf<Static<typeof JobBodySchema>>();
  });
});
