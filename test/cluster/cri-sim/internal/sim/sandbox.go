package sim

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Sandbox is one pod sandbox (no processes, no network namespace: just its identity and IP).
type Sandbox struct {
	ID        string
	Config    *runtimeapi.PodSandboxConfig
	State     runtimeapi.PodSandboxState
	CreatedAt time.Time
	IP        string
}

func (sb *Sandbox) meta() *runtimeapi.PodSandboxMetadata { return sb.Config.GetMetadata() }

// RunPodSandbox makes a ready sandbox with the next pod IP of the node's range.
func (s *Server) RunPodSandbox(_ context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	cfg := req.GetConfig()
	if cfg.GetMetadata() == nil {
		return nil, status.Error(codes.InvalidArgument, "sandbox config metadata is nil")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The kubelet retries a RunPodSandbox that timed out: hand back the same ready sandbox.
	for _, sb := range s.sandboxes {
		m := sb.meta()
		if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY && m.GetUid() == cfg.GetMetadata().GetUid() && m.GetAttempt() == cfg.GetMetadata().GetAttempt() {
			return &runtimeapi.RunPodSandboxResponse{PodSandboxId: sb.ID}, nil
		}
	}
	sb := &Sandbox{ID: newID(), Config: cfg, State: runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: time.Now()}
	if cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() == runtimeapi.NamespaceMode_NODE {
		sb.IP = ""
	} else {
		sb.IP = fmt.Sprintf("10.244.%d.%d", s.nodeIndex, s.nextIP)
		s.nextIP++
		if s.nextIP > 254 {
			s.nextIP = 2
		}
	}
	s.sandboxes[sb.ID] = sb
	s.log.Info("sandbox ready", "namespace", cfg.GetMetadata().GetNamespace(), "pod", cfg.GetMetadata().GetName(), "sandbox", sb.ID[:12], "ip", sb.IP)
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: sb.ID}, nil
}

func (s *Server) sandboxLocked(id string) (*Sandbox, error) {
	if sb, ok := s.sandboxes[id]; ok {
		return sb, nil
	}
	for full, sb := range s.sandboxes {
		if len(id) >= 6 && len(full) > len(id) && full[:len(id)] == id {
			return sb, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "could not find pod %q: PodSandbox with ID starting with %s not found", id, id)
}

// StopPodSandbox stops every container of the sandbox; stopping twice is fine.
func (s *Server) StopPodSandbox(_ context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	s.mu.Lock()
	sb, err := s.sandboxLocked(req.GetPodSandboxId())
	if err != nil {
		s.mu.Unlock()
		// The kubelet may stop a sandbox the runtime already removed.
		return &runtimeapi.StopPodSandboxResponse{}, nil
	}
	var apps []*app
	for _, c := range s.containers {
		if c.SandboxID == sb.ID && c.app != nil {
			apps = append(apps, c.app)
		}
	}
	sb.State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	s.mu.Unlock()
	for _, a := range apps {
		a.exit(137, "Error")
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

// RemovePodSandbox removes the sandbox and its containers.
func (s *Server) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	if _, err := s.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: req.GetPodSandboxId()}); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, err := s.sandboxLocked(req.GetPodSandboxId())
	if err != nil {
		return &runtimeapi.RemovePodSandboxResponse{}, nil
	}
	for id, c := range s.containers {
		if c.SandboxID == sb.ID {
			delete(s.containers, id)
		}
	}
	delete(s.sandboxes, sb.ID)
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

func (s *Server) sandboxStatus(sb *Sandbox) *runtimeapi.PodSandboxStatus {
	st := &runtimeapi.PodSandboxStatus{
		Id: sb.ID, Metadata: sb.meta(), State: sb.State, CreatedAt: sb.CreatedAt.UnixNano(),
		Labels: sb.Config.GetLabels(), Annotations: sb.Config.GetAnnotations(), RuntimeHandler: "",
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{Options: sb.Config.GetLinux().GetSecurityContext().GetNamespaceOptions()}},
	}
	if sb.IP != "" {
		st.Network = &runtimeapi.PodSandboxNetworkStatus{Ip: sb.IP}
	} else {
		st.Network = &runtimeapi.PodSandboxNetworkStatus{}
	}
	return st
}

// PodSandboxStatus reports one sandbox (and, when verbose, its containers' statuses).
func (s *Server) PodSandboxStatus(_ context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, err := s.sandboxLocked(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: s.sandboxStatus(sb), Timestamp: time.Now().UnixNano()}
	for _, c := range s.containers {
		if c.SandboxID == sb.ID {
			resp.ContainersStatuses = append(resp.ContainersStatuses, s.containerStatusLocked(c))
		}
	}
	return resp, nil
}

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// ListPodSandbox honours the id, state and label filters the kubelet uses.
func (s *Server) ListPodSandbox(_ context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	f := req.GetFilter()
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &runtimeapi.ListPodSandboxResponse{}
	for _, sb := range s.sandboxes {
		if f.GetId() != "" && sb.ID != f.GetId() {
			continue
		}
		if f.GetState() != nil && f.GetState().GetState() != sb.State {
			continue
		}
		if !labelsMatch(sb.Config.GetLabels(), f.GetLabelSelector()) {
			continue
		}
		resp.Items = append(resp.Items, &runtimeapi.PodSandbox{
			Id: sb.ID, Metadata: sb.meta(), State: sb.State, CreatedAt: sb.CreatedAt.UnixNano(),
			Labels: sb.Config.GetLabels(), Annotations: sb.Config.GetAnnotations(),
		})
	}
	return resp, nil
}

// UpdatePodSandboxResources is accepted (in-place pod resize changes nothing here).
func (s *Server) UpdatePodSandboxResources(context.Context, *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	return &runtimeapi.UpdatePodSandboxResourcesResponse{}, nil
}
