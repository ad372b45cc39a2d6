// The parts of a Pod the restore decisions read: wire-form JSON as the controller's cache holds
// it, or client-node's V1Pod (structurally assignable).

export type Time = string | Date | null;

/** A container run that ended (structurally a client-node V1ContainerStateTerminated). */
export interface TerminatedLike {
  exitCode?: number;
  reason?: string;
  message?: string;
  startedAt?: Time;
  finishedAt?: Time;
}

export interface ContainerStatusLike {
  name: string;
  image?: string;
  imageID?: string;
  ready?: boolean;
  restartCount?: number;
  state?: {
    waiting?: { reason?: string; message?: string } | null;
    running?: { startedAt?: Time } | null;
    terminated?: TerminatedLike | null;
  } | null;
  lastState?: { terminated?: TerminatedLike | null } | null;
}

/** The parts of a Pod this decision reads (wire-form JSON, or client-node's V1Pod). */
export interface PodLike {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    annotations?: Record<string, string>;
    creationTimestamp?: Time;
    deletionTimestamp?: Time;
    ownerReferences?: Array<{ kind?: string; name?: string; uid?: string; controller?: boolean }>;
  };
  spec?: { nodeName?: string; containers?: Array<{ name: string; image?: string }> };
  status?: {
    phase?: string;
    conditions?: Array<{ type?: string; status?: string; lastTransitionTime?: Time }>;
    containerStatuses?: ContainerStatusLike[];
  };
}

