/**
 * Splits a command line into argv the way a POSIX shell splits words, without any expansion
 * (no variables, globs, pipes or redirections: the shell task runs the program directly).
 *
 * - whitespace separates words;
 * - '...' keeps everything literally;
 * - "..." keeps everything except that a backslash escapes `\`, `"`, `$`, `` ` `` and newline;
 * - outside quotes a backslash escapes the next character (backslash-newline joins lines);
 * - a `{{ ... }}` template is copied as is, quotes and spaces included, so that
 *   `echo {{ outputs['a'].body }}` stays one argument for the expression engine to fill in.
 *
 * Returns null when a quote is not closed.
 */
export function splitCommandLine(cmd: string): string[] | null {
  const words: string[] = [];
  let word = '';
  // A word exists once anything was seen, so that '' yields an empty argument.
  let inWord = false;
  let i = 0;

  const copyTemplate = (): boolean => {
    if (!cmd.startsWith('{{', i)) return false;
    const end = cmd.indexOf('}}', i + 2);
    if (end < 0) return false;
    word += cmd.slice(i, end + 2);
    inWord = true;
    i = end + 2;
    return true;
  };

  while (i < cmd.length) {
    const ch = cmd[i];
    if (copyTemplate()) continue;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (ch === '\\') {
      if (i + 1 >= cmd.length) {
        word += ch;
      } else if (cmd[i + 1] !== '\n') {
        word += cmd[i + 1];
      }
      inWord = true;
      i += 2;
    } else if (ch === "'") {
      const end = cmd.indexOf("'", i + 1);
      if (end < 0) return null;
      word += cmd.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      inWord = true;
      i++;
      let closed = false;
      while (i < cmd.length) {
        if (copyTemplate()) continue;
        const c = cmd[i];
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === '\\' && i + 1 < cmd.length && '\\"$`\n'.includes(cmd[i + 1])) {
          if (cmd[i + 1] !== '\n') word += cmd[i + 1];
          i += 2;
        } else {
          word += c;
          i++;
        }
      }
      if (!closed) return null;
    } else {
      word += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}
