// Public API of the certificates component.
export type { CertificateBundle } from './bundle.ts';
export { serviceDnsNames } from './serviceDnsNames.ts';
export { generateCertificateBundle, type CertificateBundleOptions } from './generate.ts';
