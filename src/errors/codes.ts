/**
 * THE error catalog. Every error dwsbox reports has one entry here: its HTTP status, the DWS
 * wire code clients see in `error_code`, a message template (`%s` placeholders) and whether a
 * task step that fails with it may be retried. docs/errors.md lists every entry; a test keeps
 * the two in step. Codes in the DWS.99xx range are dwsbox's own (the real service has no
 * equivalent); every other wire code is the one the DWS API documents.
 */
export interface ErrorSpec {
  readonly httpStatus: number;
  readonly wireCode: string;
  readonly message: string;
  readonly retryable: boolean;
}

const spec = (httpStatus: number, wireCode: string, message: string, retryable = false): ErrorSpec => ({
  httpStatus,
  wireCode,
  message,
  retryable,
});

export const ERROR_CODES = {
  // --- request validation (400)
  VALIDATION: spec(400, 'DWS.0001', 'Invalid request: %s'),
  EMPTY_REQUEST: spec(400, 'DWS.0006', 'The request body is empty: %s'),
  INVALID_NAME: spec(400, 'DWS.5057', 'Invalid %s: %s'),
  INVALID_STRING_LENGTH: spec(400, 'DWS.5056', 'Invalid length of %s: %s'),
  INVALID_NODE_TYPE: spec(400, 'DWS.5006', 'Invalid node type %s: %s'),
  INVALID_NODE_COUNT: spec(400, 'DWS.5047', 'Invalid number of nodes: %s'),
  INVALID_AVAILABILITY_ZONE: spec(400, 'DWS.5011', 'Invalid availability zone %s: %s'),
  INVALID_USER_NAME: spec(400, 'DWS.5059', 'Invalid administrator user name: %s'),
  INVALID_PASSWORD: spec(400, 'DWS.5144', 'Invalid password: %s'),
  PASSWORD_CONTAINS_USER_NAME: spec(400, 'DWS.5145', 'The password must not be the user name or the user name reversed.'),
  INVALID_UUID: spec(400, 'DWS.5064', 'Invalid UUID in %s: %s'),
  NODE_QUOTA_EXCEEDED: spec(400, 'DWS.5091', 'Node quota exceeded: %s'),
  DATABASE_NOT_FOUND: spec(400, 'DWS.5172', 'Database %s does not exist in the snapshot.'),
  SCHEMA_NOT_FOUND: spec(400, 'DWS.5173', 'Schema %s does not exist.'),
  TABLE_NOT_FOUND: spec(400, 'DWS.5174', 'Table does not exist: %s'),
  TARGET_TABLE_EXISTS: spec(
    400,
    'DWS.9910',
    'Target table already exists in the cluster: %s. Choose another target name or drop the table first.',
  ),
  NOT_SUPPORTED: spec(400, 'DWS.9901', '%s is not supported by dwsbox: %s'),
  CAPACITY_EXCEEDED: spec(400, 'DWS.9906', 'This host cannot hold the request: %s'),
  INVALID_ACTION_NAME: spec(400, 'DWS.9907', 'Invalid action_name %s: expected one of %s.'),
  CRASH_FAULTS_DISABLED: spec(400, 'DWS.9908', 'Faults of mode "crash" need the service to run with --enable-crash-faults.'),
  SNAPSHOT_NOT_RESTORABLE: spec(400, 'DWS.9909', 'Snapshot %s cannot be restored: %s'),
  SNAPSHOT_NOT_COPYABLE: spec(400, 'DWS.9911', 'Snapshot %s cannot be copied: %s'),
  RESTORE_TIME_OUTSIDE_WINDOW: spec(400, 'DWS.9983', 'The restore time %s is outside the restorable window of cluster %s: %s.'),
  // --- fair shares between projects (docs/security.md)
  POLICY_TOO_FREQUENT: spec(
    400,
    'DWS.9960',
    'Invalid %s: the schedule fires %s apart at its closest; a strategy may fire at most once every %s on this service (setting policyMinIntervalMs).',
  ),
  SNAPSHOT_QUOTA_EXCEEDED: spec(400, 'DWS.9961', 'Snapshot quota exceeded: %s'),
  INSUFFICIENT_SNAPSHOT_SPACE: spec(400, 'DWS.9962', 'Not enough free space for the snapshot: %s'),
  DB_USER_REFUSED: spec(400, 'DWS.9970', 'Database user %s refused: %s'),
  EVENT_SUB_ENDPOINT_REFUSED: spec(400, 'DWS.9991', 'The notification endpoint %s is refused: %s'),
  EVENT_SUB_QUOTA_EXCEEDED: spec(
    400,
    'DWS.9992',
    'The project has %s event and alarm subscriptions, the most this service allows (setting eventSubscriptionsPerProject).',
  ),
  DB_AUTHORITY_REFUSED: spec(400, 'DWS.9975', 'Privilege change refused: %s'),
  TENANT_FAULTS_DISABLED: spec(
    400,
    'DWS.9963',
    'The faults API is off on this service: the operator must enable tenant faults (setting enableTenantFaults, --enable-tenant-faults) before faults can be added.',
  ),
  PAYLOAD_TOO_LARGE: spec(413, 'DWS.0001', 'Request body too large: %s'),
  UNSUPPORTED_MEDIA_TYPE: spec(415, 'DWS.0001', 'Unsupported content type %s: send application/json.'),
  REQUEST_TIMEOUT: spec(408, 'DWS.0001', 'Request timeout: %s', true),
  HEADERS_TOO_LARGE: spec(431, 'DWS.0001', 'Request headers too large: %s'),

  // --- authentication and authorization
  AUTH_FAILED: spec(401, 'APIGW.0301', 'Incorrect IAM authentication information: %s'),
  FORBIDDEN: spec(403, 'APIGW.0302', 'The IAM user is not authorized to access this API: %s'),
  /** with a Retry-After header (details.retryAfterSec); docs/security.md */
  TOO_MANY_AUTH_FAILURES: spec(429, 'APIGW.0308', 'The throttling threshold has been reached: %s. Retry after %s s.', true),

  // --- not found (404)
  ROUTE_NOT_FOUND: spec(404, 'APIGW.0101', 'The API does not exist or has not been published: %s %s'),
  CLUSTER_NOT_FOUND: spec(404, 'DWS.0047', 'The cluster %s does not exist.'),
  SNAPSHOT_NOT_FOUND: spec(404, 'DWS.5149', 'The snapshot %s does not exist.'),
  ACTION_TASK_NOT_FOUND: spec(404, 'DWS.9902', 'Cluster %s has no %s task.'),
  JOB_NOT_FOUND: spec(404, 'DWS.9903', 'The job %s does not exist.'),
  FAULT_NOT_FOUND: spec(404, 'DWS.9904', 'The fault %s does not exist.'),
  DB_USER_NOT_FOUND: spec(404, 'DWS.9971', 'The database user %s does not exist on cluster %s.'),
  DB_OBJECT_NOT_FOUND: spec(404, 'DWS.9974', 'The %s %s does not exist in %s.'),
  INSTANCE_NOT_FOUND: spec(404, 'DWS.9981', 'The instance %s does not exist.'),
  QUERY_NOT_FOUND: spec(404, 'DWS.9982', 'The query %s is not running on cluster %s.'),
  EVENT_SUB_NOT_FOUND: spec(404, 'DWS.9990', 'The subscription %s does not exist.'),
  CONFIGURATION_NOT_FOUND: spec(404, 'DWS.9980', 'The parameter configuration %s does not exist on cluster %s.'),
  SNAPSHOT_POLICY_NOT_FOUND: spec(404, 'DWS.9940', 'The snapshot policy %s does not exist on cluster %s.'),
  HOST_NOT_FOUND: spec(404, 'DWS.9930', 'The host %s is not registered.'),
  DR_NOT_FOUND: spec(404, 'DWS.10101', 'The disaster recovery %s does not exist.'),

  // --- conflicts (409)
  CLUSTER_BUSY: spec(409, 'DWS.0011', 'Another operation is in progress on cluster %s: %s (task %s). Try again when it has finished.'),
  CLUSTER_STATE_CONFLICT: spec(409, 'DWS.0011', 'The operation cannot run on cluster %s: %s'),
  CLUSTER_NAME_EXISTS: spec(409, 'DWS.5050', 'The cluster name %s already exists.'),
  SNAPSHOT_NAME_EXISTS: spec(409, 'DWS.9905', 'The snapshot name %s already exists.'),
  REPOSITORY_MOVE_REFUSED: spec(
    409,
    'DWS.9950',
    'Cluster %s keeps its snapshots in the %s; the service now puts new clusters in the %s. A cluster with snapshots never changes repository (it has %s backup sets there): delete its snapshots first, or start the service with its old repository settings.',
  ),
  SNAPSHOT_POLICY_NAME_EXISTS: spec(409, 'DWS.9941', 'The cluster already has a snapshot policy named %s (names are case-insensitive).'),
  EVENT_SUB_NAME_EXISTS: spec(409, 'DWS.9993', 'The project already has an event or alarm subscription named %s.'),
  DB_USER_EXISTS: spec(409, 'DWS.9972', 'The database user %s already exists on cluster %s.'),
  DB_USER_IN_USE: spec(409, 'DWS.9973', 'The database user %s cannot be dropped: %s'),
  HOST_EXISTS: spec(409, 'DWS.9931', 'A host named %s, or one at %s, is already registered.'),
  HOST_IN_USE: spec(409, 'DWS.9932', 'The host %s cannot be removed: %s'),
  FLEET_ETCD_CONFLICT: spec(409, 'DWS.9933', 'The fleet etcd cannot be formed as asked: %s'),
  DR_NAME_EXISTS: spec(409, 'DWS.9934', 'The disaster recovery name %s already exists.'),
  DR_STATE_CONFLICT: spec(409, 'DWS.9935', 'Disaster recovery %s cannot %s now: %s'),
  STORE_CONFLICT: spec(409, 'DWS.0011', 'A concurrent change was made: %s', true),

  // --- server side
  INTERNAL_ERROR: spec(500, 'DWS.0005', 'Internal server error (request %s).'),
  SERVICE_UNAVAILABLE: spec(503, 'DWS.9503', 'Service unavailable: %s', true),
  STORE_UNAVAILABLE: spec(503, 'DWS.9504', 'The metadata store is unreachable: %s', true),

  // --- task failures (reported in task details and job failed_code, not as HTTP errors)
  ENGINE_COMMAND_FAILED: spec(500, 'DWS.9920', '%s failed: %s', false),
  ENGINE_NODE_FAILED: spec(500, 'DWS.9921', 'Node %s: %s', false),
  INJECTED_FAULT: spec(500, 'DWS.9922', 'Injected fault (%s %s at %s): this failure was requested through the faults API.'),
  STEP_TIMEOUT: spec(500, 'DWS.9923', 'Step %s made no progress for %s s while waiting for %s; it was stopped.'),
  LEASE_LOST: spec(500, 'DWS.9924', 'Task %s is now run by another process (lease epoch %s superseded).', true),
  TASK_CANCELLED: spec(500, 'DWS.9925', 'Task %s was cancelled: %s', true),
  VERIFY_FAILED: spec(500, 'DWS.9926', 'Verification failed: %s'),
  DISK_FULL: spec(500, 'DWS.9927', 'No space left on device: %s'),
  UNSAFE_PATH: spec(
    500,
    'DWS.9928',
    "Refused to use %s: %s. dwsbox never follows a link or opens a special file that a cluster's OS user could have planted; remove it (or restore the directory from a snapshot) and repeat the operation.",
  ),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function formatMessage(template: string, args: readonly unknown[]): string {
  let i = 0;
  return template.replace(/%s/g, () => (i < args.length ? String(args[i++]) : ''));
}
