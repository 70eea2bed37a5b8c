/**
 * A JSON body parser that refuses over-deep nesting before JSON.parse sees it. Deeply nested
 * input (100 000 levels of `[`) makes recursive code downstream (schema validation, our own
 * walkers, serialisers) overflow the stack, which surfaced as a 500. The scan is one pass over
 * the text counting brackets outside strings, so it costs about as much as reading the body.
 *
 * After the scan the body goes to Fastify's own JSON parser, which keeps its prototype-poisoning
 * protection (`__proto__` and `constructor.prototype` keys are refused). An empty body parses as
 * no body, so a body-less POST may (and on the admin listener must) still say application/json.
 */
import type { FastifyInstance } from 'fastify';
import { SwitchyardError } from '../../core/errors.ts';
import { jsonNestingExceeds } from '../../core/json-depth.ts';

export interface JsonDepthOptions {
  /** Deepest nesting of arrays and objects accepted; `[]` and `{}` are depth 1. */
  maxDepth: number;
}

/** Replaces `app`'s application/json parser with the depth-checked one (400 JSON_TOO_DEEP via
 *  the server's error handler). Scopes that install their own parsers (webhooks) are unaffected. */
export function registerJsonDepthLimit(app: FastifyInstance, options: JsonDepthOptions): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    if (jsonNestingExceeds(text, options.maxDepth)) {
      return done(
        new SwitchyardError('JSON_TOO_DEEP', `JSON body nests deeper than ${options.maxDepth} levels`),
        undefined,
      );
    }
    return parseJson(request, text, done);
  });
}
