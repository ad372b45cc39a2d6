// Public API of the certificates component.
export type { CertificateBundle } from './bundle.ts';
export { serviceDnsNames } from './serviceDnsNames.ts';
export { generateCertificateBundle, randomSerialHex, CLOCK_SKEW_MS, type CertificateBundleOptions } from './generate.ts';
export { needsRenewal, renewalTime, subjectAltNames, missingSubjectAltNames, RENEW_AT_FRACTION } from './renewal.ts';
export { bundleRenewalReason, type WantedNames } from './bundleCheck.ts';
export { mergeCaBundle, splitPemBundle } from './caBundle.ts';
export { type SecretStore, type StoredSecret, bundleToSecretData, bundleFromSecretData, SECRET_KEYS } from './secretStore.ts';
export { kubeSecretStore } from './secretStoreKube.ts';
export {
  ensureServingCertificate,
  type EnsureCertificateDeps,
  type EnsureCertificateOptions,
  type EnsureResult,
} from './ensureServingCertificate.ts';
export { publishCaBundle, type CaBundleTarget, type PublishCaDeps } from './caBundleTarget.ts';
export { kubeCaBundleTarget } from './caBundleTargetKube.ts';
export { type ServingKeyPair, type ServingCertificateSource, isMatchingKeyPair } from './keyPair.ts';
export { attachHotReload, reloadServingCertificate } from './hotReload.ts';
export { CertificateRotator, nextCheckDelayMs, type CertificateRotatorOptions } from './rotator.ts';
export { CertificateFileWatcher, readKeyPairFiles, type CertificateFileWatcherOptions } from './fileWatcher.ts';
export { type Timers, realTimers } from './timers.ts';
