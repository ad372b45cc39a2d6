// A CA and the serving certificate it signed, all PEM. Kept together in one Secret
// so that every webhook replica serves the same chain.
export interface CertificateBundle {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}
