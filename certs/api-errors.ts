// Kubernetes API errors are told apart by HTTP status (.code).
import { apiCode } from '../src/kube/api-error.ts';

export const isConflict = (err: unknown): boolean => apiCode(err) === 409;
export const isNotFound = (err: unknown): boolean => apiCode(err) === 404;
