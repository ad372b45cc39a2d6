// A pass-through stream that computes the sha256 and byte count of what flows through it, so a
// blob's digest is known the moment its upload ends, without a second read.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class HashingStream extends Transform {
  readonly #hash: Hash = createHash('sha256');
  #bytes = 0;
  #digest: string | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hash.update(chunk);
    this.#bytes += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.#digest = `sha256:${this.#hash.digest('hex')}`;
    cb();
  }

  /** `sha256:<hex>`; only once the stream has ended. */
  get digest(): string {
    if (this.#digest === undefined) throw new Error('digest read before the stream ended');
    return this.#digest;
  }

  get bytes(): number {
    return this.#bytes;
  }
}
