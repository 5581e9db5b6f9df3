/**
 * The audit trail (issue 17, ListAuditLog): each mutating API call that was authenticated, with
 * who made it (the access key or user name and how it signed in), what (method, route, the
 * cluster it names), when (received and answered) and the result (status; the DWS error code and
 * message of a refusal or failure). Written by the API edge after the answer (api/app.ts), kept
 * `auditRetentionDays`.
 */
export interface AuditRecord {
  id: string;
  projectId: string;
  clusterId: string | null;
  startedAt: number;
  finishedAt: number;
  principal: string;
  authMethod: 'aksk' | 'token';
  method: string;
  route: string;
  status: number;
  errorCode: string | null;
  errorMessage: string | null;
  requestId: string;
}

/** Methods whose calls are audited: every one that may change something. */
export const AUDITED_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The cluster a call names when its path does not: a snapshot's (CreateSnapshot's body
 * `snapshot.cluster_id`) or the one it made (a create's or a restore's answer `cluster.id`).
 * Null when none (a subscription's `cluster_id` is a filter, not the call's object).
 */
export function auditedCluster(body: unknown, answer: string | null): string | null {
  const fromBody = (body as { snapshot?: { cluster_id?: unknown } } | null | undefined)?.snapshot?.cluster_id;
  if (typeof fromBody === 'string') return fromBody;
  if (!answer || answer[0] !== '{') return null;
  try {
    const id = (JSON.parse(answer) as { cluster?: { id?: unknown } }).cluster?.id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}
