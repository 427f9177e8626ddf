package pkgsvc

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"servicectl/envtypes"
)

// Socket is one entry of service_sockets (SPEC §4.11), resolved: a
// listening socket servicectl binds and hands to the program, so that
// connections wait in the kernel's backlog while no process runs.
type Socket struct {
	Entry   string `json:"entry"`   // as written in the config
	Network string `json:"network"` // tcp, tcp6, udp, unix
	Address string `json:"address"` // HOST:PORT, or the socket file's path
}

// FDName is the socket's name in LISTEN_FDNAMES: the entry with its
// colons made dashes, since the protocol separates names with colons
// (tcp:$WEB_PORT is tcp-$WEB_PORT).
func (sk Socket) FDName() string { return strings.ReplaceAll(sk.Entry, ":", "-") }

// String is how status and the dashboard show it: network and address.
func (sk Socket) String() string { return sk.Network + ":" + sk.Address }

// parseSockets reads service_sockets once the service environment is
// known: `$NAME` and `${NAME}` ports come from it (a port-typed variable
// computed from PORT_PREFIX, typically). A bad entry names the rule.
func parseSockets(entries []string, runVar string, lookup func(string) (string, bool)) ([]Socket, error) {
	var out []Socket
	seen := map[string]bool{}
	for _, e := range entries {
		sk, err := parseSocket(e, runVar, lookup)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", e, err)
		}
		if seen[sk.String()] {
			return nil, fmt.Errorf("%q: %s is listed twice", e, sk)
		}
		seen[sk.String()] = true
		out = append(out, sk)
	}
	return out, nil
}

func parseSocket(e, runVar string, lookup func(string) (string, bool)) (Socket, error) {
	network, rest, ok := strings.Cut(e, ":")
	if !ok || rest == "" {
		return Socket{}, errors.New("want tcp:[ADDR:]PORT, tcp6:[ADDR:]PORT, udp:[ADDR:]PORT or unix:PATH")
	}
	sk := Socket{Entry: e, Network: network}
	switch network {
	case "unix":
		if !filepath.IsAbs(rest) {
			rest = filepath.Join(runVar, rest)
		}
		if len(rest) > 107 {
			return Socket{}, fmt.Errorf("the path %s is longer than a socket's 107 bytes", rest)
		}
		sk.Address = filepath.Clean(rest)
		return sk, nil
	case "tcp", "tcp6", "udp":
	default:
		return Socket{}, fmt.Errorf("unknown kind %q: want tcp, tcp6, udp or unix", network)
	}
	host, port := "", rest
	if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.HasPrefix(rest[i:], ":}") {
		host, port = rest[:i], rest[i+1:]
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	if name, ok := portVar(port); ok {
		v, set := lookup(name)
		if !set || v == "" {
			return Socket{}, &unsetPort{name}
		}
		port = v
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return Socket{}, fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return Socket{}, fmt.Errorf("address %q is not an IP address", host)
	}
	sk.Address = net.JoinHostPort(host, strconv.Itoa(n))
	return sk, nil
}

// unsetPort is an entry whose $NAME has no value (yet).
type unsetPort struct{ name string }

func (u *unsetPort) Error() string { return "$" + u.name + " is not set in the service environment" }

// portVar recognises $NAME and ${NAME}.
func portVar(s string) (string, bool) {
	name, ok := strings.CutPrefix(s, "$")
	if !ok {
		return "", false
	}
	if inner, ok := strings.CutPrefix(name, "{"); ok {
		name, ok = strings.CutSuffix(inner, "}")
		if !ok {
			return "", false
		}
	}
	return name, shellName(name)
}

// shellName: [A-Za-z_][A-Za-z0-9_]*.
func shellName(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// declares says whether s declares the typed variable name.
func (s *Service) declares(name string) bool {
	for _, sp := range s.EnvSpecs {
		if sp.Name == name {
			return true
		}
	}
	return false
}

// HasPort says whether s has a port-typed variable (it listens, most
// likely).
func (s *Service) HasPort() bool {
	for _, v := range s.Typed.Values {
		if v.Spec.Type == envtypes.Port {
			return true
		}
	}
	return false
}

// Port is the socket's port number, 0 for a unix socket.
func (sk Socket) Port() string {
	if sk.Network == "unix" {
		return ""
	}
	_, port, _ := net.SplitHostPort(sk.Address)
	return port
}
