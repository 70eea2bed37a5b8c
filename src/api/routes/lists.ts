/**
 * Lists and profiles on the admin API (`lists:read` / `lists:write`): definitions, preview,
 * members, static edits, rebuild progress, membership history, a contact's profile. Thin: the
 * lists and profile services decide everything (validation, cycles, references).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { SwitchyardError } from '../../core/errors.ts';
import type { ListService } from '../../lists/service.ts';
import type { ProfileService } from '../../profiles/service.ts';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]+$' }) });
const ContactIds = Type.Object({
  contactIds: Type.Array(Type.String({ minLength: 1, maxLength: 320 }), { minItems: 1, maxItems: 10_000 }),
});
const read = { scope: 'lists:read' } as const;
const write = { scope: 'lists:write' } as const;
const tags = ['lists'];

export function registerListRoutes(deps: { lists: ListService; profiles: ProfileService }) {
  const { lists, profiles } = deps;
  const withCount = async (id: string) => ({ ...(await lists.get(id)), members: await lists.memberCount(id) });
  return (app: FastifyInstance): void => {
    app.get('/v1/lists', { config: read, schema: { tags, summary: 'All lists' } }, async () => ({
      lists: await lists.all(),
    }));
    app.post(
      '/v1/lists',
      {
        config: write,
        schema: {
          tags,
          summary: 'Create a list (a dynamic one is built in the background: see rebuild in GET /v1/lists/:id)',
          body: Type.Object({
            id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            name: Type.String({ minLength: 1, maxLength: 200 }),
            kind: Type.Union([Type.Literal('static'), Type.Literal('dynamic')]),
            definition: Type.Optional(Type.Unknown()),
          }),
        },
      },
      async (req, reply) => {
        const row = await lists.create(req.body as Parameters<ListService['create']>[0]);
        return reply.status(201).send(row);
      },
    );
    app.post(
      '/v1/lists/preview',
      {
        config: write,
        schema: {
          tags,
          summary: 'Count and a sample of 20 profiles a definition selects, before saving it',
          body: Type.Object({ definition: Type.Unknown() }),
        },
      },
      async (req) => lists.preview((req.body as { definition: unknown }).definition),
    );
    app.get(
      '/v1/lists/:id',
      { config: read, schema: { tags, summary: 'One list, its size and rebuild progress', params: Id } },
      (req) => withCount((req.params as { id: string }).id),
    );
    app.put(
      '/v1/lists/:id',
      {
        config: write,
        schema: {
          tags,
          summary: 'Rename a list or change its definition (then rebuilt in the background)',
          params: Id,
          body: Type.Object({
            name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            definition: Type.Optional(Type.Unknown()),
          }),
        },
      },
      async (req) =>
        lists.update((req.params as { id: string }).id, req.body as { name?: string; definition?: unknown }),
    );
    app.delete(
      '/v1/lists/:id',
      { config: write, schema: { tags, summary: 'Delete a list no other list reads', params: Id } },
      async (req, reply) => {
        await lists.remove((req.params as { id: string }).id);
        return reply.status(204).send();
      },
    );
    app.post(
      '/v1/lists/:id/rebuild',
      { config: write, schema: { tags, summary: 'Start a full rebuild; progress in GET /v1/lists/:id', params: Id } },
      async (req, reply) => reply.status(202).send(await lists.startRebuild((req.params as { id: string }).id)),
    );
    app.get(
      '/v1/lists/:id/members',
      {
        config: read,
        schema: {
          tags,
          summary: 'Members in contact order (keyset: pass the last contact id as after)',
          params: Id,
          querystring: Type.Object({
            after: Type.Optional(Type.String({ maxLength: 320 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
          }),
        },
      },
      async (req) => {
        const { after, limit } = req.query as { after?: string; limit?: number };
        return { members: await lists.members((req.params as { id: string }).id, after ?? null, limit ?? 1000) };
      },
    );
    app.post(
      '/v1/lists/:id/members',
      { config: write, schema: { tags, summary: 'Add contacts to a static list', params: Id, body: ContactIds } },
      async (req) =>
        lists.addToList((req.params as { id: string }).id, (req.body as { contactIds: string[] }).contactIds, {
          kind: 'manual',
          id: 'api',
        }),
    );
    app.post(
      '/v1/lists/:id/members/remove',
      { config: write, schema: { tags, summary: 'Remove contacts from a static list', params: Id, body: ContactIds } },
      async (req) =>
        lists.removeFromList((req.params as { id: string }).id, (req.body as { contactIds: string[] }).contactIds, {
          kind: 'manual',
          id: 'api',
        }),
    );
    app.get(
      '/v1/lists/:id/history',
      {
        config: read,
        schema: {
          tags,
          summary: 'Membership transitions of a list, newest first, with their cause',
          params: Id,
          querystring: Type.Object({
            contactId: Type.Optional(Type.String({ maxLength: 320 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
          }),
        },
      },
      async (req) => {
        const { contactId, limit } = req.query as { contactId?: string; limit?: number };
        const listId = (req.params as { id: string }).id;
        await lists.get(listId);
        return { history: await lists.history({ listId, ...(contactId ? { contactId } : {}) }, limit ?? 100) };
      },
    );
    app.get(
      '/v1/profiles/:id',
      {
        config: read,
        schema: { tags: ['profiles'], summary: "A contact's profile, lists and list history", params: Id },
      },
      async (req) => {
        const id = (req.params as { id: string }).id;
        const profile = await profiles.get(id);
        if (profile === null) throw new SwitchyardError('NOT_FOUND', `no profile "${id}"`);
        return { ...profile, history: await lists.history({ contactId: id }, 100) };
      },
    );
  };
}
