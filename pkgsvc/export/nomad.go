package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"servicectl/pkgsvc"
)

// Nomad writes a Nomad job for the playpen (SPEC §10.2): a group per
// service running `servicectl run` with the raw_exec driver in the
// installed playpen path, the restart policy from
// service_restart_on_crash, kill signal and timeout from the stop
// settings. It is built with Nomad's own API types and written as the
// JSON a job registration takes (`nomad job run -json FILE`); the test
// checks that it reads back through those types unchanged. The playpen
// is deployed to each client host by the package manager, at the same
// path; Nomad places and restarts the services.
func Nomad(p *pkgsvc.Playpen, names []string, o Options) (File, []string, error) {
	list, warnings, err := supervisable(p, names, "Nomad")
	if err != nil {
		return File{}, nil, err
	}
	job := nomad.NewServiceJob("servicectl-"+p.Name, "servicectl "+p.Name, "global", 50)
	job.Datacenters = []string{"*"}
	for _, s := range list {
		tg := nomad.NewTaskGroup(s.Name, 1)
		restart := &nomad.RestartPolicy{Mode: ptr("fail"), Attempts: ptr(0)}
		if s.Policies.RestartOnCrash {
			// §9.2 in Nomad's terms: five restarts in a minute, then fail.
			restart = &nomad.RestartPolicy{Attempts: ptr(5), Interval: ptr(time.Minute), Delay: ptr(100 * time.Millisecond), Mode: ptr("fail")}
		}
		tg.RestartPolicy = restart
		task := nomad.NewTask(s.Name, "raw_exec")
		task.Config = map[string]any{
			"command": o.Servicectl,
			"args":    []any{"--root", p.Root, "--quiet", "run", s.Name},
		}
		task.KillSignal = "SIG" + s.StopSigName
		task.KillTimeout = ptr(time.Duration(s.StopTimeout * float64(time.Second)))
		if s.User != "" {
			task.User = s.User
		}
		tg.AddTask(task)
		job.AddTaskGroup(tg)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(nomad.JobRegisterRequest{Job: job}); err != nil {
		return File{}, nil, err
	}
	return File{Name: "servicectl-" + p.Name + ".nomad.json", Content: b.String()}, warnings, nil
}

// RoundTrips says whether a job file reads back through Nomad's API
// types into what was written (the JSON is Nomad's, not ours).
func RoundTrips(content string) error {
	var req nomad.JobRegisterRequest
	dec := json.NewDecoder(bytes.NewReader([]byte(content)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("not a Nomad job registration: %w", err)
	}
	var again bytes.Buffer
	enc := json.NewEncoder(&again)
	enc.SetIndent("", "  ")
	enc.Encode(req)
	var a, b any
	json.Unmarshal([]byte(content), &a)
	json.Unmarshal(again.Bytes(), &b)
	if !reflect.DeepEqual(a, b) {
		return fmt.Errorf("the job does not read back unchanged through Nomad's types")
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
