// Lists: every list with its kind, dependencies, size and rebuild progress; one list's definition,
// members and history (entered / exited, with the change that caused it); a new list from a JSON
// definition with an audience preview (count and a sample of 20) before it is saved; rebuild, delete.
import { api, query } from '../api.js';
import { registerPage } from '../registry.js';
import { add, announce, dataTable, errorBox, every, fill, h, num, time } from '../ui.js';

const enc = encodeURIComponent;

function rebuildText(r) {
  if (!r?.state) return '–';
  if (r.state === 'running') return 'rebuilding ' + num(r.done) + ' of ' + num(r.total);
  return r.state + (r.error ? ': ' + r.error : '');
}

function listView(root, ctx) {
  const status = h('div', { role: 'status' });
  const table = dataTable({
    label: 'Lists',
    rowKey: (r) => r.id,
    columns: [
      { key: 'name', label: 'Name', render: (r) => h('a', { href: '#/lists/' + enc(r.id) }, r.name) },
      { key: 'id', label: 'Id' },
      { key: 'kind', label: 'Kind' },
      { key: 'dependsOn', label: 'Reads lists', render: (r) => r.dependsOn.join(', ') || '–' },
      { key: 'members', label: 'Members', render: (r) => num(r.members), sort: (r) => r.members ?? -1 },
      { key: 'rebuild', label: 'Rebuild', render: (r) => rebuildText(r.rebuild), sort: (r) => r.rebuild?.state ?? '' },
      { key: 'updatedAt', label: 'Changed', render: (r) => time(r.updatedAt) },
    ],
  });
  const canWrite = ctx.session.scopes.includes('lists:write');
  add(
    root,
    h('h1', {}, 'Lists'),
    canWrite ? h('p', {}, h('a', { href: '#/lists/~new' }, 'New list')) : null,
    status,
    table.el,
  );
  return every(
    5000,
    async () => {
      const { lists } = await api('GET', '/v1/lists');
      // sizes: one request per list, the first 200 (the API pages nothing here; lists are few)
      const detailed = await Promise.all(
        lists.slice(0, 200).map((l) => api('GET', '/v1/lists/' + enc(l.id)).catch(() => ({ ...l, members: null }))),
      );
      status.replaceChildren();
      table.setRows([...detailed, ...lists.slice(200).map((l) => ({ ...l, members: null }))]);
    },
    (err) => status.replaceChildren(errorBox(err)),
  );
}

function previewBox(p) {
  return h(
    'div',
    { 'data-testid': 'list-preview' },
    h('p', {}, h('b', {}, num(p.count)), ' profiles match now'),
    p.sample.length === 0
      ? null
      : h(
          'ul',
          { 'aria-label': 'Sample' },
          p.sample.map((s) => h('li', {}, typeof s === 'string' ? s : (s.contactId ?? s.id ?? JSON.stringify(s)))),
        ),
  );
}

function createView(root) {
  const id = h('input', { id: 'list-id', placeholder: 'optional: e.g. us-customers' });
  const name = h('input', { id: 'list-name', required: true });
  const kind = h(
    'select',
    { id: 'list-kind' },
    h('option', { value: 'dynamic' }, 'dynamic'),
    h('option', { value: 'static' }, 'static'),
  );
  const text = h('textarea', { id: 'list-definition', spellcheck: 'false' });
  text.value = JSON.stringify({ attribute: 'country', equals: 'US' }, null, 2);
  const out = h('div', { role: 'status' });
  const parse = () => (kind.value === 'static' ? undefined : JSON.parse(text.value));
  const preview = h('button', { type: 'button' }, 'Preview audience');
  const save = h('button', { type: 'button', class: 'primary' }, 'Save list');
  preview.addEventListener('click', async () => {
    try {
      out.replaceChildren(previewBox(await api('POST', '/v1/lists/preview', { definition: parse() })));
    } catch (err) {
      out.replaceChildren(
        errorBox(err instanceof SyntaxError ? { message: 'Definition is not JSON: ' + err.message } : err),
      );
    }
  });
  save.addEventListener('click', async () => {
    try {
      const body = { name: name.value.trim(), kind: kind.value };
      if (id.value.trim() !== '') body.id = id.value.trim();
      const definition = parse();
      if (definition !== undefined) body.definition = definition;
      const list = await api('POST', '/v1/lists', body);
      announce('Created list ' + list.id);
      location.hash = '#/lists/' + enc(list.id);
    } catch (err) {
      out.replaceChildren(
        errorBox(err instanceof SyntaxError ? { message: 'Definition is not JSON: ' + err.message } : err),
      );
    }
  });
  add(
    root,
    h('h1', {}, 'New list'),
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'list-id' }, 'Id', id),
      h('label', { for: 'list-name' }, 'Name', name),
      h('label', { for: 'list-kind' }, 'Kind', kind),
    ),
    h('label', { for: 'list-definition' }, 'Segment definition (JSON, docs/lists.md; dynamic lists only)', text),
    h('div', { class: 'toolbar' }, preview, save),
    out,
  );
}

function detailView(root, ctx, listId) {
  const head = h('div');
  const out = h('div', { role: 'status' });
  const canWrite = ctx.session.scopes.includes('lists:write');
  const history = dataTable({
    label: 'List history',
    rowKey: (r) => String(r.id),
    columns: [
      { key: 'at', label: 'When', render: (r) => time(r.at) },
      { key: 'contactId', label: 'Contact' },
      { key: 'entered', label: 'Change', render: (r) => (r.entered ? 'entered' : 'exited') },
      { key: 'cause', label: 'Caused by', render: (r) => r.cause.kind + ' ' + r.cause.id, sort: (r) => r.cause.kind },
    ],
  });
  const members = dataTable({
    label: 'Members',
    rowKey: (r) => r.contactId,
    columns: [
      { key: 'contactId', label: 'Contact' },
      { key: 'enteredAt', label: 'Entered', render: (r) => time(r.enteredAt) },
    ],
  });
  const rebuild = async () => {
    try {
      await api('POST', '/v1/lists/' + enc(listId) + '/rebuild');
      announce('Rebuild started');
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  };
  const remove = async () => {
    if (!confirm('Delete list ' + listId + '?')) return;
    try {
      await api('DELETE', '/v1/lists/' + enc(listId));
      announce('Deleted list ' + listId);
      location.hash = '#/lists';
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  };
  add(
    root,
    h('p', {}, h('a', { href: '#/lists' }, '← All lists')),
    head,
    out,
    h('h2', {}, 'History (newest first)'),
    history.el,
    h('h2', {}, 'Members (first 1 000)'),
    members.el,
  );
  return every(
    3000,
    async () => {
      const [list, hist, mem] = await Promise.all([
        api('GET', '/v1/lists/' + enc(listId)),
        api('GET', '/v1/lists/' + enc(listId) + '/history' + query({ limit: 500 })),
        api('GET', '/v1/lists/' + enc(listId) + '/members' + query({ limit: 1000 })),
      ]);
      const r = list.rebuild;
      fill(
        head,
        h('h1', {}, list.name),
        h(
          'div',
          { class: 'tiles' },
          h('div', { class: 'tile' }, 'Members', h('b', { 'data-testid': 'list-members' }, num(list.members))),
          h('div', { class: 'tile' }, 'Kind', h('b', {}, list.kind)),
          h('div', { class: 'tile' }, 'Revision', h('b', {}, num(list.revision))),
          h('div', { class: 'tile' }, 'Rebuild', h('b', {}, rebuildText(r))),
        ),
        r?.state === 'running' && r.total > 0
          ? h(
              'div',
              {
                class: 'progress',
                role: 'progressbar',
                'aria-label': 'Rebuild progress',
                'aria-valuemin': 0,
                'aria-valuemax': 100,
                'aria-valuenow': Math.floor((100 * r.done) / r.total),
              },
              h('span', { style: 'width:' + Math.floor((100 * r.done) / r.total) + '%' }),
            )
          : null,
        h('p', {}, 'Reads lists: ' + (list.dependsOn.join(', ') || 'none')),
        list.definition ? h('pre', { 'aria-label': 'Definition' }, JSON.stringify(list.definition, null, 2)) : null,
        canWrite
          ? h(
              'div',
              { class: 'toolbar' },
              list.kind === 'dynamic' ? h('button', { type: 'button', onclick: rebuild }, 'Rebuild') : null,
              h('button', { type: 'button', class: 'danger', onclick: remove }, 'Delete list'),
            )
          : null,
      );
      history.setRows(hist.history);
      members.setRows(mem.members);
    },
    (err) => out.replaceChildren(errorBox(err)),
  );
}

registerPage({
  id: 'lists',
  title: 'Lists',
  scope: 'lists:read',
  order: 60,
  render(root, ctx) {
    const [sub] = ctx.rest;
    if (sub === '~new') return createView(root, ctx);
    if (sub) return detailView(root, ctx, sub);
    return listView(root, ctx);
  },
});
