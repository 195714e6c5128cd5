/**
 * Hostile terminal text and what every consumer must show of it: the phone's raw output
 * (server/render/ansi.ts), the phone timeline (server/render/timeline-html.ts), the timeline text
 * (cli/render/timeline-text.ts) and the TUI (cli/tui/sanitize.ts). They all read escapes with
 * protocol/terminal-escapes.ts; this table is what keeps them agreeing.
 *
 * `want` is the visible text. The TUI is a terminal-like line model, so the line-editing controls
 * differ there on purpose: a carriage return redraws the line (progress bars) and a backspace
 * erases; elsewhere a bare CR starts a new line and a backspace is dropped, so nothing is hidden.
 */
export interface EscapeCase {
  name: string;
  input: string;
  want: string;
  /** What the TUI shows, where its line editing makes it differ from `want`. */
  tui?: string;
  /** A flood: also checked to take bounded time. */
  flood?: boolean;
}

const FLOOD = 64 * 1024;

export const ESCAPE_CASES: EscapeCase[] = [
  { name: 'plain text and markup stay text', input: '<b>a & "b"</b>', want: '<b>a & "b"</b>' },
  { name: 'SGR colours leave their text', input: '\x1b[1;31mred\x1b[0m plain \x1b[38;5;46mg\x1b[m', want: 'red plain g' },
  { name: '8-bit CSI is dropped whole', input: 'a\u009b31mred', want: 'ared' },
  { name: '8-bit CSI cursor moves', input: '\u009b2J\u009bHtop', want: 'top' },
  { name: 'cursor, screen and private modes', input: '\x1b[2J\x1b[H\x1b[?1049h\x1b[5;10Hcursor\x1b[?25l', want: 'cursor' },
  { name: 'an aborted CSI drops what it held', input: 'a\x1b[12\x00b', want: 'ab' },
  { name: 'LRM is shown as U+FFFD', input: 'x\u200ey', want: 'x\ufffdy' },
  { name: 'RLM and ALM are shown as U+FFFD', input: 'x\u200fy\u061cz', want: 'x\ufffdy\ufffdz' },
  { name: 'bidi overrides and isolates are shown as U+FFFD', input: 'safe\u202egnp.exe \u2066x\u2069', want: 'safe\ufffdgnp.exe \ufffdx\ufffd' },
  { name: 'OSC 8 hyperlink with ESC \\: the text stays, the URL goes', input: '\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\', want: 'link' },
  { name: 'OSC 8 hyperlink with BEL', input: '\x1b]8;;javascript:alert(1)\x07click\x1b]8;;\x07', want: 'click' },
  { name: 'OSC title ended by a C1 ST', input: '\x1b]0;pwned\u009cafter', want: 'after' },
  { name: '8-bit OSC ended by ST', input: '\u009d0;c1 title\u009cc1', want: 'c1' },
  { name: 'OSC 52 clipboard write', input: '\x1b]52;c;ZWNobyBoYWNrZWQ=\x07clip', want: 'clip' },
  { name: 'an open OSC ends at the next escape, as in a terminal', input: '\x1b]0;title\x1b[31mred', want: 'red' },
  { name: 'unterminated OSC hides the rest', input: 'before\x1b]0;title never ends', want: 'before' },
  { name: 'unterminated CSI', input: 'abc\x1b[12;3', want: 'abc' },
  { name: 'DCS with markup inside', input: '\x1bP1$r<script>\x1b\\dcs', want: 'dcs' },
  { name: '8-bit DCS', input: '\u0090q#0;2;0;0;0\u009cx', want: 'x' },
  { name: 'APC, PM and SOS strings', input: '\x1b_apc\x1b\\a\x1b^pm\x1b\\b\x1bXsos\x1b\\c\u009fx\u009cd', want: 'abcd' },
  { name: 'two-byte escapes and charset selection', input: '\x1bcreset\x1b7save\x1b8\x1b(0line\x1b(B\x1b#8!', want: 'resetsaveline!' },
  { name: 'lone ESC at the end', input: 'abc\x1b', want: 'abc' },
  { name: 'ESC before a newline is dropped alone', input: 'a\x1b\nb', want: 'a\nb' },
  { name: 'ESC ESC', input: 'a\x1b\x1b[31mb', want: 'ab' },
  { name: 'C0 controls', input: 'bell\x07 nul\x00 del\x7f vt\x0b', want: 'bell nul del vt' },
  { name: 'C1 controls', input: 'a\u0085b\u008dc\u009cd', want: 'abcd' },
  { name: 'CRLF is one newline', input: 'one\r\ntwo', want: 'one\ntwo' },
  { name: 'a bare CR', input: '10%\r20%', want: '10%\n20%', tui: '20%' },
  { name: 'backspace', input: 'x\by', want: 'xy', tui: 'y' },
  { name: 'flood of open OSC introducers', input: `${'\x1b]'.repeat(FLOOD)}\x07after`, want: 'after', flood: true },
  { name: 'flood of OSC 8 openers', input: `${'\x1b]8;;'.repeat(FLOOD / 4)}\x07after`, want: 'after', flood: true },
  { name: 'flood of DCS introducers', input: `${'\x1bP'.repeat(FLOOD)}\x1b\\after`, want: 'after', flood: true },
  { name: 'flood of 8-bit OSC and CSI', input: `${'\u009d'.repeat(FLOOD)}${'\u009b'.repeat(FLOOD)}mafter`, want: 'after', flood: true },
  { name: 'one huge CSI', input: `\x1b[${'1;'.repeat(FLOOD)}mafter`, want: 'after', flood: true },
  { name: 'ESC with endless intermediates', input: `x\x1b${' '.repeat(FLOOD)}Fafter`, want: 'xafter', flood: true },
  { name: 'flood of bidi controls', input: `a${'\u202e'.repeat(8)}b`, want: `a${'\ufffd'.repeat(8)}b` },
];
