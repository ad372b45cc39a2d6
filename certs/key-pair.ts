// What an HTTPS server needs to serve: a certificate (chain) and its private key.
import { X509Certificate, createPrivateKey } from 'node:crypto';

export interface ServingKeyPair {
  cert: string;
  key: string;
}

/** Something that announces a new key pair whenever the serving certificate changes. */
export interface ServingCertificateSource {
  onChange(listener: (pair: ServingKeyPair) => void): () => void;
}

/** True when the PEMs parse and the key belongs to the (first) certificate. Pure. */
export function isMatchingKeyPair(pair: ServingKeyPair): boolean {
  try {
    return new X509Certificate(pair.cert).checkPrivateKey(createPrivateKey(pair.key));
  } catch {
    return false;
  }
}

/** A tiny listener set shared by the rotator and the file watcher. */
export class KeyPairListeners implements ServingCertificateSource {
  #listeners = new Set<(pair: ServingKeyPair) => void>();

  onChange(listener: (pair: ServingKeyPair) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(pair: ServingKeyPair): void {
    for (const listener of this.#listeners) listener(pair);
  }
}
