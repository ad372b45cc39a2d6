// Kubernetes API errors are told apart by HTTP status (client-node 2.x ApiException.code).
import { ApiException } from '@kubernetes/client-node';

export function apiStatus(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

export const isConflict = (err: unknown): boolean => apiStatus(err) === 409;
export const isNotFound = (err: unknown): boolean => apiStatus(err) === 404;
