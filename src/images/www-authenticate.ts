// Parses a WWW-Authenticate header (RFC 7235) into challenges, e.g.
//   Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"
// Quoted values may hold commas and escaped quotes. Pure.

export interface AuthChallenge {
  /** Lowercased: 'basic', 'bearer'. */
  scheme: string;
  /** Parameter names lowercased. */
  params: Record<string, string>;
}

export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpaces = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  let current: AuthChallenge | undefined;
  while (i < n) {
    skipSpaces();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const token = readToken();
    if (token === '') {
      i++; // skip a stray character
      continue;
    }
    skipSpaces();
    if (header[i] === '=' && current) {
      i++;
      skipSpaces();
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++; // closing quote
      } else {
        const start = i;
        while (i < n && header[i] !== ',' && header[i] !== ' ') i++;
        value = header.slice(start, i);
      }
      current.params[token.toLowerCase()] = value;
    } else {
      // A new challenge: scheme token (maybe followed by params or a token68, ignored).
      current = { scheme: token.toLowerCase(), params: {} };
      challenges.push(current);
      // token68 (e.g. `Negotiate abc==`): a token directly followed by '=' runs and no '"'.
      const m = /^[A-Za-z0-9\-._~+/]+=*(?=\s*(,|$))/.exec(header.slice(i));
      if (m && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\s*=\s*[^=]/.test(header.slice(i))) i += m[0].length;
    }
  }
  return challenges;
}
