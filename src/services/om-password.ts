/**
 * The operator's side of the O&M account (issue 16, domain/om-user.ts): a fresh password for
 * `dwsbox_om` of one cluster, set on its primary while the tenant has the account on, and
 * printed once to the operator (`dwsbox clusters om-password`, run on the host). Never stored.
 */
import type { DataPlane } from '../dataplane/data-plane.js';
import { newPassword } from '../domain/ids.js';
import { OM_ROLE } from '../domain/om-user.js';
import { AppError } from '../errors/app-error.js';
import type { Store } from '../store/store.js';

export interface OmLogin {
  user: string;
  password: string;
  host: string;
  port: number;
  /** when the tenant's consent ends (VALID UNTIL), ISO */
  expires: string;
}

export async function omPassword(store: Store, dataPlane: DataPlane, clusterId: string): Promise<OmLogin> {
  const c = await store.getClusterById(clusterId);
  if (!c || c.deletedAt) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
  const primary = (await store.listNodes(c.id)).find((n) => n.role === 'primary' && n.membership === 'active');
  if (!primary || !dataPlane.memberStatus(c, primary))
    throw new AppError('CLUSTER_STATE_CONFLICT', { args: [c.name, 'its primary node is not running'] });
  const password = newPassword();
  const row = await dataPlane.setOmPassword(c, primary, password);
  return { user: OM_ROLE, password, host: primary.host, port: primary.port, expires: new Date(row.validUntilMs!).toISOString() };
}
