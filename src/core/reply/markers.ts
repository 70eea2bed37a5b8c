/**
 * What the lines around a reply look like: attribution lines ("On … wrote:" in many languages),
 * quoted-message separators, forward markers, mail-header blocks and signatures. Line-level
 * patterns only; trim.ts decides what to cut from where they occur.
 */

/** Verbs that end an "On DATE, NAME wrote:" attribution, by the word that opens it. */
const ATTRIBUTION_OPEN_CLOSE: readonly (readonly [string, string])[] = [
  ['On|At|In message', 'wrote|writes'],
  ['Le', 'a\\s+[ée]crit|nous\\s+a\\s+dit|[ée]crit'],
  ['El', 'escribi[óo]'],
  ['Em|No dia|Às', 'escreveu|escrito'],
  ['Il|In data', 'ha\\s+scritto|scritto'],
  ['Am|Den', 'schrieb|geschrieben|schrieben'],
  ['Op', 'schreef|geschreven|verzond'],
  ['W\\s+dniu|Dnia|Dňa', 'napisa[łl]\\(a\\)|napisa[łl]a?|pisze'],
  ['Den|På|D\\.', 'skrev|skrivit'],
  ['Dne|V', 'napsal\\(a\\)|napsala?'],
  ['În|Pe', 'a\\s+scris'],
  ['Pada', 'menulis'],
  ['Vào', 'đã viết'],
];

const WROTE = 'wrote|writes|schrieb|a écrit|escribió|escreveu|ha scritto|schreef|skrev|написал\\(а\\)|написала|написал';

/** Attribution shapes without a fixed opening word; trusted only when a quote follows. */
const LOOSE_ATTRIBUTIONS: readonly RegExp[] = [
  // "NAME <EMAIL> schrieb am DATE:", "NAME wrote on DATE:"
  new RegExp(
    '^.+\\b(?:wrote|schrieb|a écrit|escribió|escreveu|ha scritto|schreef|skrev|napisał\\(a\\)|napisał)'
      + '\\s+(?:on|am|le|el|em|il|op|den|dnia)\\b.*\\d.*:\\s*$',
    'iu',
  ),
  // "NAME <EMAIL> wrote:", "NAME via Mailing List wrote:", "NAME (EMAIL) wrote:"
  new RegExp(`^.{0,160}(?:[@<(\\d]|\\bvia\\b).{0,160}\\b(?:${WROTE})\\s*:\\s*$`, 'iu'),
  // "Bob Smith wrote:": only names, each capitalised; "As you wrote:" is the person's own sentence.
  new RegExp(`^\\s*(?:\\p{Lu}[\\p{L}'.-]*\\s+){0,3}\\p{Lu}[\\p{L}'.-]*\\s+(?:${WROTE})\\s*:\\s*$`, 'u'),
  // Nordic, Finnish, Hungarian, Czech, Polish, Russian, Ukrainian, Turkish, Greek Gmail:
  // "tis 24 nov. 2026 kl. 10:02 skrev NAME <EMAIL>:"
  new RegExp(
    '^(?=.*\\d).*(?:\\bskrev\\b|\\bkirjoitti\\b|írta|\\bnapsal|\\bnapísal|\\bnapisał|написал|написала|пише|'
      + 'yazdı|έγραψε|כתב|كتب|เขียน).*:\\s*$',
    'iu',
  ),
  // Webmail quoting: "Zitat von NAME <EMAIL>:", "Quoting NAME <EMAIL>:"
  /^(?:zitat von|quoting|citando|citazione di|cytuję|cytowanie|citation de)\s.{1,160}:\s*$/iu,
  // Any line with a year that ends in an address and a colon: "DATE by EMAIL:", "DATE от NAME <EMAIL>:"
  /^.*\b(?:19|20)\d\d\b.*[\s<([]?[^\s<>()[\]]+@[^\s<>()[\]]+[>)\]]?\s*[:：]\s*$/u,
  // Russian Gmail: "пн, 23 нояб. 2026 г. в 10:02, NAME <EMAIL>:"
  /^.*\d{4}\s*г\..*[<[(].+@.+[>\])]\s*:\s*$/u,
  // Chinese: "在 2026年11月24日 …写道：", "NAME <EMAIL> 于2026年11月24日周二 10:02写道："
  /^.*(?:写道|寫道)\s*[:：]?\s*$/u,
  // Japanese and Korean Gmail
  /^.*\d{4}年\d{1,2}月\d{1,2}日.*[<＜].+@.+[>＞]\s*[:：]\s*$/u,
  /^.*の(?:メッセージ|メール)\s*[:：]\s*$/u,
  // Korean Gmail, iOS and Outlook: "…님이 작성:", "…, NAME <EMAIL> 작성:", "…님이 작성하였습니다:"
  /^.*(?:님이|님) 작성(?:하였습니다|했습니다)?\s*[:：]\s*$/u,
  /^.*\d.*[<＜].+@.+[>＞]\s*작성\s*[:：]\s*$/u,
  // "2026-11-24 10:02 GMT+01:00 NAME <EMAIL>:", "24.11.2026 10:02, NAME <EMAIL>:", "2013/10/2 NAME <EMAIL>"
  /^[\s>]*\d{1,4}[-./]\d{1,2}[-./]\d{1,4}.{0,100}<[^<>\s]+@[^<>\s]+>\s*:?\s*$/u,
  /^[\s>]*\d{4}-\d\d-\d\d \d\d?:\d\d GMT[+-]\d\d:\d\d [\p{L} .'-]+:?$/u,
  // "Thu, 26 Jun 2014 14:00:51 +0400 NAME <EMAIL>:"
  /^\S{3,10},? \d\d? \S{3,10}\.? 20\d\d,? \d\d?:\d\d(?::\d\d)?.{0,80}@\S+\s*:\s*$/u,
];

const OPENER_REGEXES = ATTRIBUTION_OPEN_CLOSE.map(
  ([open, close]) => new RegExp(`^(?:${open})\\s(.*)(?<![\\p{L}])(?:${close})(?![\\p{L}])(.*)$`, 'iu'),
);

/** Separators that start the quoted previous message ("-----Original Message-----" etc.). */
const ORIGINAL_WORDS =
  'original message|reply message|ursprüngliche nachricht|originalnachricht|message d.origine|mensaje original|'
  + 'messaggio originale|mensagem original|oorspronkelijk bericht|origineel bericht|originalmeddelande|'
  + 'ursprungligt meddelande|oprindelig meddelelse|opprinnelig melding|alkuperäinen viesti|'
  + 'wiadomość oryginalna|oryginalna wiadomość|исходное сообщение|原始邮件|原始郵件|元のメッセージ|원본 메시지|'
  + 'původní zpráva|eredeti üzenet|orijinal mesaj|αρχικό μήνυμα';

const FORWARD_WORDS =
  'forwarded message|forwarded email|forwarded mail|weitergeleitete nachricht|message transféré|'
  + 'mensaje reenviado|messaggio inoltrato|mensagem encaminhada|doorgestuurd bericht|vidarebefordrat meddelande|'
  + 'videresendt meddelelse|videresendt melding|välitetty viesti|wiadomość przekazana|przekazana wiadomość|'
  + 'пересылаемое сообщение|переслано|转发邮件|転送メッセージ|전달된 메시지|přeposlaná zpráva';

const ORIGINAL_SEPARATOR = new RegExp(`^[\\s>*]*[-_=]{2,}\\s*(?:${ORIGINAL_WORDS})\\s*[-_=]{2,}[\\s*]*$`, 'iu');
const ORIGINAL_SEPARATOR_LOOSE = new RegExp(`^[\\s>*]*[-_=]{3,}\\s*(?:${ORIGINAL_WORDS})\\s*:?[\\s*]*$`, 'iu');
const FORWARD_SEPARATOR = new RegExp(`^[\\s>*]*[-_=]{2,}\\s*(?:${FORWARD_WORDS})\\s*[-_=]{2,}[\\s*]*$`, 'iu');
const FORWARD_INTRO = new RegExp(
  '^[\\s>*]*(?:(?:begin )?forwarded message|début du message (?:réexpédié|transféré)|'
    + 'anfang der weitergeleiteten (?:nachricht|e-mail)|inicio del mensaje reenviado|início da mensagem reencaminhada|'
    + 'messaggio inoltrato|doorgestuurd bericht|vidarebefordrat brev|videresendt besked|'
    + 'videresendt meddelelse|начало переадресованного сообщения|転送されたメッセージ)\\s*[:：]\\s*$',
  'iu',
);

/** Header names of a quoted message's header block, by role. */
const FROM_KEYS =
  'from|von|de|da|van|fra|från|od|от|kimden|lähettäjä|feladó|odesílatel|afzender|expéditeur|remitente|'
  + 'mittente|remetente|от кого|від|από|de la|từ|dari|מאת|من|发件人|寄件者|差出人|送信者|보낸 사람|보낸사람';
const OTHER_KEYS =
  'sent|date|to|cc|bcc|subject|reply-to|gesendet|datum|an|betreff|kopie|envoyé|à|objet|date d.envoi|'
  + 'enviado|enviada|enviado el|fecha|para|asunto|enviada em|data|assunto|inviato|oggetto|a|verzonden|aan|'
  + 'onderwerp|skickat|till|ämne|kopia|sendt|til|emne|wysłano|wysłane|do|temat|data wysłania|отправлено|'
  + 'дата|кому|тема|копия|lähetetty|vastaanottaja|aihe|gönderildi|tarih|kime|konu|odesláno|komu|předmět|'
  + 'elküldve|címzett|tárgy|发送时间|时间|日期|收件人|抄送|主题|主旨|傳送時間|送信日時|日付|宛先|件名|'
  + '보낸 날짜|받는 사람|제목|надіслано|στάλθηκε|προς|θέμα|trimis|către|subiect|đã gửi|đến|chủ đề|terkirim|'
  + 'kepada|subjek|tanggal|נשלח|אל|נושא|تاريخ الإرسال|إلى|الموضوع';
const FROM_HEADER = new RegExp(`^[\\s>]*\\**(?:${FROM_KEYS})\\**\\s*\\**\\s*[:：]\\**\\s*\\S`, 'iu');
const ANY_HEADER = new RegExp(`^[\\s>]*\\**(?:${FROM_KEYS}|${OTHER_KEYS})\\**\\s*\\**\\s*[:：]\\**(?:\\s|$)`, 'iu');

/** Lines a phone or webmail client appends ("Sent from my iPhone", "Get Outlook for iOS"). */
const CLIENT_SIGNATURES: readonly RegExp[] = [
  /^[\s(<*]*sent from (?:my |the |a |an )?\S+(?:\s+\S+){0,8}[\s)>*.]*$/i,
  /^[\s(<*]*sent (?:with|via|using) [^,\d:]{2,40}$/i,
  /^\s*sent (?:from|with|via|using) .{1,60}[.!]\s+please excuse (?:my|any) (?:brevity|typos|spelling)\b.{0,30}$/i,
  /^[\s(<*]*(?:get|download) outlook for (?:ios|android|windows|mac|\S+)\b.*$/i,
  /^[\s(<*]*(?:\S+ )?from (?:my )?(?:iphone|ipad|android|mobile|phone|samsung|galaxy|blackberry)\b[^:.!?]{0,20}[.!]?$/i,
  /^\s*sent from (?:mail|yahoo mail|aol|outlook|gmail|proton ?mail)\b.*$/i,
  /^\s*envoyé (?:de|depuis|à partir de|avec) (?:mon |ma |l'|la |le |\S+).{0,60}$/i,
  /^\s*(?:télécharger|obtenir) outlook pour .*$/i,
  /^\s*von meine[mr]? .{1,60} gesendet\.?$/i,
  /^\s*gesendet (?:von|mit|vom|aus) .{1,60}$/i,
  /^\s*diese nachricht wurde von .{1,80} gesendet\.?$/i,
  /^\s*outlook für .{1,30} beziehen$/i,
  /^\s*enviado (?:desde|de|do|pelo|con|com) (?:mi |meu |o |el |la |\S+).{0,60}$/i,
  /^\s*(?:obtener|obtén|baixe|baixar|descargar) (?:o )?outlook (?:para|for) .*$/i,
  /^\s*(?:hent|skaff) outlook (?:til|for) .*$/i,
  /^\s*odesláno z (?:mého |mé |m[ée]ho )?.{1,40}$/i,
  /^\s*inviato (?:da|dal|dalla|con) .{1,60}$/i,
  /^\s*scarica outlook per .*$/i,
  /^\s*(?:verzonden|verstuurd) (?:vanaf|met|van(?:af)?) .{1,60}$/i,
  /^\s*download outlook voor .*$/i,
  /^\s*(?:skickat|sendt|sendt fra|skickades) (?:från|fra|med) .{1,60}$/i,
  /^\s*(?:från|fra) min .{1,40}$/i,
  /^\s*lähetetty (?:laitteesta|iphonesta|ipadista|androidista|puhelimesta|.{1,40}sta)\b.*$/i,
  /^\s*wysłane? (?:z|ze|przy użyciu) .{1,60}$/i,
  /^\s*wysłano (?:z|ze|przy użyciu) .{1,60}$/i,
  /^\s*отправлено (?:с|из|со) .{1,60}$/i,
  /^\s*(?:从我的|從我的)\s*\S{1,30}\s*(?:发送|傳送|寄出)\s*$/u,
  /^\s*(?:发自我的|發自我的|来自我的|來自我的)\s*\S{1,30}\s*$/u,
  /^\s*\S{1,30}から送信\s*$/u,
  /^\s*(?:내 )?\S{1,30}에서 보냄\s*$/u,
];

/** A signature delimiter on its own line: "-- " (RFC 3676), "--", "__". */
export const SIGNATURE_DELIMITER = /^(?:-- ?|--|_{2,4}|—)\s*$/;

/** A line of underscores or dashes Outlook puts above a quoted header block. */
export const RULE_LINE = /^[\s>]*(?:_{8,}|-{8,}|={8,})\s*$/;

/**
 * Is this line an attribution ("On DATE, NAME wrote:")? 'strong' when it opens with a known word
 * and ends like one; 'weak' for looser shapes, which trim.ts trusts only above a quote.
 */
export function attributionStrength(line: string): 'strong' | 'weak' | null {
  // Every shape below has a colon, a digit or the Chinese verb; most lines have none of them.
  if (line.length > 400 || !/[:：\d]|写道|寫道/.test(line)) return null;
  const s = line.replace(/^[\s>*-]+/, '').replace(/[\s*-]+$/, '');
  for (const re of OPENER_REGEXES) {
    const m = re.exec(s);
    if (!m) continue;
    const tail = m[2] ?? '';
    if (/^\s*[:：]?\s*$/.test(tail)) {
      if (/[:：]\s*$/.test(s) || /\d/.test(s)) return 'strong';
      continue;
    }
    // "Am DATE schrieb NAME <EMAIL>:" puts the name after the verb and ends with a colon.
    if (/[:：]\s*$/.test(tail) && tail.length <= 160) return 'strong';
  }
  if (!LOOSE_ATTRIBUTIONS.some((re) => re.test(s))) return null;
  // A date, a time and an address together ("24.11.2026, 10:02, NAME <EMAIL>:") say it plainly.
  const dated = /\b(?:19|20)\d\d\b|\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b/.test(s);
  return dated && /\b\d{1,2}[:.]\d\d\b/.test(s) && /[<([][^<>()[\]\s]+@[\w-]+\.[^<>()[\]\s]+[>)\]]/.test(s)
    ? 'strong'
    : 'weak';
}

/** BlackBerry marks the quoted message with the bare words, indented, and no rule. */
const ORIGINAL_SEPARATOR_BARE = /^\s+original message\s*$/i;

export function isOriginalSeparator(line: string): boolean {
  return ORIGINAL_SEPARATOR.test(line) || ORIGINAL_SEPARATOR_LOOSE.test(line) || ORIGINAL_SEPARATOR_BARE.test(line);
}

export function isForwardSeparator(line: string): boolean {
  return FORWARD_SEPARATOR.test(line) || FORWARD_INTRO.test(line);
}

export function isFromHeader(line: string): boolean {
  return FROM_HEADER.test(line);
}

export function isHeaderLine(line: string): boolean {
  return ANY_HEADER.test(line);
}

/** Words that make "Sent from my desk, it is easier" a sentence rather than a client's line. */
const SENTENCE_WORDS = /\b(?:is|are|was|were|will|would|it|that|this|because|but|than|then|yesterday|today|last)\b/i;

export function isClientSignature(line: string): boolean {
  // Markdown-style links some clients add ("[Outlook](https://…)") are reduced to their text first.
  const plain = line.replace(/\[([^\]]+)\]\([^)]+\)/g, '$1').replace(/<https?:[^>]+>/g, '');
  if (plain.trim() === '' || plain.length > 120 || SENTENCE_WORDS.test(plain)) return false;
  // A comma before a lower-case word continues a sentence ("Envoyé depuis hier, le colis …").
  if (/,\s+\p{Ll}/u.test(plain) && !/please excuse/i.test(plain)) return false;
  return CLIENT_SIGNATURES.some((re) => re.test(plain));
}

/** A closing line on its own ("Kind regards,", "Mit freundlichen Grüßen"). */
const VALEDICTION = new RegExp(
  '^\\s*(?:(?:kind|best|warm|warmest|with)\\s+(?:regards|wishes)|regards|cheers|cordialement|'
    + 'bien (?:à vous|cordialement)|mit freundlichen grüßen|mit freundlichem gruß|viele grüße|beste grüße|'
    + 'liebe grüße|gruß|saludos(?: cordiales)?|un saludo|atentamente|cordiali saluti|distinti saluti|saluti|'
    + 'atenciosamente|cumprimentos|abraços|met vriendelijke groet(?:en)?|groeten|med vänliga hälsningar|'
    + 'vänliga hälsningar|hälsningar|med venlig hilsen|venlig hilsen|med vennlig hilsen|hilsen|pozdrawiam|'
    + 'z poważaniem|с уважением|всего доброго)[\\s,.!]*$',
  'iu',
);

/** A line of contact details: phone, web or mail address, or "Title | Company". */
const CONTACT_LINE = new RegExp(
  '\\||(?:\\+|\\b)\\d[\\d\\s()./-]{6,}\\d|https?://|\\bwww\\.|@[\\w-]+\\.\\w|'
    + '^\\s*(?:tel|phone|mob(?:ile)?|fax|cell|[tmpe])\\s*[.:]',
  'iu',
);

export function isValediction(line: string): boolean {
  return VALEDICTION.test(line);
}

export function isContactLine(line: string): boolean {
  return CONTACT_LINE.test(line);
}
