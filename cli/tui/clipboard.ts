/**
 * OSC 52: asks the terminal the console runs in (the operator's own, over SSH too) to put `text`
 * on its clipboard. The sequence is built here from the text's base64, so nothing in the text
 * can end it early or add a sequence of its own. Terminals that do not allow OSC 52 ignore it
 * (tmux passes it on with `set -g set-clipboard on`).
 *
 * @example
 * osc52('hi') // '\x1b]52;c;aGk=\x07'
 */
export function osc52(text: string): string {
  return `\x1b]52;c;${Buffer.from(text, 'utf8').toString('base64')}\x07`;
}
