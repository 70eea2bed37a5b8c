import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
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

describe('what stays in the reply', () => {
  it('keeps inline answers and the quotes between them, drops the quote after the last answer', () => {
    const text =
      'On Tue, Nov 24, 2026 at 10:02 AM Shop <news@shop.example.com> wrote:\n> Which size?\nL.\n'
      + '> Which colour?\nBlue.\n>\n> The Shop team\n';
    assert.equal(
      trimReplyText(text),
      'On Tue, Nov 24, 2026 at 10:02 AM Shop <news@shop.example.com> wrote:\n> Which size?\nL.\n'
        + '> Which colour?\nBlue.',
    );
  });

  it('keeps lines that only start like markers', () => {
    const text = 'On Monday I will call you.\nFrom: now on use my work address.\nI wrote to you last week:\nno answer.';
    assert.equal(trimReplyText(text), text);
    assert.equal(
      trimReplyText('Here is another email\n\nSent from my desk, it is easier than my phone.'),
      'Here is another email\n\nSent from my desk, it is easier than my phone.',
    );
  });

  it('does not take a reply line as the start of an attribution wrapped below it', () => {
    const text =
      'On Monday I will call you\nOn Tue, Nov 24, 2026 at 10:02 AM Shop <\nnews@shop.example.com> wrote:\n> hi\n';
    assert.equal(trimReplyText(text), 'On Monday I will call you');
  });

  it('cuts a forward below a note, keeps a bare forward whole', () => {
    const forward =
      '---------- Forwarded message ---------\nFrom: Shop <news@shop.example.com>\nDate: Tue, Nov 24, 2026\n'
      + 'Subject: Sale\nTo: <me@example.org>\n\nOur sale.';
    assert.equal(trimReplyText(`Have a look.\n\n${forward}\n`), 'Have a look.');
    assert.equal(trimReplyText(`${forward}\n`), forward);
  });

  it('drops localised Outlook header blocks and separators', () => {
    assert.equal(
      trimReplyText(
        'Passt.\n\nVon: Shop <news@shop.example.com>\nGesendet: Dienstag\nAn: Anna\nBetreff: Sale\n\nText\n',
      ),
      'Passt.',
    );
    assert.equal(
      trimReplyText("Merci.\n\n-----Message d'origine-----\nDe : Shop\nEnvoyé : mardi\nObjet : Soldes\n\nTexte\n"),
      'Merci.',
    );
    assert.equal(
      trimReplyText('好的。\n\n发件人: Shop <news@shop.example.com>\n发送时间: 2026年11月24日\n主题: 促销\n\n正文\n'),
      '好的。',
    );
  });

  it('drops client signature lines in many languages and an only-signature reply is empty', () => {
    for (const sig of ['Von meinem iPhone gesendet', 'Envoyé de mon iPhone', 'Get Outlook for iOS', 'iPhoneから送信']) {
      assert.equal(trimReplyText(`Ja.\n\n${sig}\n`), 'Ja.', sig);
    }
    assert.equal(trimReplyText('-- \nBob\n\nOn Tue, Nov 24, 2026, Shop <news@shop.example.com> wrote:\n> hi\n'), '');
  });

  it('keeps a closing with a name, drops a closing with contact details', () => {
    assert.equal(trimReplyText('Yes.\n\nBest regards,\nMaria Lopez\n'), 'Yes.\n\nBest regards,\nMaria Lopez');
    assert.equal(trimReplyText('Yes.\n\nKind regards\nMaria Lopez\nSales | Example\n+44 20 7946 0000\n'), 'Yes.');
  });

  it('never adds text: every output line is a line of the input', () => {
    const pieces = [
      'Hello there',
      'On Tue, Nov 24, 2026 at 10:02 AM Shop <news@shop.example.com> wrote:',
      '> quoted',
      '',
      '-- ',
      'Sent from my iPhone',
      'From: Shop <news@shop.example.com>',
      'Sent: Tuesday',
      'Subject: x',
      '-----Original Message-----',
      'Kind regards',
      'www.example.org',
      'Answer',
    ];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 25 }), (lines) => {
        const out = trimReplyText(lines.join('\n'));
        for (const line of out.split('\n')) assert.ok(line === '' || lines.includes(line), line);
      }),
    );
  });
});

describe('HTML-only Outlook and Apple replies', () => {
  it('cuts at Outlook on the web #divRplyFwdMsg and keeps MsoNormal lines single-spaced', () => {
    const web =
      '<div>I will be there.</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Shop'
      + '<br><b>Sent:</b> Tuesday</div><div>Join us.</div>';
    assert.equal(trimReplyBody({ html: web }), 'I will be there.');
    const mso =
      '<p class="MsoNormal">Line one</p><p class="MsoNormal">Line two</p><p class="MsoNormal">&nbsp;</p>'
      + '<div style="border-top:solid #E1E1E1 1.0pt"><p class="MsoNormal">'
      + '<b>From:</b> Shop &lt;news@shop.example.com&gt;'
      + '<br><b>Sent:</b> Tuesday<br><b>To:</b> Bob<br><b>Subject:</b> Sale</p></div><p class="MsoNormal">Old</p>';
    assert.equal(trimReplyBody({ html: mso }), 'Line one\nLine two');
  });

  it('keeps an inline answer between Apple Mail cite blockquotes', () => {
    const html =
      '<div>See below.</div><blockquote type="cite">Gift wrap?</blockquote><div>Yes please.</div>'
      + '<blockquote type="cite">The Shop team</blockquote>';
    assert.equal(trimReplyBody({ html }), 'See below.\n\n> Gift wrap?\n\nYes please.');
  });
});
