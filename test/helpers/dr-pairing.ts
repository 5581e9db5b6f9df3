/** A disaster-recovery pairing's record, for tests that write one into the store (no replication behind it). */
import { randomUUID } from 'node:crypto';
import { drSlotName, type DisasterRecoveryRecord } from '../../src/domain/disaster-recovery.js';

/** An unstarted pairing of the two clusters, created ten minutes ago; `o` sets the rest. */
export function pairingRecord(
  o: Partial<DisasterRecoveryRecord> & Pick<DisasterRecoveryRecord, 'projectId' | 'name' | 'primaryClusterId' | 'standbyClusterId'>,
): DisasterRecoveryRecord {
  const id = o.id ?? randomUUID();
  const now = Date.now();
  return {
    id,
    drType: 'az',
    syncPeriod: '1H',
    status: 'unstart',
    slot: drSlotName(id),
    discardStandbyData: false,
    rolesSwapped: false,
    lastSwitchAt: null,
    lastSwitchMs: null,
    error: null,
    createdAt: now - 10 * 60_000,
    startedAt: null,
    updatedAt: now,
    deletedAt: null,
    ...o,
  };
}
