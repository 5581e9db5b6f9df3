/**
 * The kinds of event dwsbox records (D26; services/events.ts makes them), as ListEventSpecs
 * shows them and event subscriptions filter them: each kind's display name, category,
 * severities, what its `subject` names and what it means. Every kind here is recorded by the
 * service; a kind it does not record is not listed.
 */
export type EventCategory = 'management' | 'monitor' | 'system alarm';

export interface EventSpec {
  /** the event's `name` (its kind) */
  kind: string;
  displayName: string;
  category: EventCategory;
  /** the severities events of this kind are recorded with */
  severities: readonly string[];
  /** what an event's `subject` names */
  subject: string;
  description: string;
}

/** The source type of every event dwsbox records: a cluster. */
export const EVENT_SOURCE_TYPE = 'cluster';

/** The SDK's values of each subscription filter (CreateEventSub's documentation); dwsbox records `cluster` events of the first two categories. */
export const SUBSCRIPTION_SOURCE_TYPES = ['cluster', 'backup', 'disaster-recovery', 'data.migration', 'dws.ingestion'] as const;
export const SUBSCRIPTION_CATEGORIES = ['management', 'monitor', 'security', 'system alarm'] as const;
/** normal and warning as the SDK documents; major is dwsbox's (a failover, the primary down, read-only on, a failed rollback). */
export const EVENT_SEVERITIES = ['normal', 'warning', 'major'] as const;

/** An event's category: a task's events are `management`, an alarm's raising and clearing `system alarm`, what the health monitor observed `monitor`. */
export function eventCategory(kind: string): EventCategory {
  return kind.startsWith('task_') ? 'management' : kind.startsWith('alarm') ? 'system alarm' : 'monitor';
}

export const EVENT_SPECS: readonly EventSpec[] = [
  {
    kind: 'task_started',
    displayName: 'Task started',
    category: 'management',
    severities: ['normal'],
    subject: 'the task id',
    description: 'A task of the cluster (create, restart, scale, snapshot, restore, …) started running.',
  },
  {
    kind: 'task_succeeded',
    displayName: 'Task succeeded',
    category: 'management',
    severities: ['normal'],
    subject: 'the task id',
    description: 'A task of the cluster ended in SUCCESS.',
  },
  {
    kind: 'task_failed',
    displayName: 'Task failed',
    category: 'management',
    severities: ['warning', 'major'],
    subject: 'the task id',
    description:
      'A task of the cluster failed (FAILED or ROLLBACK_SUCCESS: warning; ROLLBACK_FAIL, its rollback failed too: major); the message carries its error.',
  },
  {
    kind: 'member_down',
    displayName: 'Node down',
    category: 'monitor',
    severities: ['warning', 'major'],
    subject: "the node's ordinal",
    description: 'The health monitor found a member of a running cluster not running (major for the primary).',
  },
  {
    kind: 'member_up',
    displayName: 'Node back',
    category: 'monitor',
    severities: ['normal'],
    subject: "the node's ordinal",
    description: 'A member the health monitor had found down runs again.',
  },
  {
    kind: 'failover',
    displayName: 'Failover',
    category: 'monitor',
    severities: ['major'],
    subject: "the new primary's ordinal",
    description: 'The failover manager (Patroni) made another member the primary while no task of the service ran.',
  },
  {
    kind: 'dcs_lost',
    displayName: 'etcd lost, primary on failsafe',
    category: 'monitor',
    severities: ['major'],
    subject: "the primary's ordinal",
    description:
      "The cluster's members cannot reach a majority of etcd (the DCS): Patroni's failsafe mode keeps the primary writable while every member answers it, and no failover can happen until etcd is back.",
  },
  {
    kind: 'dr_lag_high',
    displayName: 'Disaster recovery lagging',
    category: 'monitor',
    severities: ['major'],
    subject: 'the pairing id',
    description:
      "A disaster-recovery standby is further behind its production cluster than the pairing's dr_sync_period: the commits of that last stretch would be lost in a failover now (the RPO).",
  },
  {
    kind: 'dr_lag_normal',
    displayName: 'Disaster recovery caught up',
    category: 'monitor',
    severities: ['normal'],
    subject: 'the pairing id',
    description: "A standby that was lagging is within the pairing's dr_sync_period again.",
  },
  {
    kind: 'dr_pause_restored',
    displayName: 'Disaster recovery pause applied again',
    category: 'monitor',
    severities: ['warning'],
    subject: 'the pairing id',
    description:
      'A paused pairing found members of its standby replaying again (a paused replay does not survive a restart): they were paused again.',
  },
  {
    kind: 'dcs_back',
    displayName: 'etcd back',
    category: 'monitor',
    severities: ['normal'],
    subject: "the primary's ordinal",
    description: 'The cluster reaches etcd again after an outage: failsafe mode is off, failovers can happen again.',
  },
  {
    kind: 'switchover',
    displayName: 'Switchover',
    category: 'monitor',
    severities: ['normal'],
    subject: "the new primary's ordinal",
    description: 'A planned switchover (SwitchOverCluster) succeeded.',
  },
  {
    kind: 'repair',
    displayName: 'Repaired',
    category: 'monitor',
    severities: ['warning'],
    subject: '',
    description:
      'The health monitor mended what the failover manager left broken (a lost synchronous standby reset); the message says what.',
  },
  {
    kind: 'read_only_on',
    displayName: 'Read-only protection on',
    category: 'monitor',
    severities: ['major'],
    subject: '',
    description: "The cluster was made read-only: a member's data passed the read-only threshold of its node type's disk.",
  },
  {
    kind: 'read_only_off',
    displayName: 'Read-only protection off',
    category: 'monitor',
    severities: ['normal'],
    subject: '',
    description: 'The cluster is writable again: its data is back below the threshold.',
  },
  {
    kind: 'read_only_armed',
    displayName: 'Read-only protection armed',
    category: 'monitor',
    severities: ['normal'],
    subject: '',
    description: 'The read-only protection, lifted by a user, is armed again: the data is below the threshold.',
  },
  {
    kind: 'read_only_lifted',
    displayName: 'Read-only protection lifted',
    category: 'monitor',
    severities: ['warning'],
    subject: '',
    description: 'A user lifted the read-only protection (CancelReadonlyCluster); it arms again once the data is below the threshold.',
  },
  {
    kind: 'alarm_raised',
    displayName: 'Alarm raised',
    category: 'system alarm',
    severities: ['normal', 'warning', 'major'],
    subject: 'the alarm rule and the alarm: <rule id>:<alarm id>',
    description:
      "An alarm rule (ListAlarmConfigs) was raised for a member from the collected metrics; the severity follows the alarm's level (urgent and important: major, minor: warning, prompt: normal); the message names the member, the figure and the threshold.",
  },
  {
    kind: 'alarm_cleared',
    displayName: 'Alarm cleared',
    category: 'system alarm',
    severities: ['normal'],
    subject: 'the alarm rule and the alarm: <rule id>:<alarm id>',
    description:
      'An alarm cleared: the figure is back under its threshold, the member answers again, or its cluster was stopped or deleted.',
  },
];

/** The display name of a kind (the kind itself for one not in the catalogue). */
export function eventDisplayName(kind: string): string {
  return EVENT_SPECS.find((s) => s.kind === kind)?.displayName ?? kind;
}
