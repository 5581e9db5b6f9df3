/**
 * The members a live read or change on a cluster runs against: its running primary, or every
 * running member; a stopped cluster, or one whose primary is down, is refused with a 409 that
 * says what to do.
 */
import type { ClusterRecord, NodeRecord } from '../domain/records.js';
import { AppError } from '../errors/app-error.js';
import type { DataPlane } from '../dataplane/data-plane.js';
import type { Store } from '../store/store.js';

type Deps = { store: Pick<Store, 'listNodes'>; dataPlane: Pick<DataPlane, 'memberStatus'> };

/** Its active members that run, the primary first; `what` names the call in the refusal of a stopped cluster or a down primary. */
export async function runningMembers(deps: Deps, c: ClusterRecord, what: string): Promise<{ primary: NodeRecord; members: NodeRecord[] }> {
  if (c.stopped) throw new AppError('CLUSTER_STATE_CONFLICT', { args: [c.name, `it is stopped; start it to ${what}`] });
  const members = (await deps.store.listNodes(c.id)).filter((n) => n.membership === 'active' && deps.dataPlane.memberStatus(c, n));
  const primary = members.find((n) => n.role === 'primary');
  if (!primary)
    throw new AppError('CLUSTER_STATE_CONFLICT', { args: [c.name, 'its primary node is not running; restart the cluster first'] });
  return { primary, members: [primary, ...members.filter((n) => n !== primary)] };
}
