/**
 * Answers serialized once: a service that keeps a body while the store is unchanged
 * (read-cache.ts) returns the same object to every request, so its JSON (through the route's
 * own response schema, as Fastify would serialize it) is kept with it, for as long as the body
 * lives. Escaping the task-details body's nested JSON was 6 % of that route's CPU (issue 14).
 */
import type { FastifyReply } from 'fastify';

const JSON_TYPE = 'application/json; charset=utf-8';

export class KeptAnswers {
  private readonly json = new WeakMap<object, string>();

  /**
   * Send the answer (200) made from `kept` by `answer` (by default `kept` itself) as the route's
   * schema serializes it: once per kept object.
   */
  send<T extends object>(reply: FastifyReply, kept: T, answer: (k: T) => object = (k) => k): FastifyReply {
    let text = this.json.get(kept);
    if (text === undefined) {
      text = reply.serialize(answer(kept)) as string;
      this.json.set(kept, text);
    }
    return reply.type(JSON_TYPE).send(text);
  }
}
