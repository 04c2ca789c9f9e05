package agentvm

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestSnapshotRestore(t *testing.T) {
	if err := shared.WriteFile("/tmp/before-snapshot", []byte("kept\n"), 0644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vm.snap")
	if err := shared.Snapshot(path, SnapshotOptions{}); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if sh(t, "echo still running") != "still running\n" {
		t.Error("the shared VM did not go on after the snapshot")
	}

	// Restore takes the console and the agent timeout from its Config.
	console := &lockedBuffer{}
	clone, err := Restore(path, &Config{Console: console, AgentTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	defer clone.Close()
	if got, err := clone.ReadFile("/tmp/before-snapshot", 0); err != nil || string(got) != "kept\n" {
		t.Errorf("the clone read %q, %v; want the file written before the snapshot", got, err)
	}
	res := run(t, clone, Cmd{Args: []string{"sh", "-c", "echo clone-console > /dev/console"}})
	if res.ExitCode != 0 || !eventually(5*time.Second, func() bool { return console.contains("clone-console") }) {
		t.Error("the clone's console output did not reach the restored Config's writer")
	}

	// The clone ends as it is told: Kill, then Wait says why.
	if err := clone.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if reason, err := clone.Wait(ctx); reason != ExitKilled || err != nil {
		t.Errorf("Wait: %v, %v; want killed", reason, err)
	}
}
