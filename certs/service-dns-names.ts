// The DNS names the API server may use to reach a webhook Service: it dials
// `<svc>.<ns>.svc`, but users and tools sometimes use the other forms.
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}
