package sim

import (
	"fmt"
	"net"
	"regexp"
	"strings"
)

// ImageRef is a normalised image reference, as docker's reference package reads one:
// [registry[:port]/]repository[:tag][@digest]; no registry means docker.io, and a one-part
// repository on docker.io gets library/.
type ImageRef struct {
	Registry   string
	Repository string
	Tag        string
	Digest     string
}

var (
	repoPart  = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	digestRe  = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	tagRe     = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	hexIDRe   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	trailNumR = regexp.MustCompile(`(\d+)$`)
)

// ParseImageRef parses and normalises s.
func ParseImageRef(s string) (ImageRef, error) {
	if s == "" || strings.ContainsAny(s, " \t\n") {
		return ImageRef{}, fmt.Errorf("invalid reference format: %q", s)
	}
	rest := s
	var r ImageRef
	if at := strings.Index(rest, "@"); at >= 0 {
		r.Digest = rest[at+1:]
		rest = rest[:at]
		if !digestRe.MatchString(r.Digest) {
			return ImageRef{}, fmt.Errorf("invalid reference format: bad digest in %q", s)
		}
	}
	r.Registry = "docker.io"
	if slash := strings.Index(rest, "/"); slash >= 0 {
		first := rest[:slash]
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.HasPrefix(first, "[") {
			r.Registry = first
			rest = rest[slash+1:]
		}
	}
	if c := strings.LastIndex(rest, ":"); c >= 0 {
		r.Tag = rest[c+1:]
		rest = rest[:c]
		if !tagRe.MatchString(r.Tag) {
			return ImageRef{}, fmt.Errorf("invalid reference format: bad tag in %q", s)
		}
	}
	if !repoPart.MatchString(rest) {
		return ImageRef{}, fmt.Errorf("invalid reference format: repository name must be lowercase: %q", s)
	}
	if r.Registry == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	r.Repository = rest
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, nil
}

// Name is registry/repository.
func (r ImageRef) Name() string { return r.Registry + "/" + r.Repository }

// String is the full normalised reference.
func (r ImageRef) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Reference is what the registry is asked for: the digest if any, else the tag.
func (r ImageRef) Reference() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}

// IsLocalRegistry: a registry on this machine (127.0.0.0/8, localhost, ::1).
func IsLocalRegistry(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NodeIndex is the trailing number of a node name (0 when there is none).
func NodeIndex(node string) int {
	m := trailNumR.FindString(node)
	n := 0
	for _, c := range m {
		n = n*10 + int(c-'0')
		if n > 255 {
			return n % 256
		}
	}
	return n
}
