// Public API of the certificates component.
export type { CertificateBundle } from './bundle.ts';
export { serviceDnsNames } from './service-dns-names.ts';
export { generateCertificateBundle, randomSerialHex, CLOCK_SKEW_MS, type CertificateBundleOptions } from './generate.ts';
export { needsRenewal, renewalTime, subjectAltNames, missingSubjectAltNames, RENEW_AT_FRACTION } from './renewal.ts';
export { bundleRenewalReason, type WantedNames } from './bundle-check.ts';
export { mergeCaBundle, splitPemBundle } from './ca-bundle.ts';
export { type SecretStore, type StoredSecret, bundleToSecretData, bundleFromSecretData, SECRET_KEYS } from './secret-store.ts';
export { kubeSecretStore } from './secret-store-kube.ts';
export {
  ensureServingCertificate,
  type EnsureCertificateDeps,
  type EnsureCertificateOptions,
  type EnsureResult,
} from './ensure-serving-certificate.ts';
export { publishCaBundle, type CaBundleTarget, type PublishCaDeps } from './ca-bundle-target.ts';
export { kubeCaBundleTarget } from './ca-bundle-target-kube.ts';
export { type ServingKeyPair, type ServingCertificateSource, isMatchingKeyPair } from './key-pair.ts';
export { attachHotReload, reloadServingCertificate } from './hot-reload.ts';
export { CertificateRotator, nextCheckDelayMs, type CertificateRotatorOptions } from './rotator.ts';
export { CertificateFileWatcher, readKeyPairFiles, type CertificateFileWatcherOptions } from './file-watcher.ts';
export { type Timers, realTimers } from './timers.ts';
