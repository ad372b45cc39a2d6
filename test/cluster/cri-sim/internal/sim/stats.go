package sim

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Small plausible numbers: CPU grows with uptime, memory is the simulated memory size.

func (s *Server) containerStatsLocked(c *Container, now time.Time) *runtimeapi.ContainerStats {
	var cpu uint64
	if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING && !c.StartedAt.IsZero() {
		cpu = uint64(now.Sub(c.StartedAt).Nanoseconds() / 100) // 1% of a core
	}
	mem := uint64(c.MemoryBytes)
	ts := now.UnixNano()
	return &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{Id: c.ID, Metadata: c.Config.GetMetadata(), Labels: c.Labels, Annotations: c.Annotations},
		Cpu:        &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: cpu}, UsageNanoCores: &runtimeapi.UInt64Value{Value: 10_000_000}},
		Memory: &runtimeapi.MemoryUsage{Timestamp: ts, WorkingSetBytes: &runtimeapi.UInt64Value{Value: mem}, UsageBytes: &runtimeapi.UInt64Value{Value: mem},
			RssBytes: &runtimeapi.UInt64Value{Value: mem}, AvailableBytes: &runtimeapi.UInt64Value{Value: 0}, PageFaults: &runtimeapi.UInt64Value{}, MajorPageFaults: &runtimeapi.UInt64Value{}},
		WritableLayer: &runtimeapi.FilesystemUsage{Timestamp: ts, FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: s.cfg.StateDir},
			UsedBytes: &runtimeapi.UInt64Value{Value: 4096}, InodesUsed: &runtimeapi.UInt64Value{Value: 1}},
	}
}

// ContainerStats reports one container.
func (s *Server) ContainerStats(_ context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.lookupLocked(req.GetContainerId())
	if c == nil {
		return nil, s.notFound(req.GetContainerId())
	}
	return &runtimeapi.ContainerStatsResponse{Stats: s.containerStatsLocked(c, time.Now())}, nil
}

// ListContainerStats reports the containers matching the filter.
func (s *Server) ListContainerStats(_ context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	f := req.GetFilter()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	resp := &runtimeapi.ListContainerStatsResponse{}
	for _, c := range s.containers {
		if (f.GetId() != "" && c.ID != f.GetId()) || (f.GetPodSandboxId() != "" && c.SandboxID != f.GetPodSandboxId()) || !labelsMatch(c.Labels, f.GetLabelSelector()) {
			continue
		}
		resp.Stats = append(resp.Stats, s.containerStatsLocked(c, now))
	}
	return resp, nil
}

func (s *Server) sandboxStatsLocked(sb *Sandbox, now time.Time) *runtimeapi.PodSandboxStats {
	st := &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{Id: sb.ID, Metadata: sb.meta(), Labels: sb.Config.GetLabels(), Annotations: sb.Config.GetAnnotations()},
		Linux:      &runtimeapi.LinuxPodSandboxStats{},
	}
	var cpu, mem, procs uint64
	for _, c := range s.containers {
		if c.SandboxID != sb.ID {
			continue
		}
		cs := s.containerStatsLocked(c, now)
		st.Linux.Containers = append(st.Linux.Containers, cs)
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			cpu += cs.Cpu.UsageCoreNanoSeconds.Value
			mem += cs.Memory.WorkingSetBytes.Value
			procs++
		}
	}
	ts := now.UnixNano()
	st.Linux.Cpu = &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: cpu}, UsageNanoCores: &runtimeapi.UInt64Value{Value: 10_000_000 * procs}}
	st.Linux.Memory = &runtimeapi.MemoryUsage{Timestamp: ts, WorkingSetBytes: &runtimeapi.UInt64Value{Value: mem}, UsageBytes: &runtimeapi.UInt64Value{Value: mem},
		RssBytes: &runtimeapi.UInt64Value{Value: mem}, AvailableBytes: &runtimeapi.UInt64Value{}, PageFaults: &runtimeapi.UInt64Value{}, MajorPageFaults: &runtimeapi.UInt64Value{}}
	st.Linux.Network = &runtimeapi.NetworkUsage{Timestamp: ts, DefaultInterface: &runtimeapi.NetworkInterfaceUsage{Name: "eth0",
		RxBytes: &runtimeapi.UInt64Value{Value: 1024}, RxErrors: &runtimeapi.UInt64Value{}, TxBytes: &runtimeapi.UInt64Value{Value: 1024}, TxErrors: &runtimeapi.UInt64Value{}}}
	st.Linux.Process = &runtimeapi.ProcessUsage{Timestamp: ts, ProcessCount: &runtimeapi.UInt64Value{Value: procs}}
	return st
}

// PodSandboxStats reports one sandbox.
func (s *Server) PodSandboxStats(_ context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, err := s.sandboxLocked(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: s.sandboxStatsLocked(sb, time.Now())}, nil
}

// ListPodSandboxStats reports the sandboxes matching the filter.
func (s *Server) ListPodSandboxStats(_ context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	f := req.GetFilter()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	resp := &runtimeapi.ListPodSandboxStatsResponse{}
	for _, sb := range s.sandboxes {
		if (f.GetId() != "" && sb.ID != f.GetId()) || !labelsMatch(sb.Config.GetLabels(), f.GetLabelSelector()) {
			continue
		}
		resp.Stats = append(resp.Stats, s.sandboxStatsLocked(sb, now))
	}
	return resp, nil
}

// ListMetricDescriptors: no extra metrics.
func (s *Server) ListMetricDescriptors(context.Context, *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	return &runtimeapi.ListMetricDescriptorsResponse{}, nil
}

// ListPodSandboxMetrics: no extra metrics.
func (s *Server) ListPodSandboxMetrics(context.Context, *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	return &runtimeapi.ListPodSandboxMetricsResponse{}, nil
}

// GetContainerEvents is only used by the kubelet's Evented PLEG (feature gate EventedPLEG,
// off by default); without it the kubelet relists (generic PLEG), which is what we want.
func (s *Server) GetContainerEvents(*runtimeapi.GetEventsRequest, runtimeapi.RuntimeService_GetContainerEventsServer) error {
	return status.Error(codes.Unimplemented, "container events are not simulated; the kubelet's generic PLEG relists")
}
