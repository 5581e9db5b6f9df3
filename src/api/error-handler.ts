/**
 * The HTTP edge's one error path: AppError → its status and `{error_code, error_msg}`; schema
 * failures → 400 through the field-to-code table (D9), naming the field; Fastify's own
 * errors → their 4xx; anything else → 500 with a generic message (the real one is logged,
 * never sent). 4xx are logged at info, 5xx at error with the stack.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppError, coerceError, isAppError } from '../errors/app-error.js';
import type { ErrorCode } from '../errors/codes.js';
import { isStoreError } from '../errors/store-error.js';

/** Schema failures of these fields carry the DWS code the reference names for them. */
const FIELD_CODES: Record<string, ErrorCode> = {
  '/cluster/name': 'INVALID_NAME',
  '/cluster/number_of_node': 'INVALID_NODE_COUNT',
  '/cluster/num_node': 'INVALID_NODE_COUNT',
  '/cluster/user_name': 'INVALID_USER_NAME',
  '/cluster/db_name': 'INVALID_USER_NAME',
  '/cluster/user_pwd': 'INVALID_PASSWORD',
  '/cluster/db_password': 'INVALID_PASSWORD',
  '/new_password': 'INVALID_PASSWORD',
  '/cluster/node_type': 'INVALID_NODE_TYPE',
  '/cluster/flavor': 'INVALID_NODE_TYPE',
  '/cluster/availability_zone': 'INVALID_AVAILABILITY_ZONE',
  '/snapshot/name': 'INVALID_NAME',
  '/restore/name': 'INVALID_NAME',
  '/scale_out/count': 'INVALID_NODE_COUNT',
  '/shrink_number': 'INVALID_NODE_COUNT',
};

interface AjvIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

export function validationError(context: string, issues: AjvIssue[]): AppError {
  const first = issues[0];
  if (!first) return new AppError('VALIDATION', { args: [`invalid ${context}`] });
  let path = first.instancePath;
  if (first.keyword === 'required') path = `${path}/${String(first.params['missingProperty'])}`;
  if (context === 'body' && path === '' && first.keyword === 'type') {
    return new AppError('EMPTY_REQUEST', { args: ['a JSON object body is required'] });
  }
  const field = `${context}${path.replace(/\//g, '.')}`;
  const what = first.keyword === 'required' ? 'is required' : (first.message ?? 'is invalid');
  const code = (context === 'body' && FIELD_CODES[path]) || 'VALIDATION';
  return new AppError(code, { message: `Invalid request: ${field} ${what}`, details: { field } });
}

export function toAppError(e: unknown, requestId: string): AppError {
  if (isAppError(e)) return e;
  const fe = e as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
  if (fe && Array.isArray(fe.validation)) return validationError(fe.validationContext ?? 'request', fe.validation);
  switch (fe?.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', { args: ['(not JSON)'] });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('PAYLOAD_TOO_LARGE', { args: ['the limit is 1 MiB'] });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('EMPTY_REQUEST', { args: ['empty JSON body'] });
    // Router errors (through frameworkErrors): a fixed message, never the hostile path echoed back.
    case 'FST_ERR_BAD_URL':
      return new AppError('VALIDATION', { args: ['the URL has an invalid percent-encoding'] });
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new AppError('VALIDATION', { args: ['a path parameter is too long'] });
    default:
      break;
  }
  // The store does not answer (busy, gone, a transaction that lost a race; its adapter
  // classified the driver's error): 503, so clients retry.
  if (isStoreError(e) && e.transient) {
    return new AppError('STORE_UNAVAILABLE', { args: ['try again shortly'], cause: e });
  }
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new AppError('VALIDATION', { args: [fe.message] });
  }
  return new AppError('INTERNAL_ERROR', { args: [requestId], cause: e });
}

export function errorHandler(e: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const err = toAppError(e, request.id);
  if (err.httpStatus >= 500) {
    const cause = err.code === 'INTERNAL_ERROR' ? coerceError(err.cause) : err;
    request.log.error({ reqId: request.id, err: cause, errorCode: err.wireCode }, 'request failed');
  } else {
    request.log.info({ reqId: request.id, errorCode: err.wireCode, error: err.message }, 'request refused');
  }
  request.failure = { code: err.wireCode, message: err.message };
  const retryAfter = err.details?.['retryAfterSec'];
  if (typeof retryAfter === 'number') void reply.header('Retry-After', String(retryAfter));
  void reply.code(err.httpStatus).type('application/json').send({ error_code: err.wireCode, error_msg: err.message });
}

/**
 * Node's HTTP parser refuses a request before Fastify sees it (headers over the size limit,
 * malformed request line or headers, a request that took too long): answer in the DWS format
 * too, with a request id, and close the connection (as Node and Fastify's default do).
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const e =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new AppError('HEADERS_TOO_LARGE', {
          args: ["the request line and headers exceed the server's limit (16 KiB unless --max-http-header-size says otherwise)"],
        })
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new AppError('REQUEST_TIMEOUT', { args: ['the request was not received in time'] })
        : new AppError('VALIDATION', { args: ['malformed HTTP request'] });
  const body = JSON.stringify({ error_code: e.wireCode, error_msg: e.message });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${e.httpStatus} ${STATUS_CODES[e.httpStatus] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${randomUUID()}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
