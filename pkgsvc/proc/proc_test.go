package proc

import (
	"bufio"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func gone(pid int) bool {
	info, err := ReadStat(pid)
	return err != nil || info.Zombie
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still alive", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestClaimSignalDone: a claimed process group leader and its child are
// signalled through the handle, and Done fires when the leader exits.
func TestClaimSignalDone(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30 & echo $!; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }() // reap, as the parent of a service would
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-waited })
	line, _ := bufio.NewReader(out).ReadString('\n')
	child, _ := strconv.Atoi(strings.TrimSpace(line))

	info, err := ReadStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if info.Sid != cmd.Process.Pid {
		t.Fatalf("session %d, want %d (setsid)", info.Sid, cmd.Process.Pid)
	}
	if _, err := Claim(cmd.Process.Pid, Want{StartTime: info.StartTime + 1, Sid: info.Sid}); !errors.As(err, new(*NotOurs)) {
		t.Errorf("another start time: %v, want NotOurs", err)
	}
	if _, err := Claim(cmd.Process.Pid, Want{StartTime: info.StartTime, Sid: info.Sid + 1}); !errors.As(err, new(*NotOurs)) {
		t.Errorf("another session: %v, want NotOurs", err)
	}
	if _, err := Claim(child, Want{Leader: true}); !errors.As(err, new(*NotOurs)) {
		t.Errorf("a process that does not lead its session claimed as a leader: %v", err)
	}
	if _, err := Claim(cmd.Process.Pid, Want{Argv0s: []string{"/bin/other"}}); !errors.As(err, new(*NotOurs)) {
		t.Errorf("another argv[0] under the own-pidfile rule: %v, want NotOurs", err)
	}
	h, err := Claim(cmd.Process.Pid, Want{StartTime: info.StartTime, Sid: info.Sid})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	done := h.Done()
	select {
	case <-done:
		t.Fatal("Done fired while the process runs")
	default:
	}
	if err := h.Signal(syscall.SIGTERM, true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Done did not fire after the process exited")
	}
	waitGone(t, child) // the group got the signal too
	if h.Alive() {
		t.Error("Alive after exit")
	}
}

// TestDoneOfAnAdoptedProcess: Done works for a pid that is not our child
// (a supervisor adopting a service started by another servicectl).
func TestDoneOfAnAdoptedProcess(t *testing.T) {
	// sh starts sleep in the background and exits: sleep is orphaned,
	// not our child.
	out, err := exec.Command("sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	h, err := Claim(pid, Want{Argv0s: []string{"sleep"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	defer h.Close()
	done := h.Done()
	h.Close() // Done keeps its own descriptor
	syscall.Kill(pid, syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Done did not fire for an adopted process")
	}
}

func TestClaimRefusesPidOneAndMissing(t *testing.T) {
	for _, pid := range []int{0, 1, -5, 1 << 30} {
		if h, err := Claim(pid, Want{}); err == nil {
			h.Close()
			t.Errorf("claimed pid %d", pid)
		}
	}
}

// TestPollingFallback runs the claim, signal and Done tests as on a
// kernel without pidfds (SPEC §9.1: polling otherwise).
func TestPollingFallback(t *testing.T) {
	ForcePolling(true)
	defer ForcePolling(false)
	t.Run("claim-signal-done", TestClaimSignalDone)
	t.Run("adopted", TestDoneOfAnAdoptedProcess)
	t.Run("refused", TestClaimRefusesPidOneAndMissing)
}
