/**
 * The legal footer appended when a template lacks the parts the law requires in every commercial
 * message (law.md: CAN-SPAM postal address + working opt-out; CASL sender identification,
 * mailing address and unsubscribe link). Liquid snippets only; values come from the render scope
 * (`sender_name`, `postal_address`, `unsubscribe_url`), so the footer is placed once per campaign.
 */

export interface FooterNeeds {
  unsubscribe: boolean;
  address: boolean;
}

export function htmlFooter(needs: FooterNeeds): string {
  if (!needs.unsubscribe && !needs.address) return '';
  const parts: string[] = [];
  if (needs.address) parts.push('{{ sender_name }}, {{ postal_address }}');
  if (needs.unsubscribe) parts.push('<a href="{{ unsubscribe_url }}" style="color:#666666;">Unsubscribe</a>');
  return (
    '<div class="sy-legal-footer" style="font-family:Arial,sans-serif;font-size:12px;line-height:18px;'
    + `color:#666666;text-align:center;padding:16px;">${parts.join('<br>')}</div>`
  );
}

export function textFooter(needs: FooterNeeds): string {
  if (!needs.unsubscribe && !needs.address) return '';
  const lines = ['', '', '--'];
  if (needs.address) lines.push('{{ sender_name }}, {{ postal_address }}');
  if (needs.unsubscribe) lines.push('Unsubscribe: {{ unsubscribe_url }}');
  return `${lines.join('\n')}\n`;
}
