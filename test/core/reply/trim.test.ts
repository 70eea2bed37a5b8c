import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { htmlToReplyText, looksLikeHtml, trimReplyBody, trimReplyText } from '../../../src/core/reply/trim.ts';

describe('trimReplyText', () => {
  it('drops a Gmail "On … wrote:" header split over two lines and the quote', () => {
    const text =
      'Sounds interesting, call me tomorrow.\n\nOn Tue, Nov 24, 2026 at 10:02 AM Example Shop '
      + '<\nnews@shop.example.com> wrote:\n\n> Hi Anna,\n> Our sale.\n';
    assert.equal(trimReplyText(text), 'Sounds interesting, call me tomorrow.');
  });

  it('drops an Outlook From:/Sent: block and the signature above it', () => {
    const text =
      'Please remove me from this list.\r\n\r\nFrom: Example Shop <news@shop.example.com>\r\nSent: '
      + 'Tuesday, November 24, 2026 10:02 AM\r\nTo: Bob\r\nSubject: Sale\r\n\r\nHi Bob,\r\n';
    assert.equal(trimReplyText(text), 'Please remove me from this list.');
  });

  it('drops Apple Mail "Sent from my iPhone" and the cite quote', () => {
    const text =
      'Interested! What does it cost?\n\nSent from my iPhone\n\n> On 24 Nov 2026, at 10:02, Example Shop '
      + '<news@shop.example.com> wrote:\n>\n> Hi Eve,\n';
    assert.equal(trimReplyText(text), 'Interested! What does it cost?');
  });

  it('handles German and French quote headers and "-- " signatures', () => {
    assert.equal(
      trimReplyText(
        'Bitte abmelden.\n\nAm 24.11.2026 um 10:02 schrieb Example Shop <news@shop.example.com>:\n> Hallo,\n',
      ),
      'Bitte abmelden.',
    );
    assert.equal(
      trimReplyText(
        'Merci, ça marche.\n\nLe mar. 24 nov. 2026 à 10:02, Example Shop <news@shop.example.com> a écrit '
          + ':\n> Bonjour\n',
      ),
      'Merci, ça marche.',
    );
    assert.equal(
      trimReplyText('Thanks, sounds good.\n\n-- \nFrank Example\nCTO, Example Inc.\n'),
      'Thanks, sounds good.',
    );
  });
});

describe('HTML replies', () => {
  it('converts HTML and drops the Gmail quote container', () => {
    const html =
      '<div dir="ltr">Yes please, send the pricing.</div><br><div class="gmail_quote"><div '
      + 'class="gmail_attr">On Tue wrote:</div><blockquote class="gmail_quote">Old text</blockquote></div>';
    assert.equal(trimReplyBody({ html }), 'Yes please, send the pricing.');
    assert.doesNotMatch(htmlToReplyText(html), /Old text/);
  });

  it('prefers the text part over HTML, and detects HTML input', () => {
    assert.equal(trimReplyBody({ text: 'plain wins', html: '<p>html</p>' }), 'plain wins');
    assert.equal(trimReplyBody({}), '');
    assert.equal(looksLikeHtml('<html><body>x</body></html>'), true);
    assert.equal(looksLikeHtml('Hello <b>there</b>'), false);
  });
});
