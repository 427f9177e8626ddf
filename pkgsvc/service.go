package pkgsvc

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"

	"servicectl/envtypes"
)

// Hook is what runs at one step: sh code from the config variable, then
// the first hook file found. Either may be empty.
type Hook struct {
	Code string `json:"code,omitempty"`
	File string `json:"file,omitempty"`
}

// Empty reports whether nothing runs at this step.
func (h Hook) Empty() bool { return h.Code == "" && h.File == "" }

// Policies are the upgrade policy variables of SPEC §3.3 / §8.2.
type Policies struct {
	RestartOnDepUpgrade bool     `json:"service_restart_on_dep_upgrade"`
	StopOnDepUpgrade    bool     `json:"service_stop_on_dep_upgrade"`
	StopOnUpgrade       bool     `json:"service_stop_on_upgrade"`
	StopOnFiledep       bool     `json:"service_stop_on_filedep"`
	Filedeps            []string `json:"service_filedeps"`
	RestartOnCrash      bool     `json:"service_restart_on_crash"`
}

// Service is a resolved definition: everything servicectl needs to start,
// stop and judge the service, and nothing started. Resolve builds it.
type Service struct {
	Name     string `json:"service"`  // as addressed: web or web@blue
	Base     string `json:"template"` // the definition's name (web)
	Instance string `json:"instance"`
	Package  string `json:"package"`
	Version  string `json:"version"`
	Project  bool   `json:"project"`
	Template bool   `json:"is_template"`

	Program     string   `json:"program"` // resolved absolute path ("" with a custom start)
	ProgramErr  string   `json:"program_error,omitempty"`
	programArg  string   // service_program as written
	Flags       []string `json:"flags"`
	RunName     string   `json:"run_name"`
	LinkPath    string   `json:"link_path,omitempty"`
	NoSymlink   bool     `json:"no_symlink"`
	Workdir     string   `json:"workdir"`
	Env         []string `json:"environment"` // the service environment (§2.4), sorted
	ConfigFiles []string `json:"config_files_sourced"`
	// Sockets are the listening sockets it is handed (service_sockets,
	// §4.11), resolved against its environment.
	Sockets []Socket `json:"sockets,omitempty"`
	// SocketsPending is why Sockets could not be resolved: a port
	// variable it declares has no value yet (a launch refuses).
	SocketsPending string `json:"-"`

	Hooks map[string]Hook `json:"hooks"`

	RestartDelay float64        `json:"restart_delay"`
	HUP          bool           `json:"hup"`
	StopSignal   syscall.Signal `json:"-"`
	StopSigName  string         `json:"stop_signal"`
	StopTimeout  float64        `json:"stop_timeout"`
	StartSecs    float64        `json:"start_secs"`
	OwnPidfile   bool           `json:"own_pidfile"`
	NoPidfile    bool           `json:"no_pidfile"`
	Depends      []string       `json:"depends"`
	RenderFiles  []string       `json:"config_files"`
	User         string         `json:"user,omitempty"`
	Group        string         `json:"group,omitempty"`
	Nice         *int           `json:"nice,omitempty"`
	PingInterval float64        `json:"ping_interval"`
	// HealthTimeout bounds the health gate of an upgrade (issue 16): a
	// service it starts or restarts must pass its check within it.
	HealthTimeout float64 `json:"health_timeout"`
	// RollingBatch is how many instances of a template an upgrade
	// restarts at a time, each batch gated on health before the next.
	RollingBatch int      `json:"rolling_batch"`
	LogMaxBytes  int64    `json:"log_max_bytes"`
	LogKeep      int      `json:"log_keep"`
	Policies     Policies `json:"policies"`

	EnvSpecs []envtypes.Spec `json:"-"`
	Typed    envtypes.Result `json:"-"`
	Warnings []string        `json:"warnings"`
}

// Pidfile, OutputFile, StateFile and LockFile are the per-service files
// of SPEC §1.3.
func (s *Service) Pidfile(p *Playpen) string    { return filepath.Join(p.RunVar, s.Name+".pid") }
func (s *Service) OutputFile(p *Playpen) string { return filepath.Join(p.RunVar, s.Name+".output") }
func (s *Service) StateFile(p *Playpen) string  { return filepath.Join(p.RunVar, s.Name+".state") }
func (s *Service) LockFile(p *Playpen) string   { return filepath.Join(p.RunVar, s.Name+".lock") }

// Secret says whether the value of the service's variable name is never
// shown (SPEC §6.1): declared with service_envar_V_secret=1, or named
// like a secret (…_PASSWORD, _SECRET, _TOKEN, _KEY) and not declared
// with service_envar_V_secret=0.
func (s *Service) Secret(name string) bool {
	for _, sp := range s.EnvSpecs {
		if sp.Name == name {
			return sp.Secret
		}
	}
	return envtypes.SecretByName(name)
}

// ShownEnv is the service environment as servicectl prints it (show,
// its JSON, the dashboard): secrets' values masked.
func (s *Service) ShownEnv() []string {
	out := make([]string, len(s.Env))
	for i, kv := range s.Env {
		k, _, _ := strings.Cut(kv, "=")
		if s.Secret(k) {
			kv = k + "=" + envtypes.Mask
		}
		out[i] = kv
	}
	return out
}

// MarshalJSON is the definition as `show --json` prints it: every field,
// with secrets masked in the environment (§6.1).
func (s *Service) MarshalJSON() ([]byte, error) {
	type plain Service
	c := plain(*s)
	c.Env = s.ShownEnv()
	return json.Marshal(c)
}

// ports are s's port variables and their values, and the ports of its
// sockets (by entry) that no port variable gives: the clash check of
// §6.4 covers both.
func (s *Service) Ports() map[string]string {
	var m map[string]string
	have := map[string]bool{}
	for _, v := range s.Typed.Values {
		if v.Spec.Type == envtypes.Port {
			if m == nil {
				m = map[string]string{}
			}
			m[v.Spec.Name] = v.Value
			have[v.Value] = true
		}
	}
	for _, sk := range s.Sockets {
		if port := sk.Port(); port != "" && !have[port] {
			if m == nil {
				m = map[string]string{}
			}
			m["service_sockets "+sk.Entry] = port
			have[port] = true
		}
	}
	return m
}

// The health gates of an upgrade (upgrade.Action.Gate).
const (
	GatePing = "service_ping" // the service's own check (§5.3)
	GatePid  = "pid"          // the process runs (§4.7)
)

// HealthGate names the check that gates s in an upgrade.
func (s *Service) HealthGate() string {
	if !s.Hooks["ping"].Empty() {
		return GatePing
	}
	return GatePid
}
