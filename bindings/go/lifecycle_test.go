package agentvm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLifecycle(t *testing.T) {
	console, err := os.Create(filepath.Join(t.TempDir(), "console"))
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	vm := bootTestVM(t, console)

	if text, _ := os.ReadFile(console.Name()); !strings.Contains(string(text), "agentvm-agent: ready") {
		t.Errorf("the console file lacks the agent's boot message: %q", text)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := vm.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on a running VM: %v, want context.DeadlineExceeded", err)
	}

	// Close does not wait for a long command: it stops the guest under it.
	execDone := make(chan error)
	go func() {
		_, err := vm.Exec(context.Background(), Cmd{Args: []string{"sleep", "1000"}})
		execDone <- err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := vm.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-execDone:
		if err == nil {
			t.Error("the Exec in flight succeeded although Close stopped the VM")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the Exec in flight did not return after Close")
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Close took %v", elapsed)
	}

	if err := vm.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	if _, err := vm.Exec(context.Background(), Cmd{Args: []string{"true"}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Exec after Close: %v, want ErrClosed", err)
	}
	if _, err := vm.ReadFile("/etc/passwd", 0); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadFile after Close: %v, want ErrClosed", err)
	}
	if _, err := vm.Wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close: %v, want ErrClosed", err)
	}
}
