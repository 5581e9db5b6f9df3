/** ListAlarmConfigs, ListAlarmDetail, ListAlarmStatistic (issue 17; services/alarm-service.ts). */
import { Type, type Static } from '@sinclair/typebox';
import type { EventSubView } from '../../services/event-subscriptions.js';
import { Delivery, deliveryOut } from './event.js';

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

const alarmSubFields = {
  alarm_level: Type.Optional(
    Type.String({ maxLength: 128, description: 'comma-separated levels (urgent, important, minor, prompt); empty: all' }),
  ),
  cluster_id: Type.Optional(Type.String({ maxLength: 64 * 20 + 19, description: 'comma-separated clusters of the project; empty: all' })),
  enable: Type.Optional(Type.Integer({ minimum: 0, maximum: 1 })),
  notification_target_name: Type.Optional(Type.String({ maxLength: 128 })),
  time_zone: Type.Optional(TimeZone),
  language: Type.Optional(Type.String({ maxLength: 8, description: 'en-us or zh-cn; kept and shown' })),
};
export const CreateAlarmSubBody = Type.Object({
  name: Type.String({
    maxLength: 64,
    description: "1 to 64 letters, digits, - and _, starting with a letter; unique among the project's event and alarm subscriptions",
  }),
  alarm_detail: Type.Optional(Type.String({ maxLength: 1024, description: 'comma-separated alarm_ids (ListAlarmConfigs); empty: all' })),
  ...alarmSubFields,
  notification_target: Type.String({
    maxLength: 2048,
    description: 'dwsbox: the http(s) URL each alarm event is POSTed to, signed, as event subscriptions do',
  }),
  notification_target_type: Type.String({ maxLength: 16, description: 'dwsbox: HTTP or HTTPS (DWS: SMN)' }),
});
export type CreateAlarmSubBody = Static<typeof CreateAlarmSubBody>;
export const UpdateAlarmSubBody = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 64 })),
  alarm_details: Type.Optional(Type.String({ maxLength: 1024, description: 'comma-separated alarm_ids; empty: all' })),
  ...alarmSubFields,
  notification_target: Type.Optional(Type.String({ maxLength: 2048 })),
  notification_target_type: Type.Optional(Type.String({ maxLength: 16 })),
});
export type UpdateAlarmSubBody = Static<typeof UpdateAlarmSubBody>;
export const AlarmSubParams = Type.Object({ project_id: Type.String({ maxLength: 64 }), alarm_sub_id: Type.String({ maxLength: 64 }) });
export const ListAlarmSubsQuery = Type.Object({ offset: Type.Optional(PageNumber), limit: Type.Optional(PageSize) });

export const AlarmSubResponse = Type.Object({
  id: Type.String(),
  name: Type.String(),
  enable: Type.Integer(),
  alarm_level: Type.String(),
  alarm_details: Type.String({ description: 'the alarm_ids it covers, comma-separated; empty: all' }),
  cluster_id: Type.String(),
  project_id: Type.String(),
  name_space: Type.String(),
  notification_target: Type.String(),
  notification_target_name: Type.String(),
  notification_target_type: Type.String(),
  language: Type.String(),
  time_zone: Type.String(),
  delivery: Delivery,
  secret: Type.Optional(
    Type.String({ description: "dwsbox, CreateAlarmSub only: the key of the deliveries' HMAC-SHA256 signatures; never shown again" }),
  ),
});
export const ListAlarmSubsResponse = Type.Object({ count: Type.Integer(), alarm_subscriptions: Type.Array(AlarmSubResponse) });

export function alarmSubOut(v: EventSubView, secret?: string): Static<typeof AlarmSubResponse> {
  const s = v.sub;
  return {
    id: s.id,
    name: s.name,
    enable: s.enabled ? 1 : 0,
    alarm_level: s.alarmLevels.join(','),
    alarm_details: s.alarmIds.join(','),
    cluster_id: s.sourceIds.join(','),
    project_id: s.projectId,
    name_space: 'DWS',
    notification_target: s.endpoint,
    notification_target_name: s.targetName,
    notification_target_type: s.targetType,
    language: s.language || 'en-us',
    time_zone: s.timeZone,
    delivery: deliveryOut(v),
    ...(secret !== undefined ? { secret } : {}),
  };
}
