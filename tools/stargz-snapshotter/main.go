// Command stargz-snapshotter serves the stargz snapshotter of the
// github.com/containerd/stargz-snapshotter library (the version pinned in go.mod) on a unix
// socket, for a containerd that loads it as a `proxy_plugins` snapshotter. It is the bench's
// stand-in for containerd-stargz-grpc, whose module (…/cmd) the Go module proxy does not serve:
// no config file, no FUSE manager, no CRI keychain, metadata kept in memory.
//
//	stargz-snapshotter -root DIR -address SOCK [-plain-http HOST:PORT]...
//
// SIGINT or SIGTERM stops it and unmounts its FUSE layers.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/contrib/snapshotservice"
	"github.com/containerd/log"
	"github.com/containerd/stargz-snapshotter/service"
	"github.com/containerd/stargz-snapshotter/service/resolver"
	"google.golang.org/grpc"
)

// hosts collects the repeated -plain-http flag.
type hosts []string

func (h *hosts) String() string     { return strings.Join(*h, ",") }
func (h *hosts) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	root := flag.String("root", "", "the snapshotter's root directory (snapshots, layer cache)")
	address := flag.String("address", "", "the unix socket to serve the snapshots gRPC API on")
	logLevel := flag.String("log-level", "info", "debug, info, warn or error")
	var plain hosts
	flag.Var(&plain, "plain-http", "a registry host:port to reach over plain HTTP (repeatable)")
	flag.Parse()
	if *root == "" || *address == "" {
		fmt.Fprintln(os.Stderr, "usage: stargz-snapshotter -root DIR -address SOCK [-plain-http HOST:PORT]...")
		os.Exit(2)
	}
	if err := log.SetLevel(*logLevel); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := run(*root, *address, plain); err != nil {
		fmt.Fprintln(os.Stderr, "stargz-snapshotter:", err)
		os.Exit(1)
	}
}

func run(root, address string, plain []string) error {
	ctx := log.WithLogger(context.Background(), log.L)
	if err := service.Supported(root); err != nil {
		return fmt.Errorf("the stargz snapshotter cannot run here: %w", err)
	}
	// The resolver's per-host settings: each host's mirrors are tried before the host itself, and a
	// mirror marked Insecure is reached over http (the library already does so for localhost and
	// 127.0.0.1; the flag makes it explicit, and covers other loopback names).
	var cfg service.Config
	cfg.ResolverConfig.Host = map[string]resolver.HostConfig{}
	for _, h := range plain {
		cfg.ResolverConfig.Host[h] = resolver.HostConfig{Mirrors: []resolver.MirrorConfig{{Host: h, Insecure: true}}}
	}
	sn, err := service.NewStargzSnapshotterService(ctx, root, &cfg)
	if err != nil {
		return err
	}
	defer sn.Close() // unmounts the FUSE layers

	rpc := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(rpc, snapshotservice.FromSnapshotter(sn))
	if err := os.MkdirAll(filepath.Dir(address), 0o700); err != nil {
		return err
	}
	_ = os.Remove(address)
	l, err := net.Listen("unix", address)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- rpc.Serve(l) }()
	log.G(ctx).Infof("serving the stargz snapshotter on %s (root %s)", address, root)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.G(ctx).Infof("got %v, stopping", s)
		rpc.Stop()
		return nil
	case err := <-served:
		return err
	}
}
