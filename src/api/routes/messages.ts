/** Transactional message endpoints (admin server): thin wrappers over the message service. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { MessageInput, MessageService } from '../../messages/service.ts';

const Address = Type.Object(
  { address: Type.String({ minLength: 3, maxLength: 254 }), name: Type.Optional(Type.String({ maxLength: 200 })) },
  { additionalProperties: false },
);
const NoNul = '^[^\\u0000]+$';

export const MessageBody = Type.Object(
  {
    idempotencyKey: Type.String({ minLength: 1, maxLength: 200, pattern: NoNul }),
    category: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }),
    to: Type.Object(
      {
        email: Type.String({ minLength: 3, maxLength: 254 }),
        contactId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: NoNul })),
        name: Type.Optional(Type.String({ maxLength: 200 })),
      },
      { additionalProperties: false },
    ),
    from: Address,
    replyTo: Type.Optional(Address),
    subject: Type.String({ minLength: 1, maxLength: 1000 }),
    template: Type.Object(
      {
        html: Type.Optional(Type.String({ maxLength: 500_000 })),
        text: Type.Optional(Type.String({ maxLength: 500_000 })),
      },
      { additionalProperties: false },
    ),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    postalAddress: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    // the preference-centre topic (as POST /consent/signup); ignored for pass-suppression categories
    topic: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.:-]+$' })),
  },
  { additionalProperties: false },
);

export function registerMessageRoutes(service: MessageService) {
  return (app: FastifyInstance): void => {
    const tags = ['messages'];
    app.post(
      '/v1/messages',
      {
        config: { scope: 'messages:write' },
        schema: {
          tags,
          summary: 'Send one templated transactional message (idempotent by idempotencyKey)',
          body: MessageBody,
        },
      },
      async (req, reply) => {
        const result = await service.send(req.body as MessageInput);
        return reply.status(result.duplicate ? 200 : 202).send(result);
      },
    );
    app.get(
      '/v1/messages/:id',
      {
        config: { scope: 'messages:read' },
        schema: {
          tags,
          summary: 'One transactional message and its send state',
          params: Type.Object({ id: Type.String({ pattern: '^msg_[0-9a-f]{24}$' }) }),
        },
      },
      async (req) => service.get((req.params as { id: string }).id),
    );
  };
}
