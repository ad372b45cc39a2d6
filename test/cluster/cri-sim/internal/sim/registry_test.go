package sim

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A token-auth registry in memory: manifests and blobs need a Bearer token that the realm
// hands out for the right Basic credentials (the flow of docker-registry's auth.token).
func bearerRegistry(t *testing.T, useTLS bool) (*httptest.Server, string) {
	blobs := map[string][]byte{}
	layer := []byte("layer")
	config, _ := json.Marshal(map[string]any{"config": ImageConfig{Cmd: []string{"/app"}}})
	blobs[digestOf(layer)], blobs[digestOf(config)] = layer, config
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mediaOCIManifest,
		"config":      map[string]any{"digest": digestOf(config), "size": len(config)},
		"layers":      []map[string]any{{"digest": digestOf(layer), "size": len(layer)}},
		"annotations": map[string]string{"a": "b"},
	})
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mediaOCIIndex,
		"manifests": []map[string]any{
			{"digest": "sha256:" + strings.Repeat("0", 64), "platform": map[string]string{"os": "linux", "architecture": "arm64"}},
			{"digest": digestOf(manifest), "platform": map[string]string{"os": "linux", "architecture": "amd64"}},
		},
		"annotations": map[string]string{AnnotationCRIUCheckpoint: "app"},
	})
	var srv *httptest.Server
	unauthorized := func(w http.ResponseWriter) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="test-registry",scope="repository:priv/app:pull"`, srv.URL))
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "kcr" || p != "s3cret" || r.URL.Query().Get("service") != "test-registry" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
			return
		}
		_, _ = w.Write([]byte(`{"token":"good-token","expires_in":300}`))
	})
	mux.HandleFunc("/v2/priv/app/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good-token" {
			unauthorized(w)
			return
		}
		rest := strings.TrimPrefix(r.URL.Path, "/v2/priv/app/")
		switch {
		case rest == "manifests/1":
			w.Header().Set("Content-Type", mediaOCIIndex)
			_, _ = w.Write(index)
		case rest == "manifests/"+digestOf(manifest):
			_, _ = w.Write(manifest)
		case strings.HasPrefix(rest, "blobs/") && blobs[strings.TrimPrefix(rest, "blobs/")] != nil:
			_, _ = w.Write(blobs[strings.TrimPrefix(rest, "blobs/")])
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`))
		}
	})
	srv = httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the no-CA case fails the handshake on purpose
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, digestOf(index)
}

func TestBearerTokenPull(t *testing.T) {
	srv, indexDigest := bearerRegistry(t, false)
	host := strings.TrimPrefix(srv.URL, "http://")
	c, err := NewRegistryClient([]string{host}, "")
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := ParseImageRef(host + "/priv/app:1")
	p, err := c.Pull(context.Background(), ref, &Creds{Username: "kcr", Password: "s3cret"}, c.TransportFor(host), t.TempDir())
	if err != nil {
		t.Fatalf("pull with credentials: %v", err)
	}
	if p.TopDigest != indexDigest || p.ManifestAnnotations["a"] != "b" || p.TargetAnnotations[AnnotationCRIUCheckpoint] != "app" || len(p.Layers) != 1 || p.Config.Cmd[0] != "/app" {
		t.Errorf("pulled %+v", p)
	}
	// containerd reads the annotation on the index it pulled; CRI-O on the platform manifest.
	img := FromPulled(ref, p)
	ann := ImageAnnotations{Manifest: img.ManifestAnnotations, Target: img.TargetAnnotations}
	if _, ok := DetectCheckpoint(mustProfile(t, "containerd-2.1"), ann); !ok {
		t.Error("containerd does not detect the index annotation")
	}
	if _, ok := DetectCheckpoint(mustProfile(t, "cri-o-1.34"), ann); ok {
		t.Error("CRI-O detects an annotation that is not on the image manifest")
	}

	for _, creds := range []*Creds{{Username: "kcr", Password: "wrong"}, nil} {
		_, err = c.Pull(context.Background(), ref, creds, TransportHTTP, t.TempDir())
		if err == nil {
			t.Fatal("pull with bad credentials worked")
		}
		crio := PullErrorText(mustProfile(t, "cri-o-1.34"), ref, err)
		ctrd := PullErrorText(mustProfile(t, "containerd-2.1"), ref, err)
		want := "initializing source docker://" + ref.String() + ": unable to retrieve auth token: invalid username/password: authentication required"
		if crio != want {
			t.Errorf("CRI-O text:\n got %s\nwant %s", crio, want)
		}
		if !strings.Contains(ctrd, "failed to authorize: failed to fetch oauth token: unexpected status from GET request to "+srv.URL+"/token") {
			t.Errorf("containerd text: %s", ctrd)
		}
	}
	missing, _ := ParseImageRef(host + "/priv/app:2")
	_, err = c.Pull(context.Background(), missing, &Creds{Username: "kcr", Password: "s3cret"}, TransportHTTP, t.TempDir())
	if got := PullErrorText(mustProfile(t, "cri-o-1.34"), missing, err); got != "initializing source docker://"+missing.String()+": reading manifest 2 in "+host+"/priv/app: manifest unknown" {
		t.Errorf("missing manifest: %s", got)
	}
}

// TestHTTPSRegistry: a loopback registry not listed as insecure is spoken to over HTTPS,
// verified with --registry-ca; without that CA the pull fails.
func TestHTTPSRegistry(t *testing.T) {
	srv, _ := bearerRegistry(t, true)
	host := strings.TrimPrefix(srv.URL, "https://")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ref, _ := ParseImageRef(host + "/priv/app:1")
	c, err := NewRegistryClient(nil, ca)
	if err != nil {
		t.Fatal(err)
	}
	if c.TransportFor(host) != TransportHTTPS {
		t.Fatal("a loopback registry is not HTTPS by default")
	}
	if _, err := c.Pull(context.Background(), ref, &Creds{Username: "kcr", Password: "s3cret"}, TransportHTTPS, t.TempDir()); err != nil {
		t.Fatalf("HTTPS pull with the CA: %v", err)
	}
	noCA, _ := NewRegistryClient(nil, "")
	_, err = noCA.Pull(context.Background(), ref, &Creds{Username: "kcr", Password: "s3cret"}, TransportHTTPS, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("HTTPS pull without the CA: %v", err)
	}
	if _, err := NewRegistryClient(nil, filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("a missing --registry-ca was accepted")
	}
}
