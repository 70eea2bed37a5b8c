/**
 * Reply review queue and suppression status endpoints: thin wrappers over
 * reactions/review-queue and compliance/suppression-status. Errors are SwitchyardErrors mapped to
 * HTTP by the server's one error handler (NOT_FOUND 404, REVIEW_ITEM_CONFLICT 409 once mapped).
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { getSuppressionStatus } from '../../compliance/suppression-status.ts';
import {
  claimReviewItem,
  listReviewItems,
  resolveReviewItem,
  REVIEW_ACTIONS,
  REVIEW_STATUSES,
  type ReviewAction,
  type ReviewDeps,
  type ReviewStatus,
} from '../../reactions/review-queue.ts';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]+$' }) });
const literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));

export function registerReviewRoutes(deps: ReviewDeps) {
  return (app: FastifyInstance): void => {
    const tags = ['review'];
    app.get(
      '/v1/review-items',
      {
        config: { scope: 'review:read' },
        schema: {
          tags,
          summary: 'List reply review items, oldest first',
          querystring: Type.Object({
            status: Type.Optional(literals(REVIEW_STATUSES)),
            after: Type.Optional(Type.String({ description: 'id of the last item of the previous page' })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
          }),
        },
      },
      async (req) => {
        const q = req.query as { status?: ReviewStatus; after?: string; limit?: number };
        return { items: await listReviewItems(deps.db, q, deps.pii) };
      },
    );
    app.post(
      '/v1/review-items/:id/claim',
      {
        config: { scope: 'review:write' },
        schema: {
          tags,
          summary: 'Claim an open item (atomic: one reviewer wins, others get 409)',
          params: Id,
          body: Type.Object({ by: Type.String({ minLength: 1 }) }),
        },
      },
      async (req) =>
        claimReviewItem(
          deps.db,
          (req.params as { id: string }).id,
          (req.body as { by: string }).by,
          deps.clock.now(),
          deps.pii,
        ),
    );
    app.post(
      '/v1/review-items/:id/resolve',
      {
        config: { scope: 'review:write' },
        schema: {
          tags,
          summary: 'Resolve an item with an action (unsubscribe, create_task, ignore)',
          params: Id,
          body: Type.Object({
            by: Type.String({ minLength: 1 }),
            action: literals(REVIEW_ACTIONS),
            note: Type.Optional(Type.String({ maxLength: 4000 })),
          }),
        },
      },
      async (req) =>
        resolveReviewItem(
          deps,
          (req.params as { id: string }).id,
          req.body as { by: string; action: ReviewAction; note?: string },
        ),
    );
    app.get(
      '/v1/suppressions/:email',
      {
        config: { scope: 'suppressions:read' },
        schema: {
          tags: ['suppression'],
          summary: 'Is the address suppressed, and has every connected system confirmed it?',
          params: Type.Object({ email: Type.String({ minLength: 3 }) }),
        },
      },
      async (req) => getSuppressionStatus(deps.db, (req.params as { email: string }).email),
    );
  };
}
