/**
 * How tests run the `dwsbox` command in a process of its own (a child service, the CLI, the
 * agent test): as the service runs its agent (src/dataplane/self-command.ts), the built command
 * when the build is current, else the sources through tsx.
 */
import { PACKAGE_ROOT, selfCommandArgs } from '../../src/dataplane/self-command.js';

export const REPO_ROOT = PACKAGE_ROOT;

/** The node arguments that run `dwsbox` (cwd: REPO_ROOT); memoised for the test file. */
export const cliEntry = selfCommandArgs;
