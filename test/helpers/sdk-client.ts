/**
 * A DWS client made of the official SDK's own core (`@huaweicloud/huaweicloud-sdk-core`): its
 * `ClientBuilder`, `HcClient`, `BasicCredentials` (AK/SK signing, `{project_id}` filled from the
 * credential) and `DefaultHttpClient` (axios; query arrays serialised by node's querystring, so
 * `name: ['a', 'b']` goes out as `name=a&name=b`). The SDK's DWS package is not on npm; its
 * `DwsClient` only builds, per operation, the options it hands to `hcClient.sendRequest`:
 * method, path template, path and query parameters, headers, body and content type. `sdk()`
 * builds the same options from the vendored operation list (test/fixtures/dws-v2-operations.tsv),
 * so a request reaches dwsbox exactly as the SDK's would: the same bytes, headers and signature.
 * (The core loads `uuid` without declaring it; the SDK's own package.json pins 9.0.0, and so does
 * ours, as a devDependency.)
 *
 * An error status comes back as the SDK raises it: `ClientRequestException` (4xx) or
 * `ServerResponseException` (5xx), both `ServiceResponseException`s carrying the DWS
 * `error_code` and `error_msg` (`errorCode`, `errorMsg`, `httpStatusCode`); its message also
 * names the operation, the status and the code.
 */
import { readFileSync } from 'node:fs';
import { ClientBuilder } from '@huaweicloud/huaweicloud-sdk-core/ClientBuilder.js';
import type { HcClient, HttpRequestOptions } from '@huaweicloud/huaweicloud-sdk-core/HcClient.js';
import { BasicCredentials } from '@huaweicloud/huaweicloud-sdk-core/auth/BasicCredentials.js';
import { ServiceResponseException } from '@huaweicloud/huaweicloud-sdk-core/exception/ServiceResponseException.js';
import { ACCESS_KEY, PROJECT_ID, SECRET_KEY } from './service.js';

export { ServiceResponseException };

export interface SdkOperation {
  name: string;
  method: string;
  /** the path template as the SDK writes it, `{project_id}` and the operation's own placeholders */
  path: string;
}

/** The SDK's operations by name, from the vendored list. */
export const SDK_OPERATIONS: ReadonlyMap<string, SdkOperation> = new Map(
  readFileSync(new URL('../fixtures/dws-v2-operations.tsv', import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l): [string, SdkOperation] => {
      const [name, method, path] = l.split('\t') as [string, string, string];
      return [name, { name, method, path }];
    }),
);

export type SdkQuery = Record<string, string | number | boolean | string[]>;

export interface SdkCall {
  /** the operation's path placeholders but `{project_id}`, which the credential fills */
  path?: Record<string, string>;
  query?: SdkQuery;
  body?: unknown;
}

export interface SdkAnswer<T> {
  status: number;
  body: T;
}

export type Sdk = <T = Record<string, unknown>>(operation: string, call?: SdkCall) => Promise<SdkAnswer<T>>;

/**
 * A client of the service at `endpoint` (its http address, as startService gives it), signing
 * with the test project's key pair unless another is given.
 */
export function sdkClient(endpoint: string, creds: { ak: string; sk: string; projectId: string } = defaultCreds()): Sdk {
  const credentials = new BasicCredentials().withAk(creds.ak).withSk(creds.sk).withProjectId(creds.projectId);
  // The builder function is the SDK's `DwsClient.newBuilder()` minus the DwsClient: the HcClient itself.
  // A custom user agent keeps the builder from making its default one, which writes an
  // application id under ~/.huaweicloud (the SDK's agent prefix stays in front of it).
  const hc: HcClient = new ClientBuilder((c: HcClient) => c)
    .withCredential(credentials)
    .withEndpoint(endpoint)
    .withOptions({ customUserAgent: 'dwsbox-sdk-contract' })
    .build();
  // The HTTP client logs every error answer whole to stdout (its request config, bodies and
  // passwords included) and the builder offers no logger of its own: a level above ERROR
  // silences it. The exception carries the answer; nothing on the wire changes.
  (hc as unknown as { httpClient: { _logger: { setLevel(l: string): void } } }).httpClient._logger.setLevel('off');

  return async <T>(operation: string, call: SdkCall = {}): Promise<SdkAnswer<T>> => {
    const op = SDK_OPERATIONS.get(operation);
    if (!op) throw new Error(`${operation} is not an operation of the DWS v2 SDK (test/fixtures/dws-v2-operations.tsv)`);
    for (const [, name] of op.path.matchAll(/\{([a-z_]+)\}/g))
      if (name !== 'project_id' && call.path?.[name!] === undefined) throw new Error(`${operation}: path parameter ${name} missing`);
    // As the SDK's ParamCreater writes them: a body operation declares `application/json;charset=UTF-8`
    // (in its options and its Content-Type header, which HcClient replaces by `application/json`) and
    // sends its body (`{}` when none); a GET or DELETE declares `application/json` and has no body.
    const withBody = op.method === 'POST' || op.method === 'PUT';
    const options: HttpRequestOptions = {
      method: op.method,
      url: op.path,
      contentType: withBody ? 'application/json;charset=UTF-8' : 'application/json',
      queryParams: { ...call.query },
      pathParams: { ...call.path },
      headers: withBody ? { 'Content-Type': 'application/json;charset=UTF-8' } : {},
      ...(withBody ? { data: (call.body ?? {}) as Record<string, unknown> } : {}),
    };
    if (!withBody && call.body !== undefined) throw new Error(`${operation}: the SDK sends no body with ${op.method}`);
    try {
      const { httpStatusCode, ...body } = await hc.sendRequest<{ httpStatusCode?: number }>(options);
      return { status: httpStatusCode ?? 0, body: body as T };
    } catch (e) {
      // The SDK's own exception, rethrown as is; its message (the SDK puts error_msg alone there)
      // also names the operation, the status and the code, for a failing test to say.
      if (e instanceof ServiceResponseException)
        e.message = `${operation}: ${String(e.httpStatusCode)} ${String(e.errorCode)} ${String(e.errorMsg)}`;
      throw e;
    }
  };
}

function defaultCreds(): { ak: string; sk: string; projectId: string } {
  return { ak: ACCESS_KEY, sk: SECRET_KEY, projectId: PROJECT_ID };
}

/** The SDK exception an `sdk()` call rejected with (fails when it resolved or threw something else). */
export async function sdkError(p: Promise<unknown>): Promise<ServiceResponseException> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ServiceResponseException) return e;
    throw e;
  }
  throw new Error('the call succeeded; an SDK exception was expected');
}
