/** ListAlarmConfigs, ListAlarmDetail, ListAlarmStatistic (issue 17; services/alarm-service.ts). */
import { Type } from '@sinclair/typebox';

const PageNumber = Type.String({ pattern: '^[0-9]{1,6}$', description: 'a page number minus 1' });
const PageSize = Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: 'the page size' });
const TimeZone = Type.String({ maxLength: 16, description: 'GMT±hh:mm, e.g. GMT+08:00 (default UTC)' });

export const ListAlarmConfigsQuery = Type.Object({ offset: Type.Optional(PageNumber), limit: Type.Optional(PageSize) });
export const ListAlarmConfigsResponse = Type.Object({
  count: Type.Integer(),
  alarm_configs: Type.Array(
    Type.Object({
      id: Type.String(),
      alarm_id: Type.String(),
      alarm_name: Type.String(),
      alarm_level: Type.String({ description: 'urgent, important, minor or prompt' }),
      name_space: Type.String(),
      is_user_visible: Type.Boolean(),
      is_maintain_visible: Type.Boolean(),
      is_converge: Type.Boolean({ description: 'whether it is raised only once its condition held over converge_time' }),
      converge_time: Type.Integer({ description: 'seconds (the alarmForSeconds setting)' }),
      threshold: Type.Number(),
      unit: Type.String(),
    }),
  ),
});

export const ListAlarmDetailQuery = Type.Object({
  time_zone: Type.Optional(TimeZone),
  offset: Type.Optional(PageNumber),
  limit: Type.Optional(PageSize),
  from: Type.Optional(Type.String({ pattern: '^[0-9]{1,16}$', description: 'epoch ms' })),
  to: Type.Optional(Type.String({ pattern: '^[0-9]{1,16}$', description: 'epoch ms' })),
  recent_day: Type.Optional(Type.String({ pattern: '^([1-9]|[1-2][0-9]|30)$', description: 'the last N days (1–30); default 7' })),
});
export const ListAlarmDetailResponse = Type.Object({
  count: Type.Integer(),
  alarm_details: Type.Array(
    Type.Object({
      id: Type.String(),
      alarm_id: Type.String(),
      alarm_name: Type.String(),
      alarm_level: Type.String(),
      alarm_source: Type.String(),
      alarm_message: Type.String(),
      alarm_location: Type.String(),
      resource_id: Type.String(),
      resource_id_name: Type.String(),
      alarm_generate_date: Type.String(),
      alarm_status: Type.String({ description: 'active or cleared' }),
      raised_at: Type.Number(),
      cleared_at: Type.Union([Type.Number(), Type.Null()]),
      instance_name: Type.String(),
    }),
  ),
});

export const ListAlarmStatisticQuery = Type.Object({ time_zone: Type.Optional(TimeZone) });
export const ListAlarmStatisticResponse = Type.Object({
  alarm_statistics: Type.Array(
    Type.Object({ date: Type.String(), urgent: Type.String(), important: Type.String(), minor: Type.String(), prompt: Type.String() }),
  ),
});
