/**
 * Event subscriptions (D26, issue 17; docs/api.md#event-subscriptions): CreateEventSub,
 * ListEventSubs, UpdateEventSub, DeleteEventSub and ListEventSpecs. A subscription names an
 * HTTP(S) endpoint (the SDK's `notification_target`; DWS would name an SMN topic there) to
 * which event-delivery.ts POSTs each event it covers, signed with the subscription's secret
 * (returned once, by CreateEventSub). Its cursor starts at the last event recorded when it is
 * made (or enabled again): it gets the events that happen from then on.
 */
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import type { Secrets } from '../auth/secrets.js';
import type { Clock } from '../domain/clock.js';
import {
  EVENT_SEVERITIES,
  EVENT_SOURCE_TYPE,
  EVENT_SPECS,
  SUBSCRIPTION_CATEGORIES,
  SUBSCRIPTION_SOURCE_TYPES,
  type EventSpec,
} from '../domain/event-specs.js';
import { newId } from '../domain/ids.js';
import { ALARM_LEVELS, ALARM_RULES } from '../domain/alarms.js';
import { checkEndpoint, literalHost, refusedAddress, urlPort, type ListenAddress } from '../domain/notify-endpoint.js';
import { freeTextProblem } from '../domain/text-fields.js';
import { AppError } from '../errors/app-error.js';
import type { EventSubscriptionRecord, Store } from '../store/store.js';

/** What CreateEventSub and UpdateEventSub carry (the SDK's EventSubRequest, camelCased); all optional for an update. */
export interface EventSubInput {
  name?: string | undefined;
  sourceType?: string | undefined;
  sourceId?: string | undefined;
  category?: string | undefined;
  severity?: string | undefined;
  tag?: string | undefined;
  enable?: number | undefined;
  notificationTarget?: string | undefined;
  notificationTargetName?: string | undefined;
  notificationTargetType?: string | undefined;
  timeZone?: string | undefined;
  /** an alarm subscription's (CreateAlarmSub, UpdateAlarmSub): its alarm rules and levels, comma-separated, and its language */
  alarmDetail?: string | undefined;
  alarmLevel?: string | undefined;
  language?: string | undefined;
  /** the name of the sources' field in the caller's body, for refusals (`cluster_id` for an alarm subscription) */
  sourceIdField?: string | undefined;
}

type Kind = EventSubscriptionRecord['kind'];
const LANGUAGES = ['en-us', 'zh-cn'] as const;

/** A subscription with its delivery state as read now. */
export interface EventSubView {
  sub: EventSubscriptionRecord;
  /** events after its cursor that it covers (0 while disabled: those are never sent) */
  pending: number;
}

export interface EventSubscriptionDeps {
  store: Store;
  secrets: Secrets;
  clock: Clock;
  /** most subscriptions a project may have */
  perProject: number;
  /** where this service listens (the API, /metrics): never an endpoint */
  selfAddresses: () => ListenAddress[];
  /** loopback, private and shared addresses allowed as endpoints (setting eventEndpointsPrivate) */
  privateAllowed?: boolean;
  /** this host's interface addresses (for a service listening on every address) */
  localAddresses?: () => string[];
}

const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const TIME_ZONE_RE = /^(GMT|UTC)[+-](0\d|1[0-4]):[0-5]\d$/;
const MAX_SOURCE_IDS = 20;

/** A comma-separated list of the field's accepted values, trimmed and without repeats; an unknown value is refused. */
function parseList(field: string, text: string | undefined, allowed: readonly string[] | null, max = 20): string[] {
  if (text === undefined || text.trim() === '') return [];
  const out: string[] = [];
  for (const raw of text.split(',')) {
    const v = raw.trim();
    if (v === '') continue;
    if (allowed && !allowed.includes(v))
      throw new AppError('VALIDATION', { args: [`${field}: ${JSON.stringify(v)} is not one of ${allowed.join(', ')}`] });
    if (!allowed && !/^[A-Za-z0-9-]{1,64}$/.test(v))
      throw new AppError('VALIDATION', { args: [`${field}: ${JSON.stringify(v)} is not an id`] });
    if (!out.includes(v)) out.push(v);
  }
  if (out.length > max) throw new AppError('VALIDATION', { args: [`${field}: at most ${max} values`] });
  return out;
}

export class EventSubscriptionService {
  constructor(private readonly deps: EventSubscriptionDeps) {}

  /** ListEventSpecs: the kinds of event dwsbox records, filtered as the SDK asks; a page of them and how many the filters cover. */
  specs(q: {
    specName?: string | undefined;
    category?: string | undefined;
    severity?: string | undefined;
    sourceType?: string | undefined;
    tag?: string | undefined;
    offset?: number | undefined;
    limit?: number | undefined;
  }): {
    specs: EventSpec[];
    count: number;
  } {
    const all = EVENT_SPECS.filter(
      (s) =>
        (!q.specName || s.kind === q.specName || s.displayName.toLowerCase().includes(q.specName.toLowerCase())) &&
        (!q.category || s.category === q.category) &&
        (!q.severity || s.severities.includes(q.severity)) &&
        (!q.sourceType || q.sourceType === EVENT_SOURCE_TYPE) &&
        // events carry no tags: a tag filter covers none
        !q.tag,
    );
    const offset = q.offset ?? 0;
    return { specs: all.slice(offset, offset + (q.limit ?? 100)), count: all.length };
  }

  async create(projectId: string, i: EventSubInput, kind: Kind = 'event'): Promise<{ view: EventSubView; secret: string }> {
    for (const f of ['name', 'notificationTarget', 'notificationTargetName', 'notificationTargetType'] as const)
      if (i[f] === undefined) throw new AppError('VALIDATION', { args: [`${snake(f)} is required`] });
    const fields = await this.check(projectId, i);
    const now = this.deps.clock.now();
    const secret = randomBytes(32).toString('hex');
    const sub = await this.deps.store.transaction(async (tx) => {
      const n = await tx.countEventSubs(projectId);
      if (n >= this.deps.perProject) throw new AppError('EVENT_SUB_QUOTA_EXCEEDED', { args: [n] });
      const rec: EventSubscriptionRecord = {
        id: newId(),
        projectId,
        name: fields.name!,
        sourceTypes: fields.sourceTypes ?? [],
        sourceIds: fields.sourceIds ?? [],
        categories: fields.categories ?? [],
        severities: fields.severities ?? [],
        tag: fields.tag ?? '',
        enabled: fields.enabled ?? true,
        endpoint: fields.endpoint!,
        targetName: fields.targetName!,
        targetType: fields.targetType!,
        timeZone: fields.timeZone ?? '',
        secret: this.deps.secrets.encrypt(secret),
        createdAt: now,
        updatedAt: now,
        cursorSeq: await tx.lastEventSeq(),
        deliveredEventId: null,
        deliveredAt: null,
        failedAttempts: 0,
        nextAttemptAt: now,
        lastError: null,
        lastErrorAt: null,
        leaseOwner: null,
        leaseUntil: null,
        kind,
        alarmIds: fields.alarmIds ?? [],
        alarmLevels: fields.alarmLevels ?? [],
        language: fields.language ?? '',
      };
      await tx.insertEventSub(rec);
      return rec;
    });
    return { view: { sub, pending: 0 }, secret };
  }

  async list(projectId: string, offset = 0, limit = 100, kind: Kind = 'event'): Promise<{ views: EventSubView[]; count: number }> {
    const { records, count } = await this.deps.store.listEventSubs(projectId, offset, limit, kind);
    return { views: await Promise.all(records.map((sub) => this.view(sub))), count };
  }

  async get(projectId: string, id: string, kind: Kind = 'event'): Promise<EventSubView> {
    const sub = await this.deps.store.getEventSub(projectId, id, kind);
    if (!sub) throw new AppError('EVENT_SUB_NOT_FOUND', { args: [id] });
    return this.view(sub);
  }

  async update(projectId: string, id: string, i: EventSubInput, kind: Kind = 'event'): Promise<EventSubView> {
    const { sourceIdField: _label, ...changes } = i;
    if (Object.values(changes).every((v) => v === undefined)) throw new AppError('VALIDATION', { args: ['the body changes nothing'] });
    const cur = await this.deps.store.getEventSub(projectId, id, kind);
    if (!cur) throw new AppError('EVENT_SUB_NOT_FOUND', { args: [id] });
    const f = await this.check(projectId, {
      notificationTargetType: cur.targetType,
      notificationTarget: cur.endpoint,
      ...stripUndefined(i),
    });
    const now = this.deps.clock.now();
    const patch: Partial<EventSubscriptionRecord> = { updatedAt: now };
    if (f.name !== undefined) patch.name = f.name;
    if (f.sourceTypes !== undefined) patch.sourceTypes = f.sourceTypes;
    if (f.sourceIds !== undefined) patch.sourceIds = f.sourceIds;
    if (f.categories !== undefined) patch.categories = f.categories;
    if (f.severities !== undefined) patch.severities = f.severities;
    if (f.tag !== undefined) patch.tag = f.tag;
    if (f.targetName !== undefined) patch.targetName = f.targetName;
    if (f.targetType !== undefined) patch.targetType = f.targetType;
    if (f.timeZone !== undefined) patch.timeZone = f.timeZone;
    if (f.alarmIds !== undefined) patch.alarmIds = f.alarmIds;
    if (f.alarmLevels !== undefined) patch.alarmLevels = f.alarmLevels;
    if (f.language !== undefined) patch.language = f.language;
    if (f.endpoint !== undefined && f.endpoint !== cur.endpoint) {
      // A new endpoint: the waiting event is tried there at once, its count of failures anew.
      Object.assign(patch, { endpoint: f.endpoint, failedAttempts: 0, nextAttemptAt: now });
    }
    if (f.enabled !== undefined && f.enabled !== cur.enabled) {
      patch.enabled = f.enabled;
      // Enabled again: it gets the events from now on (those of while it was disabled are not sent).
      if (f.enabled) Object.assign(patch, { cursorSeq: await this.deps.store.lastEventSeq(), failedAttempts: 0, nextAttemptAt: now });
    }
    if (!(await this.deps.store.updateEventSub(projectId, id, patch))) throw new AppError('EVENT_SUB_NOT_FOUND', { args: [id] });
    return this.get(projectId, id, kind);
  }

  async delete(projectId: string, id: string, kind: Kind = 'event'): Promise<EventSubView> {
    const view = await this.get(projectId, id, kind);
    if (!(await this.deps.store.deleteEventSub(projectId, id))) throw new AppError('EVENT_SUB_NOT_FOUND', { args: [id] });
    return view;
  }

  private async view(sub: EventSubscriptionRecord): Promise<EventSubView> {
    return { sub, pending: sub.enabled ? await this.deps.store.countSubPending(sub) : 0 };
  }

  /** The input's fields checked and parsed (only those it has). */
  private async check(
    projectId: string,
    i: EventSubInput,
  ): Promise<
    Partial<
      Pick<
        EventSubscriptionRecord,
        | 'name'
        | 'sourceTypes'
        | 'sourceIds'
        | 'categories'
        | 'severities'
        | 'tag'
        | 'enabled'
        | 'endpoint'
        | 'targetName'
        | 'targetType'
        | 'timeZone'
        | 'alarmIds'
        | 'alarmLevels'
        | 'language'
      >
    >
  > {
    const out: Awaited<ReturnType<EventSubscriptionService['check']>> = {};
    if (i.name !== undefined) {
      if (!NAME_RE.test(i.name))
        throw new AppError('INVALID_NAME', {
          args: ['subscription name', `${JSON.stringify(i.name)}: 1 to 64 letters, digits, - and _, starting with a letter`],
        });
      out.name = i.name;
    }
    if (i.sourceType !== undefined) out.sourceTypes = parseList('source_type', i.sourceType, SUBSCRIPTION_SOURCE_TYPES);
    if (i.category !== undefined) out.categories = parseList('category', i.category, SUBSCRIPTION_CATEGORIES);
    if (i.severity !== undefined) out.severities = parseList('severity', i.severity, EVENT_SEVERITIES);
    if (i.sourceId !== undefined) {
      const field = i.sourceIdField ?? 'source_id';
      const ids = parseList(field, i.sourceId, null, MAX_SOURCE_IDS);
      for (const cid of ids) {
        const c = await this.deps.store.getClusterById(cid);
        if (!c || c.projectId !== projectId || c.deletedAt !== null)
          throw new AppError('VALIDATION', { args: [`${field}: the project has no cluster ${cid}`] });
      }
      out.sourceIds = ids;
    }
    if (i.alarmDetail !== undefined)
      out.alarmIds = parseList(
        'alarm_detail',
        i.alarmDetail,
        ALARM_RULES.map((r) => r.id),
        ALARM_RULES.length,
      );
    if (i.alarmLevel !== undefined) out.alarmLevels = parseList('alarm_level', i.alarmLevel, ALARM_LEVELS);
    if (i.language !== undefined) {
      if (i.language !== '' && !(LANGUAGES as readonly string[]).includes(i.language))
        throw new AppError('VALIDATION', { args: [`language: ${JSON.stringify(i.language)} is not one of ${LANGUAGES.join(', ')}`] });
      out.language = i.language;
    }
    if (i.tag !== undefined) {
      const why = freeTextProblem(i.tag, 128);
      if (why) throw new AppError('VALIDATION', { args: [`tag: ${why}`] });
      out.tag = i.tag;
    }
    if (i.enable !== undefined) out.enabled = i.enable === 1;
    if (i.timeZone !== undefined) {
      if (i.timeZone !== '' && !TIME_ZONE_RE.test(i.timeZone))
        throw new AppError('VALIDATION', { args: [`time_zone: ${JSON.stringify(i.timeZone)} is not like GMT+08:00`] });
      out.timeZone = i.timeZone;
    }
    if (i.notificationTargetName !== undefined) {
      const why = i.notificationTargetName === '' ? 'must not be empty' : freeTextProblem(i.notificationTargetName, 128);
      if (why) throw new AppError('VALIDATION', { args: [`notification_target_name: ${why}`] });
      out.targetName = i.notificationTargetName;
    }
    if (i.notificationTarget !== undefined) out.endpoint = await this.checkTarget(i.notificationTarget);
    if (i.notificationTargetType !== undefined) {
      const t = i.notificationTargetType.toUpperCase();
      if (t !== 'HTTP' && t !== 'HTTPS')
        throw new AppError('VALIDATION', {
          args: [
            `notification_target_type ${JSON.stringify(i.notificationTargetType)}: dwsbox delivers to an HTTP(S) endpoint (no SMN here); send HTTP or HTTPS, the scheme of notification_target`,
          ],
        });
      out.targetType = t;
    }
    // The type names the endpoint's scheme (either may be the one changed).
    const endpoint = out.endpoint ?? i.notificationTarget;
    const type = out.targetType ?? i.notificationTargetType?.toUpperCase();
    if (endpoint !== undefined && type !== undefined && new URL(endpoint).protocol !== `${type.toLowerCase()}:`)
      throw new AppError('VALIDATION', { args: [`notification_target_type ${type} is not the scheme of notification_target`] });
    return out;
  }

  /** An endpoint as checkEndpoint allows it; a host name is looked up too (and again at each delivery). */
  private async checkTarget(raw: string): Promise<string> {
    const self = this.deps.selfAddresses();
    const local = this.deps.localAddresses?.() ?? [];
    const o = { privateAllowed: this.deps.privateAllowed === true };
    const r = checkEndpoint(raw, self, local, o);
    if ('refused' in r) throw new AppError('EVENT_SUB_ENDPOINT_REFUSED', { args: [JSON.stringify(raw.slice(0, 200)), r.refused] });
    if (!literalHost(r.url.hostname)) {
      const found = await lookup(r.url.hostname, { all: true }).catch(() => []);
      for (const a of found) {
        const why = refusedAddress(a.address, urlPort(r.url), self, local, o);
        if (why)
          throw new AppError('EVENT_SUB_ENDPOINT_REFUSED', {
            args: [JSON.stringify(raw.slice(0, 200)), `${r.url.hostname} resolves to ${why}`],
          });
      }
    }
    return r.url.href;
  }
}

const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
