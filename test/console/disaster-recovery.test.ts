/**
 * The helpers of the console's disaster-recovery pages (issue 19): which operations a pairing's
 * status allows and which ask first, their requests, where the API's errors go, and the lag
 * series the pairing's page draws from the detail answers it read since it opened.
 */
import { describe, expect, it } from 'vitest';
import {
  CREATE_DR_FIELDS,
  LAG_WINDOW,
  PERIOD_FIELDS,
  actionRequest,
  allowedActions,
  appendLag,
  canChangePeriod,
  candidatesPath,
  checkNamePath,
  confirmationOf,
  drStatusClass,
  emptyLag,
  hasLagFigures,
  lagSpan,
  lastOperation,
  leadingSide,
  type DrSide,
  type LagSeries,
} from '../../console/src/disaster-recovery.js';
import { fieldOfError } from '../../console/src/model.js';
import { DR_STATUSES } from '../../src/domain/disaster-recovery.js';

describe('the operations a pairing offers', () => {
  it('are the ones its status allows, as the service accepts them', () => {
    const offered = Object.fromEntries(DR_STATUSES.map((s) => [s, allowedActions(s).join(',')]));
    expect(offered).toEqual({
      unstart: 'start,delete',
      starting: '',
      running: 'pause,switchover,failover,delete',
      stopping: '',
      stopped: 'start,failover,delete',
      switchovering: '',
      failovering: '',
      recovering: '',
      deleting: '',
      start_failed: 'start,delete',
      stop_failed: 'pause,delete',
      abnormal: 'failover,recovery,delete',
    });
  });

  it('ask first when they replace data, move the clients or lose what the standby had not received', () => {
    expect(confirmationOf('start', 'unstart')).toBe('confirmDrStart');
    expect(confirmationOf('start', 'start_failed')).toBe('confirmDrStart');
    expect(confirmationOf('start', 'stopped')).toBeNull(); // a resume changes no data
    expect(confirmationOf('pause', 'running')).toBeNull();
    expect(confirmationOf('switchover', 'running')).toBe('confirmDrSwitchover');
    expect(confirmationOf('failover', 'running')).toBe('confirmDrFailover');
    expect(confirmationOf('recovery', 'abnormal')).toBe('confirmDrRecovery');
    expect(confirmationOf('delete', 'unstart')).toBe('confirmDrDelete');
  });

  it("are sent to the pairing's paths (recovery is RestoreDisaster, delete a DELETE)", () => {
    expect(actionRequest('a/b', 'start')).toEqual({ method: 'POST', path: '/v2/{project_id}/disaster-recovery/a%2Fb/start' });
    expect(actionRequest('x', 'recovery')).toEqual({ method: 'POST', path: '/v2/{project_id}/disaster-recovery/x/recovery' });
    expect(actionRequest('x', 'failover').path).toBe('/v2/{project_id}/disaster-recovery/x/failover');
    expect(actionRequest('x', 'delete')).toEqual({ method: 'DELETE', path: '/v2/{project_id}/disaster-recovery/x' });
  });

  it('leave the sync period changeable except while the pairing is deleted', () => {
    expect(DR_STATUSES.filter((s) => !canChangePeriod(s))).toEqual(['deleting']);
  });

  it('show a status as a badge: running fine, waiting grey, busy running, failed bad', () => {
    expect(DR_STATUSES.map((s) => `${s}:${drStatusClass(s)}`)).toEqual([
      'unstart:wait',
      'starting:run',
      'running:ok',
      'stopping:run',
      'stopped:wait',
      'switchovering:run',
      'failovering:run',
      'recovering:run',
      'deleting:run',
      'start_failed:bad',
      'stop_failed:bad',
      'abnormal:bad',
    ]);
  });
});

describe("a pairing's sides", () => {
  const side = (id: string, role: DrSide['role']): DrSide => ({
    id,
    name: id,
    cluster_az: 'local-1a',
    role,
    region: 'local',
    status: 'AVAILABLE',
    progress: null,
    last_success_time: null,
    obs_bucket_name: null,
    datastore_version: '8.1.3',
    datastore_type: 'dws',
    disk_capacity: null,
    disk_used: null,
  });
  it('lead and follow by their role now (swapped after a switchover), whatever they were created as', () => {
    expect(leadingSide({ primary_cluster: side('p', 'primary'), standby_cluster: side('s', 'standby') })).toMatchObject({
      leading: { id: 'p' },
      following: { id: 's' },
    });
    expect(leadingSide({ primary_cluster: side('p', 'standby'), standby_cluster: side('s', 'primary') })).toMatchObject({
      leading: { id: 's' },
      following: { id: 'p' },
    });
  });
  it('take the last operation from the side it ran on, if any', () => {
    const none = { key: null, action_type: null, action_start_time: null, action_end_time: null };
    const op = { key: 't', action_type: 'DR_SWITCHOVER', action_start_time: '2026-12-07T10:00:00', action_end_time: null };
    expect(lastOperation({ primary_cluster: none, standby_cluster: none })).toBeNull();
    expect(lastOperation({ primary_cluster: op, standby_cluster: none })).toBe(op);
    expect(lastOperation({ primary_cluster: none, standby_cluster: op })).toBe(op);
  });
});

describe('the requests of the create form', () => {
  it('check a name and ask for the candidates of a production cluster', () => {
    expect(checkNamePath('dr one&x')).toBe('/v2/{project_id}/disaster-recovery/check-name?dr_name=dr+one%26x');
    expect(candidatesPath('c1')).toBe('/v2/{project_id}/disaster-recovery-clusters?primary_cluster_id=c1');
  });

  it("place the service's errors beside the field they are about", () => {
    const at = (msg: string, code: string): string | null => fieldOfError(msg, code, CREATE_DR_FIELDS);
    // the messages services/disaster-recovery-service.ts and the catalog write
    expect(at('The disaster recovery name dr-one already exists.', 'DWS.9934')).toBe('name');
    expect(at('Invalid request: dr_name: name must be 4 to 64 characters, a letter first, …, not "x"', 'DWS.0001')).toBe('name');
    expect(at('Invalid request: primary_cluster_id is required', 'DWS.0001')).toBe('primary_cluster_id');
    expect(at('Invalid request: standby_cluster_id is required', 'DWS.0001')).toBe('standby_cluster_id');
    expect(at('Invalid request: a cluster cannot be paired with itself', 'DWS.0001')).toBe('standby_cluster_id');
    expect(
      at(
        "Invalid request: the standby cluster must have the production cluster's node type and node count: a has 3 × dwsx.small, b 1 × dwsx.small",
        'DWS.0001',
      ),
    ).toBe('standby_cluster_id');
    expect(at('Invalid request: dr_sync_period must be a number of minutes, hours or days (30M, 1H, 2D), not "5X"', 'DWS.0001')).toBe(
      'dr_sync_period',
    );
    expect(at('Invalid request: discard_standby_data must be true or false', 'DWS.0001')).toBe('discard_standby_data');
    // not about one field: at the top of the form
    expect(at('Disaster recovery dr-one cannot be created now: cluster a is in pairing other already', 'DWS.9935')).toBeNull();
    expect(at('The cluster 123 does not exist.', 'DWS.0047')).toBeNull();
    expect(
      fieldOfError(
        'Invalid request: dr_sync_period must be a number of minutes, hours or days (30M, 1H, 2D), not ""',
        'DWS.0001',
        PERIOD_FIELDS,
      ),
    ).toBe('dr_sync_period');
  });
});

describe('the lag since the page opened', () => {
  const rep = (s: number | null, b: number | null) => ({ lag_seconds: s, lag_bytes: b });

  it('is one sample per answer, in the order they came, a gap (never a zero) where an answer had no figure', () => {
    let s = emptyLag();
    expect(hasLagFigures(s)).toBe(false);
    s = appendLag(s, 1000, null); // not started: no replication
    expect(hasLagFigures(s)).toBe(false);
    s = appendLag(s, 3000, rep(0, 0));
    s = appendLag(s, 5000, rep(1.5, 4096));
    s = appendLag(s, 7000, rep(null, 8192)); // the seconds unknown (no commit replayed yet)
    expect(s).toEqual({ xs: [1000, 3000, 5000, 7000], seconds: [null, 0, 1.5, null], bytes: [null, 0, 4096, 8192] });
    expect(hasLagFigures(s)).toBe(true);
  });

  it('leaves the series given as it was, and drops a sample not later than the last', () => {
    const a = appendLag(emptyLag(), 2000, rep(1, 10));
    const before = structuredClone(a);
    const b = appendLag(a, 4000, rep(2, 20));
    expect(a).toEqual(before);
    expect(b.xs).toEqual([2000, 4000]);
    expect(appendLag(b, 4000, rep(9, 90))).toBe(b);
    expect(appendLag(b, 3000, rep(9, 90))).toBe(b);
    expect(appendLag(b, Number.NaN, rep(9, 90))).toBe(b);
  });

  it('reads only finite numbers', () => {
    const s = appendLag(emptyLag(), 1, { lag_seconds: Number.POSITIVE_INFINITY, lag_bytes: '12' as unknown as number });
    expect(s.seconds).toEqual([null]);
    expect(s.bytes).toEqual([null]);
  });

  it('keeps the newest LAG_WINDOW samples (30 minutes at 2 s), the oldest going first', () => {
    let s: LagSeries = emptyLag();
    for (let i = 1; i <= LAG_WINDOW + 5; i++) s = appendLag(s, i * 2000, rep(i, i * 10));
    expect(LAG_WINDOW).toBe(900);
    expect(s.xs).toHaveLength(LAG_WINDOW);
    expect(s.xs[0]).toBe(6 * 2000);
    expect(s.seconds[0]).toBe(6);
    expect(s.xs.at(-1)).toBe((LAG_WINDOW + 5) * 2000);
    expect(s.bytes.at(-1)).toBe((LAG_WINDOW + 5) * 10);
    const small = [1, 2, 3].reduce((acc, i) => appendLag(acc, i, rep(i, i), 2), emptyLag());
    expect(small).toEqual({ xs: [2, 3], seconds: [2, 3], bytes: [2, 3] });
  });

  it('is drawn from its first sample to its last, at least a minute wide', () => {
    expect(lagSpan(emptyLag(), 500_000)).toEqual([500_000, 560_000]);
    const s = [0, 2000, 4000].reduce((acc, x) => appendLag(acc, 100_000 + x, rep(1, 1)), emptyLag());
    expect(lagSpan(s, 0)).toEqual([100_000, 160_000]);
    const long = [0, 120_000].reduce((acc, x) => appendLag(acc, 100_000 + x, rep(1, 1)), emptyLag());
    expect(lagSpan(long, 0)).toEqual([100_000, 220_000]);
  });
});
