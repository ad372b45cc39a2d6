// Splits a text stream into lines as chunks arrive, keeping the unfinished tail: a watch stream
// is one JSON event per line, so each event is parsed on its own and the stream never held whole.

export class LineSplitter {
  #tail = '';
  /** Complete (non-empty) lines the chunk finished; the rest waits for the next chunk. */
  push(chunk: string): string[] {
    const text = this.#tail + chunk;
    const parts = text.split('\n');
    this.#tail = parts.pop() ?? '';
    return parts.map((l) => l.trim()).filter((l) => l !== '');
  }
  /** What is left when the stream ended (a last line without a newline). */
  end(): string[] {
    const last = this.#tail.trim();
    this.#tail = '';
    return last === '' ? [] : [last];
  }
}
