package agentvm

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newError boots cfg (based on the test guest), expects it to fail and returns the *Error.
func newError(t *testing.T, change func(*Config)) *Error {
	t.Helper()
	cfg, err := testConfig()
	if err != nil {
		t.Fatal(err)
	}
	change(&cfg)
	vm, err := New(cfg)
	if err == nil {
		vm.Close()
		t.Fatal("New succeeded")
	}
	var e *Error
	if !errors.As(err, &e) || e.Op != "new" || e.Message == "" {
		t.Fatalf("got %#v, want an *Error for new with a message", err)
	}
	return e
}

func TestNewBadMemory(t *testing.T) {
	if e := newError(t, func(c *Config) { c.MemoryMiB = 1 }); e.Errno != syscall.EINVAL {
		t.Errorf("got %v, want EINVAL", e)
	}
}

func TestNewMissingKernel(t *testing.T) {
	e := newError(t, func(c *Config) { c.Kernel = "/no/such/vmlinux" })
	if e.Errno != syscall.ENOENT || !errors.Is(e, fs.ErrNotExist) {
		t.Errorf("got %v, want ENOENT", e)
	}
}

func TestNewBadAgentTimeout(t *testing.T) {
	if e := newError(t, func(c *Config) { c.AgentTimeout = -time.Second }); e.Errno != syscall.EINVAL {
		t.Errorf("got %v, want EINVAL", e)
	}
}

func TestNewNulInPath(t *testing.T) {
	if e := newError(t, func(c *Config) { c.Initrd = "/tmp/a\x00b" }); e.Errno != syscall.EINVAL {
		t.Errorf("got %v, want EINVAL", e)
	}
}

func TestVersion(t *testing.T) {
	if v := Version(); !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Errorf("Version() = %q, want MAJOR.MINOR.PATCH", v)
	}
}

func TestExitReasonString(t *testing.T) {
	for r, want := range map[ExitReason]string{ExitPoweroff: "poweroff", ExitReboot: "reboot",
		ExitKilled: "killed", ExitCrash: "crash", 9: "ExitReason(9)"} {
		if r.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(r), r.String(), want)
		}
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Op: "exec", Errno: syscall.ENOENT, Message: "no such directory: /x"}
	if e.Error() != "agentvm: exec: no such directory: /x" {
		t.Errorf("Error() = %q", e.Error())
	}
	if e := (&Error{Op: "kill", Errno: syscall.EINVAL}); e.Error() != "agentvm: kill: invalid argument" {
		t.Errorf("Error() without a message = %q", e.Error())
	}
}

// libraryThreadRuns reports whether a thread of this process is named name, waiting up to 10 s for want.
func libraryThreadRuns(t *testing.T, name string, want bool) bool {
	t.Helper()
	for i := 0; i < 1000; i++ {
		comms, err := filepath.Glob("/proc/self/task/*/comm")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, path := range comms {
			if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == name {
				found = true
			}
		}
		if found == want {
			return found
		}
		time.Sleep(10 * time.Millisecond)
	}
	return !want
}

func TestSpareVMs(t *testing.T) {
	for _, bad := range []int{-1, MaxSpareVMs + 1} {
		if err := SetSpareVMs(bad); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("SetSpareVMs(%d) = %v, want EINVAL", bad, err)
		}
	}
	if err := SetSpareVMs(1); err != nil {
		t.Fatal(err)
	}
	defer SetSpareVMs(0)
	if !libraryThreadRuns(t, "agentvm-spare", true) {
		t.Fatal("no agentvm-spare thread after SetSpareVMs(1)")
	}
	cfg, err := testConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.NoAgent = true // started, not waited for: the VM is what comes from the spares
	vm, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	vm.Close()
	if err := SetSpareVMs(0); err != nil {
		t.Fatal(err)
	}
	if libraryThreadRuns(t, "agentvm-spare", false) {
		t.Error("the agentvm-spare thread still runs after SetSpareVMs(0)")
	}
}
