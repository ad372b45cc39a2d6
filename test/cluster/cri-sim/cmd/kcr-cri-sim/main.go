// kcr-cri-sim serves one node's simulated container runtime behind the real kubelet's CRI socket.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"kcr.io/cri-sim/internal/sim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kcr-cri-sim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("kcr-cri-sim", flag.ContinueOnError)
	node := fs.String("node", "", "node name (its trailing number is the pod IP range 10.244.<n>.0/24)")
	nodeIndex := fs.Int("node-index", -1, "node index for pod IPs (default: the node name's trailing number)")
	profileSpec := fs.String("profile", "", "runtime profile NAME[:restore=on|off] ("+strings.Join(sim.ProfileNames(), ", ")+")")
	socket := fs.String("socket", "", "CRI unix socket path")
	control := fs.String("control", "127.0.0.1:0", "loopback address of the HTTP control endpoint")
	stateDir := fs.String("state-dir", "", "the node's image store and state")
	insecure := fs.String("insecure-registries", "", "comma-separated host:port spoken to over plain HTTP")
	ca := fs.String("registry-ca", "", "PEM CA for HTTPS registries on this machine")
	mem := fs.Int64("default-memory-bytes", 256*1024, "simulated memory of a container (pages-1.img size)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *node == "" || *profileSpec == "" || *socket == "" || *stateDir == "" {
		return errors.New("--node, --profile, --socket and --state-dir are required")
	}
	profile, err := sim.ParseProfile(*profileSpec)
	if err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	host, _, err := net.SplitHostPort(*control)
	if err != nil {
		return fmt.Errorf("--control: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--control must be a loopback address, got %q", *control)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	var regs []string
	if *insecure != "" {
		regs = strings.Split(*insecure, ",")
	}
	srv, err := sim.NewServer(sim.Config{
		Node: *node, NodeIndex: *nodeIndex, Profile: profile, StateDir: *stateDir,
		InsecureRegistries: regs, RegistryCA: *ca, DefaultMemoryBytes: *mem, Logger: logger,
	})
	if err != nil {
		return err
	}
	g, criLn, err := srv.Listen(*socket)
	if err != nil {
		return err
	}
	ctlLn, err := net.Listen("tcp", *control)
	if err != nil {
		criLn.Close()
		return err
	}
	httpSrv := &http.Server{Handler: srv.ControlHandler(), ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, 2)
	go func() { errs <- g.Serve(criLn) }()
	go func() {
		if err := httpSrv.Serve(ctlLn); !errors.Is(err, http.ErrServerClosed) {
			errs <- err
		}
	}()
	fmt.Printf("ready control=%s\n", ctlLn.Addr().String())
	logger.Info("kcr-cri-sim ready", "node", *node, "profile", profile.Name, "runtime", profile.Runtime,
		"version", profile.Version, "restore", profile.Restore, "socket", *socket, "control", ctlLn.Addr().String())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case sig := <-sigs:
		logger.Info("stopping", "node", *node, "signal", sig.String())
	case err := <-errs:
		logger.Error("listener failed", "node", *node, "error", err.Error())
		srv.Shutdown()
		return err
	}
	srv.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(ctx)
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		g.Stop()
	}
	_ = os.Remove(*socket)
	return nil
}
