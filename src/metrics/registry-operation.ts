// What kcr was doing at the registry when a call failed: the label of kcr_registry_errors_total,
// shared by the agent (push) and the controller (delete, list).
export type RegistryOperation = 'push' | 'delete' | 'list';
