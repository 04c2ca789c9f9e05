package agentvm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Most tests share one VM: guest boots are the slow part under the nested test host.
var (
	shared        *VM
	sharedConsole = &lockedBuffer{}
)

func TestMain(m *testing.M) {
	cfg, err := testConfig()
	if err == nil {
		cfg.VCPUs = 2
		cfg.Console = sharedConsole
		shared, err = New(cfg)
	}
	if err != nil {
		// A missing guest is a broken test setup, never a reason to skip.
		fmt.Fprintln(os.Stderr, "FAIL: cannot boot the shared test VM:", err)
		os.Exit(1)
	}
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

// testConfig is a Config for the test guest, whose files the build names in
// AGENTVM_TEST_KERNEL and AGENTVM_TEST_AGENT_INITRD.
func testConfig() (Config, error) {
	var cfg Config
	for _, f := range []struct {
		env  string
		path *string
	}{{"AGENTVM_TEST_KERNEL", &cfg.Kernel}, {"AGENTVM_TEST_AGENT_INITRD", &cfg.Initrd}} {
		*f.path = os.Getenv(f.env)
		if st, err := os.Stat(*f.path); err != nil || !st.Mode().IsRegular() {
			return cfg, fmt.Errorf("%s must name the test guest's file (got %q)", f.env, *f.path)
		}
	}
	return cfg, nil
}

// bootTestVM boots a VM of its own for a test that must not disturb the shared one.
func bootTestVM(t *testing.T, console io.Writer) *VM {
	t.Helper()
	cfg, err := testConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Console = console
	vm, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { vm.Close() })
	return vm
}

// run execs cmd on vm and fails the test on an error.
func run(t *testing.T, vm *VM, cmd Cmd) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := vm.Exec(ctx, cmd)
	if err != nil {
		t.Fatalf("Exec %q: %v", cmd.Args, err)
	}
	return res
}

// sh runs a shell command on the shared VM and returns its stdout; a non-zero exit fails the test.
func sh(t *testing.T, script string) string {
	t.Helper()
	res := run(t, shared, Cmd{Args: []string{"sh", "-c", script}})
	if res.ExitCode != 0 {
		t.Fatalf("sh -c %q: exit %d, stderr %q", script, res.ExitCode, res.Stderr)
	}
	return string(res.Stdout)
}

// eventually polls cond every 100 ms for up to limit.
func eventually(limit time.Duration, cond func() bool) bool {
	for end := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// lockedBuffer is a bytes.Buffer for a writer called on other threads (the console's vCPU).
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), s)
}
