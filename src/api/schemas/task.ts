/** Task wire schemas: the task-details body (reference §2), jobs (§5.1), faults (D13). */
import { Type } from '@sinclair/typebox';
import { Nullable } from './primitives.js';

export const SubItem = Type.Object({
  status: Type.String(),
  detail: Type.String({ description: 'JSON string {"progressInfo": "<JSON string>"}' }),
  sub_item_name: Type.String(),
  begin_time: Nullable(Type.String()),
  end_time: Nullable(Type.String()),
  estimated_time: Type.Integer(),
  step: Type.String({ description: 'dwsbox: the stable step id' }),
});
export const Item = Type.Object({ item_name: Type.String(), sub_items: Type.Array(SubItem) });
export const TaskBody = Type.Object({
  id: Type.String(),
  action_name: Type.String(),
  status: Type.String(),
  cluster_name: Type.String(),
  submit_time: Type.String(),
  items: Type.Array(Item),
  kind: Type.String(),
  progress: Type.String(),
  end_time: Nullable(Type.String()),
  error_code: Nullable(Type.String()),
  error_msg: Nullable(Type.String()),
  failed_step: Nullable(Type.String()),
});
export const TaskList = Type.Object({ tasks: Type.Array(TaskBody), count: Type.Integer() });

export const JobBody = Type.Object({
  job_id: Type.String(),
  job_name: Type.String(),
  begin_time: Type.String(),
  end_time: Type.String(),
  status: Type.String(),
  failed_code: Type.String(),
  failed_detail: Type.String(),
  progress: Type.String(),
});

export const FaultIn = Type.Object({
  cluster_id: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  action_name: Type.String({ maxLength: 64 }),
  step: Type.String({ maxLength: 64 }),
  mode: Type.String({ maxLength: 16 }),
  point: Type.Optional(Type.String({ maxLength: 16 })),
  delay_ms: Type.Optional(Nullable(Type.Integer())),
  times: Type.Optional(Nullable(Type.Integer())),
});
export const FaultOut = Type.Object({
  id: Type.String(),
  cluster_id: Nullable(Type.String()),
  action_name: Type.String(),
  step: Type.String(),
  mode: Type.String(),
  point: Type.String(),
  delay_ms: Nullable(Type.Integer()),
  times: Nullable(Type.Integer()),
  created: Type.String(),
});
