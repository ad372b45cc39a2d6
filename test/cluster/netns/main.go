// kcr-netns-forward listens on addresses inside a network namespace and forwards each
// connection, as raw TCP, to a loopback address of the namespace it was started in.
//
// Why: the local nodes' kubelets run inside a network namespace of the test run's own (a private
// test host, so the API server's node proxy can reach them on non-loopback addresses), while the
// API server listens on 127.0.0.1 of this namespace only. This process lets each kubelet reach
// it at <node ip>:<api port> inside the namespace.
//
// usage: kcr-netns-forward -netns /var/run/netns/kcr-nodes 10.213.0.11:6443=127.0.0.1:6443 ...
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	nsPath := flag.String("netns", "", "path of the network namespace to listen in")
	flag.Parse()
	if *nsPath == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: kcr-netns-forward -netns PATH LISTEN=TARGET ...")
		os.Exit(2)
	}
	for _, m := range flag.Args() {
		listen, target, ok := strings.Cut(m, "=")
		if !ok {
			log.Fatalf("bad mapping %q: want LISTEN=TARGET", m)
		}
		ln, err := listenIn(*nsPath, listen)
		if err != nil {
			log.Fatalf("listen %s in %s: %v", listen, *nsPath, err)
		}
		go serve(ln, target)
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

// listenIn opens a listening socket inside the namespace at nsPath; the socket stays
// there after the thread returns to the original namespace.
func listenIn(nsPath, addr string) (net.Listener, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("setns: %w", err)
	}
	ln, lerr := net.Listen("tcp", addr)
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// This thread is in the wrong namespace; do not let Go reuse it.
		log.Fatalf("setns back: %v", err)
	}
	return ln, lerr
}

func serve(ln net.Listener, target string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Printf("accept on %s: %v", ln.Addr(), err)
			return
		}
		go pipe(c, target)
	}
}

func pipe(c net.Conn, target string) {
	defer c.Close()
	t, err := net.Dial("tcp", target)
	if err != nil {
		log.Printf("dial %s: %v", target, err)
		return
	}
	defer t.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(t, c); closeWrite(t); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, t); closeWrite(c); done <- struct{}{} }()
	<-done
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
