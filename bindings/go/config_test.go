package agentvm

import (
	"errors"
	"io/fs"
	"regexp"
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
