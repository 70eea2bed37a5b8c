// Deliverability: the governor's view per provider, sending domain, receiving group and campaign
// (rates, deferrals, bounces, complaints, breaker state and reason, warm-up position) and the
// operator's resume action (GET /v1/deliverability/status, POST /v1/deliverability/resume).
import { api } from '../api.js';
import { registerPage } from '../registry.js';
import { announce, dataTable, errorBox, every, h, num, time } from '../ui.js';

const KINDS = [
  ['providers', 'Providers', 'provider'],
  ['sendingDomains', 'Sending domains', 'sendingDomain'],
  ['receivingGroups', 'Receiving groups', 'receivingGroup'],
  ['campaigns', 'Campaigns', 'campaignId'],
];

registerPage({
  id: 'deliverability',
  title: 'Deliverability',
  scope: 'deliverability:read',
  order: 30,
  render(root, ctx) {
    const out = h('div', { role: 'status' });
    const canResume = ctx.session.scopes.includes('deliverability:write');
    const resume = async (scope) => {
      try {
        await api('POST', '/v1/deliverability/resume', scope);
        announce('Resumed');
      } catch (err) {
        out.replaceChildren(errorBox(err));
      }
    };
    const tables = KINDS.map(([key, label, field]) => {
      const t = dataTable({
        label,
        columns: [
          { key: 'name', label: label.replace(/s$/, '') },
          { key: 'ratePerSec', label: 'Rate/s', render: (r) => num(r.ratePerSec) },
          { key: 'attempts', label: 'Attempts', render: (r) => num(r.attempts) },
          { key: 'deferralPct', label: 'Deferrals %', render: (r) => num(r.deferralPct) },
          { key: 'bounceHardPct', label: 'Hard bounces %', render: (r) => num(r.bounceHardPct) },
          { key: 'complaintPct', label: 'Complaints %', render: (r) => num(r.complaintPct) },
          {
            key: 'breaker',
            label: 'Breaker',
            render: (r) =>
              r.breaker
                ? h(
                    'span',
                    { class: r.breaker.state === 'open' ? 'bad' : 'ok' },
                    r.breaker.state + (r.breaker.reason ? ': ' + r.breaker.reason : ''),
                  )
                : '–',
            sort: (r) => r.breaker?.state ?? '',
          },
          { key: 'heldUntil', label: 'Held until', render: (r) => time(r.heldUntil) },
          {
            key: 'warmup',
            label: 'Warm-up',
            render: (r) =>
              r.warmup
                ? 'step ' + r.warmup.step + ': ' + num(r.warmup.usedToday) + ' of ' + num(r.warmup.dailyCap) + ' today'
                : '–',
            sort: (r) => r.warmup?.step ?? -1,
          },
          {
            key: 'action',
            label: 'Action',
            render: (r) =>
              canResume && key !== 'receivingGroups' && (r.breaker?.state === 'open' || r.heldUntil)
                ? h('button', { type: 'button', onclick: () => resume({ [field]: r.name }) }, 'Resume ' + r.name)
                : '',
            sort: () => 0,
          },
        ],
      });
      return { key, label, field, t };
    });
    root.append(
      h('h1', {}, 'Deliverability'),
      out,
      ...tables.map(({ label, t }) => h('section', {}, h('h2', {}, label), t.el)),
    );
    return every(
      2000,
      async () => {
        const s = await api('GET', '/v1/deliverability/status');
        for (const { key, field, t } of tables) t.setRows(s[key].map((r) => ({ ...r, name: r.scope[field] ?? '' })));
      },
      (err) => out.replaceChildren(errorBox(err)),
    );
  },
});
