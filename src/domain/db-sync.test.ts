import { describe, expect, it } from 'vitest';
import { failReason, FAIL_REASON_MAX, planSync, syncRecordView, type SyncedRoleRecord } from './db-sync.js';

const u = (name: string, id = `id-${name}`) => ({ id, name, role: 'readonly' });
const rec = (roleName: string, roleOid: number, userId = `id-${roleName}`): SyncedRoleRecord => ({
  clusterId: 'c1',
  roleName,
  roleOid,
  userId,
  syncedAt: 1,
});

describe('planSync', () => {
  it('adds, keeps, re-binds, drops and fails, by name order; a synced record whose OID changed is stale', () => {
    const roles = new Map([
      ['kept', 10],
      ['rebound', 11],
      ['gone', 12],
      ['replaced', 99],
      ['manual', 14],
      ['dbadmin', 15],
      ['postgres', 16],
    ]);
    const plan = planSync(
      'p1',
      [u('new_one'), u('kept'), u('rebound', 'id-new'), u('manual'), u('Bad.Name'), u('dbadmin'), u('pg_x'), u('replaced')],
      roles,
      [rec('kept', 10), rec('rebound', 11), rec('gone', 12), rec('replaced', 13)],
      'dbadmin',
    );
    expect(plan.stale.map((r) => r.roleName)).toEqual(['replaced']);
    expect(plan.unchanged).toEqual(['kept']);
    expect(plan.actions.map((a) => [a.kind, a.name])).toEqual([
      ['fail', 'Bad.Name'],
      ['fail', 'dbadmin'],
      ['fail', 'manual'],
      ['add', 'new_one'],
      ['fail', 'pg_x'],
      ['update', 'rebound'],
      ['fail', 'replaced'],
      ['delete', 'gone'],
    ]);
    const why = Object.fromEntries(plan.actions.flatMap((a) => (a.kind === 'fail' ? [[a.name, a.why]] : [])));
    expect(why['Bad.Name']).toMatch(/lower-case/);
    expect(why['dbadmin']).toMatch(/administrator/);
    expect(why['pg_x']).toMatch(/reserved/);
    expect(why['manual']).toMatch(/not made by a sync/);
    const add = plan.actions.find((a) => a.kind === 'add')!;
    expect(add.kind === 'add' && add.comment).toBe('dwsbox user new_one (id id-new_one, readonly) of project p1, synced by SyncIamUsers');
  });

  it('fail_reason: each failure, the reason a sync stopped first, capped; null when none', () => {
    expect(failReason([], null)).toBeNull();
    expect(failReason([{ name: 'a', why: 'x' }], 'primary gone')).toBe('sync stopped: primary gone; a: x');
    const long = failReason(
      Array.from({ length: 500 }, (_, i) => ({ name: `user${i}`, why: 'a reason of some length' })),
      null,
    )!;
    expect(long.length).toBe(FAIL_REASON_MAX);
    expect(long.endsWith('…')).toBe(true);
  });

  it('the record as the SDK shows it: end_time and fail_reason absent while there are none', () => {
    const base = {
      id: 's1',
      projectId: 'p1',
      clusterId: 'c1',
      status: 'RUNNING' as const,
      startTime: 5,
      endTime: null,
      addCount: 0,
      updateCount: 0,
      deleteCount: 0,
      failedCount: 0,
      failReason: null,
    };
    expect(syncRecordView(base)).toEqual({
      id: 's1',
      identity_source_id: 'p1',
      identity_source_type: 'DWSBOX_USERS',
      start_time: 5,
      add_count: 0,
      update_count: 0,
      delete_count: 0,
      failed_count: 0,
      status: 'RUNNING',
    });
    expect(syncRecordView({ ...base, status: 'SUCCESS', endTime: 9, failReason: 'x' })).toMatchObject({ end_time: 9, fail_reason: 'x' });
  });
});
