/**
 * The names users see for items and sub-items (design's step catalog), in English and
 * Chinese. Step ids are stable (they appear in `currentStep`/`failedStep` and address
 * faults); per-node steps end in `_<node number>` and their names carry `{n}`.
 */
export type Lang = 'en' | 'zh';
export interface I18n {
  en: string;
  zh: string;
}

export const ITEM_NAMES: Record<string, I18n> = {
  CREATE_NODES: { en: 'Create nodes', zh: '创建节点' },
  BUILD_STANDBYS: { en: 'Build standby nodes', zh: '构建备节点' },
  FINISH: { en: 'Finish', zh: '完成' },
  DELETE_CLUSTER: { en: 'Delete the cluster', zh: '删除集群' },
  RESTART_CLUSTER: { en: 'Restart the cluster', zh: '重启集群' },
  START_CLUSTER: { en: 'Start the cluster', zh: '启动集群' },
  STOP_CLUSTER: { en: 'Stop the cluster', zh: '停止集群' },
  CREATE_SNAPSHOT: { en: 'Create a snapshot', zh: '创建快照' },
  PREPARE_CLUSTER: { en: 'Prepare the cluster', zh: '准备集群' },
  RESTORE_DATA: { en: 'Restore data', zh: '恢复数据' },
  ENABLE_ARCHIVING: { en: 'Enable archiving', zh: '启用归档' },
  VERIFY_CLUSTER: { en: 'Verify the cluster', zh: '校验集群' },
  PREPARE_TEMP: { en: 'Prepare a temporary instance', zh: '准备临时实例' },
  RESTORE_TABLES: { en: 'Restore tables', zh: '恢复表' },
  CLEAN_UP: { en: 'Clean up', zh: '清理' },
  PRE_CHECK: { en: 'Pre-check', zh: '扩容前检查' },
  ADD_NODES: { en: 'Add nodes', zh: '添加节点' },
  SYNC_DATA: { en: 'Synchronize data', zh: '数据同步' },
  UPDATE_TOPOLOGY: { en: 'Update the cluster topology', zh: '更新集群拓扑' },
  SCALE_IN: { en: 'Scale in', zh: '缩容' },
  ROLLBACK: { en: 'Roll back', zh: '回滚' },
  EXPIRE: { en: 'Expire backups', zh: '清理过期备份' },
  PREPARE_SCRATCH: { en: 'Prepare a scratch database', zh: '准备临时数据库' },
  SWITCHOVER: { en: 'Switch over', zh: '主备切换' },
  REPAIR: { en: 'Repair the cluster', zh: '修复集群' },
  SET_CONFIGURATION: { en: 'Set the parameters', zh: '修改参数' },
  COPY_SNAPSHOT: { en: 'Copy the snapshot', zh: '复制快照' },
  SAFETY_SNAPSHOT: { en: 'Take a safety snapshot', zh: '创建安全快照' },
  DR_START: { en: 'Start disaster recovery', zh: '启动容灾' },
  DR_PAUSE: { en: 'Pause disaster recovery', zh: '停止容灾' },
  DR_DELETE: { en: 'Delete disaster recovery', zh: '删除容灾' },
  DR_SWITCHOVER: { en: 'Switch over disaster recovery', zh: '容灾切换' },
  DR_FAILOVER: { en: 'Fail over disaster recovery', zh: '容灾异常切换' },
  DR_RECOVER: { en: 'Recover disaster recovery', zh: '容灾恢复' },
};

export const STEP_NAMES: Record<string, I18n> = {
  CHECK_CAPACITY: { en: 'Check capacity', zh: '检查资源' },
  INIT_PRIMARY: { en: 'Initialize the primary', zh: '初始化主节点' },
  START_PRIMARY: { en: 'Start the primary', zh: '启动主节点' },
  ENABLE_ARCHIVING: { en: 'Enable archiving', zh: '启用归档' },
  BUILD_STANDBY: { en: 'Build standby node {n}', zh: '构建备节点 {n}' },
  CREATE_ADMIN: { en: 'Create the administrator', zh: '创建管理员用户' },
  VERIFY_CLUSTER: { en: 'Verify the cluster', zh: '校验集群' },
  STOP_NODES: { en: 'Stop the nodes', zh: '停止节点' },
  KEEP_SNAPSHOTS: { en: 'Keep the requested snapshots', zh: '保留指定快照' },
  REMOVE_DATA: { en: 'Remove the data', zh: '删除数据' },
  STOP_NODE: { en: 'Stop node {n}', zh: '停止节点 {n}' },
  START_NODE: { en: 'Start node {n}', zh: '启动节点 {n}' },
  CHECK_REPLICATION: { en: 'Check replication', zh: '检查复制' },
  CHECK_CLUSTER: { en: 'Check the cluster', zh: '检查集群状态' },
  BACKUP: { en: 'Perform a backup', zh: '执行备份' },
  VERIFY_BACKUP: { en: 'Verify the backup', zh: '校验备份' },
  RECORD_SNAPSHOT: { en: 'Record the snapshot', zh: '记录快照信息' },
  CHECK_SOURCE: { en: 'Check the source snapshot and the room for its copy', zh: '检查源快照及副本空间' },
  RESTORE_SOURCE: { en: 'Restore the source snapshot to a temporary instance', zh: '将源快照恢复到临时实例' },
  START_SOURCE: { en: "Start the temporary instance archiving to the copy's stanza", zh: '启动临时实例并归档到副本的 stanza' },
  BACKUP_COPY: { en: 'Perform a full, self-contained backup', zh: '执行自包含的全量备份' },
  VERIFY_COPY: { en: 'Verify the copy', zh: '校验副本' },
  RECORD_COPY: { en: 'Record the copy', zh: '记录副本信息' },
  REMOVE_SOURCE: { en: 'Remove the temporary instance', zh: '删除临时实例' },
  DISCARD_COPY: { en: "Remove the temporary instance and the copy's stanza", zh: '删除临时实例及副本的 stanza' },
  ALLOCATE_NODES: { en: 'Allocate nodes', zh: '分配节点' },
  RESTORE_PRIMARY: { en: 'Restore the primary node', zh: '恢复主节点' },
  RECOVER_PRIMARY: { en: 'Start and recover', zh: '启动并完成恢复' },
  ENABLE_NEW_ARCHIVING: { en: "Enable archiving to the new cluster's stanza", zh: '启用新集群归档' },
  BUILD_STANDBYS: { en: 'Build the standby nodes at once', zh: '同时构建备节点' },
  CHECK_CONNECTIONS: { en: 'Check connections and replication', zh: '检查连接与复制' },
  RESTORE_TEMP: { en: 'Restore the snapshot to a temporary instance', zh: '将快照恢复到临时实例' },
  START_TEMP: { en: 'Start the temporary instance', zh: '启动临时实例' },
  EXPORT_TABLES: { en: 'Export the tables', zh: '导出表' },
  IMPORT_TABLES: { en: 'Import the tables', zh: '导入表' },
  VERIFY_ROWS: { en: 'Verify row counts', zh: '校验行数' },
  REMOVE_TEMP: { en: 'Remove the temporary instance', zh: '删除临时实例' },
  DISCARD_TABLE_RESTORE: { en: 'Remove the temporary instance and the tables this restore imported', zh: '删除临时实例及本次导入的表' },
  CHECK_GROW: { en: 'Check cluster status and capacity', zh: '检查集群状态与资源' },
  COPY_DATA: { en: 'Copy data to node {n}', zh: '向节点 {n} 复制数据' },
  CATCH_UP: { en: 'Catch up with the primary', zh: '追平主节点' },
  PUBLISH_NODES: { en: 'Publish the new nodes', zh: '发布新节点' },
  REMOVE_ADDED_NODES: { en: 'Remove the added nodes', zh: '移除新增节点' },
  CHECK_SHRINK: { en: 'Check', zh: '缩容前检查' },
  REMOVE_NODE: { en: 'Remove node {n}', zh: '移除节点 {n}' },
  SWITCHOVER: { en: 'Switch over to the chosen node', zh: '切换到指定节点' },
  APPLY_SETTINGS: { en: 'Apply the parameters and reload', zh: '应用参数并重新加载' },
  CHECK_PENDING: { en: 'Find the parameters pending a restart', zh: '检查待重启生效的参数' },
  RESTART_NODE: { en: 'Restart node {n} for the parameters', zh: '为参数生效重启节点 {n}' },
  VERIFY_SETTINGS: { en: 'Verify the parameters on every node', zh: '校验各节点参数' },
  REBUILD_NODE: { en: 'Rebuild node {n} from the primary', zh: '从主节点重建节点 {n}' },
  UPDATE_TOPOLOGY: { en: 'Update the cluster topology', zh: '更新集群拓扑' },
  RESTORE_NODES: { en: 'Return the nodes not yet removed to service', zh: '恢复未移除的节点' },
  CLEAN_UP_CLUSTER: { en: 'Remove what was built', zh: '清理已创建的资源' },
  EXPIRE_BACKUPS: { en: 'Expire backup sets', zh: '清理过期备份集' },
  CHECK_OBJECTS: { en: 'Check the schemas and tables to back up', zh: '检查待备份的模式和表' },
  DUMP_OBJECTS: { en: 'Dump the schemas and tables', zh: '导出模式和表' },
  VERIFY_DUMP: { en: 'Verify the dump', zh: '校验导出文件' },
  RECORD_DUMP: { en: 'Record the snapshot', zh: '记录快照信息' },
  DISCARD_DUMP: { en: 'Remove the partial dump', zh: '删除未完成的导出文件' },
  CREATE_SCRATCH_DB: { en: 'Create the scratch database', zh: '创建临时数据库' },
  LOAD_SCRATCH_DB: { en: 'Restore the snapshot into the scratch database', zh: '将快照恢复到临时数据库' },
  DROP_SCRATCH_DB: { en: 'Drop the scratch database', zh: '删除临时数据库' },
  ARCHIVE_SOURCE_WAL: { en: 'Archive the WAL written up to now', zh: '归档截至当前的 WAL' },
  SAFETY_SNAPSHOT: { en: 'Back up the stopped cluster (the safety snapshot)', zh: '备份已停止的集群(安全快照)' },
  REBUILD_STANDBYS: { en: 'Rebuild the standby nodes from the restored primary', zh: '从恢复后的主节点重建备节点' },
  START_NODES: { en: 'Start the nodes again', zh: '重新启动节点' },
  RESTORE_SAFETY_SNAPSHOT: { en: 'Restore the safety snapshot into the cluster', zh: '将安全快照恢复到集群' },
  DISCARD_SCRATCH_RESTORE: { en: 'Drop the scratch database and the tables this restore imported', zh: '删除临时数据库及本次导入的表' },
  FOLLOW_PRODUCTION: { en: 'Copy the production cluster and follow it', zh: '复制生产集群并持续同步' },
  CHECK_STREAMING: { en: 'Check the standby streams', zh: '检查容灾复制' },
  RESUME_REPLAY: { en: 'Resume applying changes', zh: '恢复回放' },
  PAUSE_REPLAY: { en: 'Pause applying changes', zh: '暂停回放' },
  PROMOTE_STANDBY: { en: 'Promote the standby cluster', zh: '提升容灾集群' },
  DROP_SLOT: { en: 'Drop the replication slot on the production cluster', zh: '删除生产集群上的复制槽' },
  DEMOTE_PRODUCTION: { en: 'Stop writes on the production cluster', zh: '生产集群停止写入' },
  STANDBY_CATCH_UP: { en: 'Let the standby catch up', zh: '等待容灾集群追平' },
  FOLLOW_NEW_PRIMARY: { en: 'Make the old production cluster follow', zh: '原生产集群转为容灾' },
  REPROMOTE_PRODUCTION: { en: 'Give the production cluster its writes back', zh: '恢复生产集群写入' },
  CHECK_PRODUCTION_LOST: { en: 'Check the production cluster is lost', zh: '确认生产集群故障' },
  REBUILD_OLD_PRODUCTION: { en: 'Rebuild the old production cluster as the standby', zh: '重建原生产集群为容灾集群' },
};

/** Split a step id into its base and node number: `BUILD_STANDBY_2` → [`BUILD_STANDBY`, 2]. */
export function splitStepId(stepId: string): [string, number | null] {
  const m = /^(.*)_(\d+)$/.exec(stepId);
  if (m && STEP_NAMES[m[1]!]) return [m[1]!, Number(m[2])];
  return [stepId, null];
}

export function stepName(stepId: string, lang: Lang): string {
  const [base, n] = splitStepId(stepId);
  const names = STEP_NAMES[base];
  if (!names) return stepId;
  return names[lang].replace('{n}', n === null ? '' : String(n));
}

export function itemName(itemKey: string, lang: Lang): string {
  return ITEM_NAMES[itemKey]?.[lang] ?? itemKey;
}

/** `x-language`: en-us/en_us/zh-cn/zh_cn in any case; English by default. */
export function parseLanguage(header: string | string[] | undefined): Lang {
  const v = (Array.isArray(header) ? header[0] : header)?.trim().toLowerCase().replace('-', '_');
  return v === 'zh_cn' || v === 'zh' ? 'zh' : 'en';
}
