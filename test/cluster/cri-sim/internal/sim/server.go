package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Config is one node's simulator configuration.
type Config struct {
	Node               string
	NodeIndex          int // -1: from the node name's trailing number
	Profile            Profile
	StateDir           string
	InsecureRegistries []string
	RegistryCA         string
	DefaultMemoryBytes int64
	Logger             *slog.Logger
}

// Server is the simulated container runtime of one node: CRI RuntimeService and
// ImageService, plus the state the control endpoint reads and steers.
type Server struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	cfg      Config
	p        Profile
	log      *slog.Logger
	images   *ImageStore
	registry *RegistryClient
	faults   *Faults

	mu         sync.Mutex
	sandboxes  map[string]*Sandbox
	containers map[string]*Container
	nextIP     int
	nodeIndex  int
	pullLocks  sync.Map // image ref → *sync.Mutex: one pull at a time per ref
}

// NewServer opens the node's state and image store.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if cfg.DefaultMemoryBytes <= 0 {
		cfg.DefaultMemoryBytes = 256 * 1024
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	store, err := OpenImageStore(filepath.Join(cfg.StateDir, "images"))
	if err != nil {
		return nil, err
	}
	reg, err := NewRegistryClient(cfg.InsecureRegistries, cfg.RegistryCA)
	if err != nil {
		return nil, err
	}
	idx := cfg.NodeIndex
	if idx < 0 {
		idx = NodeIndex(cfg.Node)
	}
	return &Server{
		cfg: cfg, p: cfg.Profile, log: cfg.Logger.With("node", cfg.Node), images: store, registry: reg,
		faults: NewFaults(), sandboxes: map[string]*Sandbox{}, containers: map[string]*Container{},
		nextIP: 2, nodeIndex: idx % 256,
	}, nil
}

// Listen binds the CRI socket (removing a stale one) and returns a gRPC server on it.
func (s *Server) Listen(socket string) (*grpc.Server, net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		return nil, nil, err
	}
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("removing stale socket %s: %w", socket, err)
	}
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return nil, nil, err
	}
	g := grpc.NewServer(grpc.MaxRecvMsgSize(16<<20), grpc.MaxSendMsgSize(16<<20), grpc.UnaryInterceptor(s.logCalls))
	runtimeapi.RegisterRuntimeServiceServer(g, s)
	runtimeapi.RegisterImageServiceServer(g, s)
	return g, ln, nil
}

// logCalls logs failed calls (the runtime's view of what the kubelet will report).
func (s *Server) logCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	switch status.Code(err) {
	case codes.OK:
		s.log.Debug("cri call", "method", info.FullMethod)
	case codes.NotFound, codes.Unimplemented:
		// The kubelet asks after containers it just removed and probes optional RPCs.
		s.log.Debug("cri call failed", "method", info.FullMethod, "error", err.Error())
	default:
		s.log.Warn("cri call failed", "method", info.FullMethod, "error", err.Error())
	}
	return resp, err
}

// Shutdown stops every running app.
func (s *Server) Shutdown() {
	s.mu.Lock()
	var apps []*app
	for _, c := range s.containers {
		if c.app != nil {
			apps = append(apps, c.app)
		}
	}
	s.mu.Unlock()
	for _, a := range apps {
		a.exit(0, "Completed")
	}
}

// Profile is the node's effective profile.
func (s *Server) Profile() Profile { return s.p }

// Faults are the node's injected failures.
func (s *Server) Faults() *Faults { return s.faults }

// Images is the node's image store.
func (s *Server) Images() *ImageStore { return s.images }

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Version: cri-o v1.34.0 server/version.go, containerd v2.1.0 internal/cri/server/version.go.
func (s *Server) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: s.p.Runtime, RuntimeVersion: s.p.Version, RuntimeApiVersion: "v1"}, nil
}

// Status: runtime and network ready.
func (s *Server) Status(context.Context, *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	return &runtimeapi.StatusResponse{
		Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
			{Type: runtimeapi.RuntimeReady, Status: true},
			{Type: runtimeapi.NetworkReady, Status: true},
		}},
		RuntimeHandlers: []*runtimeapi.RuntimeHandler{{Name: "", Features: &runtimeapi.RuntimeHandlerFeatures{}}},
		Features:        &runtimeapi.RuntimeFeatures{SupplementalGroupsPolicy: true},
	}, nil
}

// RuntimeConfig: the cgroupfs driver (the kubelet follows the runtime's driver).
func (s *Server) RuntimeConfig(context.Context, *runtimeapi.RuntimeConfigRequest) (*runtimeapi.RuntimeConfigResponse, error) {
	return &runtimeapi.RuntimeConfigResponse{Linux: &runtimeapi.LinuxRuntimeConfiguration{CgroupDriver: runtimeapi.CgroupDriver_CGROUPFS}}, nil
}

// UpdateRuntimeConfig accepts the pod CIDR; pod IPs come from the node index anyway.
func (s *Server) UpdateRuntimeConfig(context.Context, *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}
