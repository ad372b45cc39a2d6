package sim

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Media types the puller accepts.
const (
	mediaOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mediaOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// Creds are what the kubelet hands over in PullImageRequest.auth.
type Creds struct {
	Username, Password string
	RegistryToken      string
}

// Transport says how a registry is spoken to.
type Transport int

const (
	TransportSynthetic Transport = iota // not on this machine: no network at all
	TransportHTTP
	TransportHTTPS
)

// RegistryClient pulls over the OCI distribution API.
type RegistryClient struct {
	insecure map[string]bool
	https    *http.Client
	plain    *http.Client
}

// NewRegistryClient: hosts in insecure are spoken to over HTTP; other local hosts over HTTPS
// verified with caFile (if any) plus the system roots.
func NewRegistryClient(insecure []string, caFile string) (*RegistryClient, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading --registry-ca: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--registry-ca %s holds no PEM certificate", caFile)
		}
	}
	c := &RegistryClient{insecure: map[string]bool{}}
	for _, h := range insecure {
		if h = strings.TrimSpace(h); h != "" {
			c.insecure[h] = true
		}
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ResponseHeaderTimeout: 30 * time.Second}
	c.https = &http.Client{Transport: tr, Timeout: 10 * time.Minute}
	c.plain = &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 30 * time.Second}, Timeout: 10 * time.Minute}
	return c, nil
}

// TransportFor is the node's configured way to reach registry (registries.conf / hosts.toml).
func (c *RegistryClient) TransportFor(registry string) Transport {
	switch {
	case c.insecure[registry]:
		return TransportHTTP
	case IsLocalRegistry(registry):
		return TransportHTTPS
	default:
		return TransportSynthetic
	}
}

// DefaultResolverTransport is containerd's client.Pull default resolver, used for the base
// image of a restore: it ignores the node's registry config. containerd v2.1.0
// core/remotes/docker/resolver.go NewResolver: WithPlainHTTP(MatchLocalhost) — loopback
// hosts over plain HTTP, all others over HTTPS with the system roots only.
func (c *RegistryClient) DefaultResolverTransport(registry string) Transport {
	if IsLocalRegistry(registry) {
		return TransportHTTP
	}
	return TransportSynthetic
}

// RegistryError is a failed registry exchange, kept structured so each runtime can word it.
type RegistryError struct {
	Method, URL string
	Status      int    // 0 for a transport error
	StatusText  string // "401 Unauthorized"
	Code, Msg   string // first error of the registry's JSON body
	Token       bool   // the failure was on the token endpoint
	Transport   error
}

func (e *RegistryError) Error() string {
	if e.Transport != nil {
		return e.Transport.Error()
	}
	return fmt.Sprintf("%s %s: %s", e.Method, e.URL, e.StatusText)
}

// Layer is one layer blob, stored on disk.
type Layer struct {
	Digest    string
	MediaType string
	Size      int64
	Path      string
}

// Pulled is one resolved image.
type Pulled struct {
	TopDigest           string // digest of what the reference resolved to
	ManifestDigest      string // the platform image manifest's digest
	TargetAnnotations   map[string]string
	ManifestAnnotations map[string]string
	ConfigDigest        string
	Config              ImageConfig
	Layers              []Layer
	Size                int64
}

// ImageConfig is the part of the OCI image config a container uses.
type ImageConfig struct {
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	Env        []string `json:"Env,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
	User       string   `json:"User,omitempty"`
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform,omitempty"`
}

type manifestDoc struct {
	MediaType   string            `json:"mediaType"`
	Config      descriptor        `json:"config"`
	Layers      []descriptor      `json:"layers"`
	Manifests   []descriptor      `json:"manifests"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// session is one pull: the registry, the credentials and the authorisation learnt so far.
type session struct {
	c       *RegistryClient
	client  *http.Client
	base    string
	repo    string
	creds   *Creds
	authz   string // Authorization header value once known
	blobDir string
}

// Pull resolves ref and fetches its manifest, config and every layer into blobDir.
func (c *RegistryClient) Pull(ctx context.Context, ref ImageRef, creds *Creds, t Transport, blobDir string) (*Pulled, error) {
	s := &session{c: c, repo: ref.Repository, creds: creds, blobDir: blobDir}
	if t == TransportHTTP {
		s.client, s.base = c.plain, "http://"+ref.Registry
	} else {
		s.client, s.base = c.https, "https://"+ref.Registry
	}
	if creds != nil && creds.RegistryToken != "" {
		s.authz = "Bearer " + creds.RegistryToken
	}
	top, topDigest, err := s.manifest(ctx, ref.Reference())
	if err != nil {
		return nil, err
	}
	p := &Pulled{TopDigest: topDigest, TargetAnnotations: top.Annotations, ManifestDigest: topDigest}
	m := top
	if len(top.Manifests) > 0 {
		pick := top.Manifests[0]
		for _, d := range top.Manifests {
			if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == "amd64" {
				pick = d
				break
			}
		}
		m, _, err = s.manifest(ctx, pick.Digest)
		if err != nil {
			return nil, err
		}
		p.ManifestDigest = pick.Digest
	}
	p.ManifestAnnotations = m.Annotations
	if m.Config.Digest == "" {
		return nil, fmt.Errorf("manifest %s has no config", p.ManifestDigest)
	}
	cfgPath, err := s.blob(ctx, m.Config.Digest, 4<<20)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Config ImageConfig `json:"config"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("parsing image config %s: %w", m.Config.Digest, err)
	}
	p.ConfigDigest, p.Config, p.Size = m.Config.Digest, cfg.Config, int64(len(raw))
	for _, l := range m.Layers {
		path, err := s.blob(ctx, l.Digest, 1<<30)
		if err != nil {
			return nil, err
		}
		p.Layers = append(p.Layers, Layer{Digest: l.Digest, MediaType: l.MediaType, Size: l.Size, Path: path})
		p.Size += l.Size
	}
	return p, nil
}

func (s *session) manifest(ctx context.Context, reference string) (*manifestDoc, string, error) {
	u := fmt.Sprintf("%s/v2/%s/manifests/%s", s.base, s.repo, reference)
	resp, err := s.get(ctx, u, strings.Join([]string{mediaOCIManifest, mediaOCIIndex, mediaDockerManifest, mediaDockerList}, ", "))
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, "", &RegistryError{Method: "GET", URL: u, Transport: err}
	}
	sum := sha256.Sum256(body)
	dgst := "sha256:" + hex.EncodeToString(sum[:])
	if strings.HasPrefix(reference, "sha256:") && reference != dgst {
		return nil, "", fmt.Errorf("manifest digest mismatch: got %s, want %s", dgst, reference)
	}
	var m manifestDoc
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, "", fmt.Errorf("parsing manifest %s: %w", reference, err)
	}
	return &m, dgst, nil
}

// blob fetches a blob into blobDir (content-addressed), verifying its digest.
func (s *session) blob(ctx context.Context, dgst string, limit int64) (string, error) {
	if !digestRe.MatchString(dgst) {
		return "", fmt.Errorf("unsupported digest %q", dgst)
	}
	final := filepath.Join(s.blobDir, strings.TrimPrefix(dgst, "sha256:"))
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	u := fmt.Sprintf("%s/v2/%s/blobs/%s", s.base, s.repo, dgst)
	resp, err := s.get(ctx, u, "")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(s.blobDir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(s.blobDir, ".partial-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(resp.Body, limit+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", &RegistryError{Method: "GET", URL: u, Transport: err}
	}
	if n > limit {
		return "", fmt.Errorf("blob %s exceeds %d bytes", dgst, limit)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != dgst {
		return "", fmt.Errorf("blob digest mismatch: got %s, want %s", got, dgst)
	}
	return final, os.Rename(tmp.Name(), final)
}

// get does one GET, answering a 401 challenge once (Basic, or a Bearer token from the realm).
func (s *session) get(ctx context.Context, u, accept string) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if s.authz != "" {
			req.Header.Set("Authorization", s.authz)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			return nil, &RegistryError{Method: "GET", URL: u, Transport: err}
		}
		if resp.StatusCode == http.StatusOK {
			return resp, nil
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			challenge := resp.Header.Get("WWW-Authenticate")
			resp.Body.Close()
			ok, err := s.answer(ctx, challenge)
			if err != nil {
				return nil, err
			}
			if ok {
				continue
			}
			// No way to answer: repeat to report the registry's own 401.
			resp, err = s.client.Do(req.Clone(ctx))
			if err != nil {
				return nil, &RegistryError{Method: "GET", URL: u, Transport: err}
			}
		}
		defer resp.Body.Close()
		return nil, responseError("GET", u, resp, false)
	}
}

// answer sets s.authz for a challenge; false when there is nothing to answer with.
func (s *session) answer(ctx context.Context, challenge string) (bool, error) {
	scheme, params := parseChallenge(challenge)
	switch strings.ToLower(scheme) {
	case "basic":
		if s.creds == nil || s.creds.Username == "" {
			return false, nil
		}
		s.authz = "Basic " + base64.StdEncoding.EncodeToString([]byte(s.creds.Username+":"+s.creds.Password))
		return true, nil
	case "bearer":
		realm := params["realm"]
		if realm == "" {
			return false, nil
		}
		q := url.Values{}
		if v := params["service"]; v != "" {
			q.Set("service", v)
		}
		if v := params["scope"]; v != "" {
			q.Set("scope", v)
		} else {
			q.Set("scope", "repository:"+s.repo+":pull")
		}
		tu := realm + "?" + q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, tu, nil)
		if err != nil {
			return false, err
		}
		if s.creds != nil && s.creds.Username != "" {
			req.SetBasicAuth(s.creds.Username, s.creds.Password)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			return false, &RegistryError{Method: "GET", URL: tu, Transport: err, Token: true}
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, responseError("GET", tu, resp, true)
		}
		var tok struct {
			Token       string `json:"token"`
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil {
			return false, fmt.Errorf("decoding token from %s: %w", realm, err)
		}
		t := tok.Token
		if t == "" {
			t = tok.AccessToken
		}
		if t == "" {
			return false, fmt.Errorf("token endpoint %s returned no token", realm)
		}
		s.authz = "Bearer " + t
		return true, nil
	}
	return false, nil
}

func responseError(method, u string, resp *http.Response, token bool) *RegistryError {
	e := &RegistryError{Method: method, URL: u, Status: resp.StatusCode, StatusText: resp.Status, Token: token}
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &body) == nil && len(body.Errors) > 0 {
		e.Code, e.Msg = body.Errors[0].Code, body.Errors[0].Message
	}
	return e
}

// parseChallenge reads `Scheme k="v",k2="v2"`.
func parseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		k, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(after, `"`) {
			end := strings.Index(after[1:], `"`)
			if end < 0 {
				v, rest = after[1:], ""
			} else {
				v, rest = after[1:1+end], after[2+end:]
			}
		} else {
			v, rest, _ = strings.Cut(after, ",")
		}
		params[strings.ToLower(strings.TrimSpace(k))] = v
	}
	return scheme, params
}

// registryMessage words a registry error as containers/image does.
// cri-o v1.34.0 vendor/github.com/containers/image/v5/docker/errors.go registryHTTPResponseToError:
// the message alone when it is the code's default message, else "code: message".
func registryMessage(e *RegistryError) string {
	defaults := map[string]string{
		"UNAUTHORIZED":     "authentication required",
		"MANIFEST_UNKNOWN": "manifest unknown",
		"NAME_UNKNOWN":     "repository name not known to registry",
		"DENIED":           "requested access to the resource is denied",
		"BLOB_UNKNOWN":     "blob unknown to registry",
	}
	if e.Code == "" {
		return fmt.Sprintf("StatusCode: %d, %q", e.Status, "")
	}
	if defaults[e.Code] == e.Msg {
		return e.Msg
	}
	return strings.ToLower(strings.ReplaceAll(e.Code, "_", " ")) + ": " + e.Msg
}

// PullErrorText words a failed pull as the runtime's PullImage does.
func PullErrorText(p Profile, ref ImageRef, err error) string {
	var re *RegistryError
	if !errors.As(err, &re) {
		if p.Runtime == RuntimeCRIO {
			return fmt.Sprintf("initializing source docker://%s: %v", ref, err)
		}
		return fmt.Sprintf("failed to pull and unpack image %q: %v", ref.String(), err)
	}
	if p.Runtime == RuntimeCRIO {
		// cri-o v1.34.0 vendor/github.com/containers/image/v5/copy/copy.go:
		// "initializing source %s: %w"; docker/docker_client.go fetchManifest:
		// "reading manifest %s in %s: %w"; a failed token: ErrUnauthorizedForCredentials
		// "unable to retrieve auth token: invalid username/password: %s".
		src := "initializing source docker://" + ref.String() + ": "
		switch {
		case re.Transport != nil:
			// server/image_pull.go wraps ECONNREFUSED in crierrors.ErrRegistryUnavailable.
			prefix := ""
			if strings.Contains(re.Transport.Error(), "connection refused") {
				prefix = "RegistryUnavailable: "
			}
			return prefix + src + fmt.Sprintf("pinging container registry %s: %v", ref.Registry, re.Transport)
		case re.Token && re.Status == http.StatusUnauthorized:
			return src + "unable to retrieve auth token: invalid username/password: " + registryMessage(re)
		default:
			return src + fmt.Sprintf("reading manifest %s in %s: %s", ref.Reference(), ref.Name(), registryMessage(re))
		}
	}
	return fmt.Sprintf("failed to pull and unpack image %q: %s", ref.String(), containerdResolveError(ref, re))
}

// containerdResolveError words a resolve failure as containerd v2.1.0 client/pull.go and
// core/remotes/docker/resolver.go do.
func containerdResolveError(ref ImageRef, re *RegistryError) string {
	inner := ""
	switch {
	case re.Transport != nil:
		inner = re.Transport.Error()
	case re.Status == http.StatusNotFound:
		// resolver.go: fmt.Errorf("%s: %w", ref, errdefs.ErrNotFound).
		inner = ref.String() + ": not found"
	case re.Token:
		// core/remotes/docker/auth/fetch.go: "failed to fetch oauth token: %w" with
		// remoteerrors.ErrUnexpectedStatus; authorizer: "failed to authorize: %w".
		inner = fmt.Sprintf("failed to authorize: failed to fetch oauth token: unexpected status from %s request to %s: %s", re.Method, re.URL, re.StatusText)
	default:
		// core/remotes/errors/errors.go ErrUnexpectedStatus.Error (the HEAD of the resolve).
		inner = fmt.Sprintf("unexpected status from HEAD request to %s: %s", re.URL, re.StatusText)
	}
	return fmt.Sprintf("failed to resolve reference %q: %s", ref.String(), inner)
}
