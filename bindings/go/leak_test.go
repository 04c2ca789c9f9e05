package agentvm

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

// execBatch runs, side by side, the Execs that start goroutines: streamed
// output, a piped stdin left unread, a cancellation and a deadline.
func execBatch() {
	var wg sync.WaitGroup
	cancelled, cancel := context.WithCancel(context.Background())
	deadline, stop := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer stop()
	cmds := []struct {
		ctx context.Context
		cmd Cmd
	}{
		{context.Background(), Cmd{Args: []string{"sh", "-c", "seq 1000; seq 1000 >&2"}, Stdout: io.Discard, Stderr: io.Discard}},
		{context.Background(), Cmd{Args: []string{"true"}, Stdin: iotest.HalfReader(bytes.NewReader(make([]byte, 8<<20)))}},
		{context.Background(), Cmd{Args: []string{"cat"}, Stdin: iotest.HalfReader(bytes.NewReader(make([]byte, 1<<20)))}},
		{cancelled, Cmd{Args: []string{"sleep", "1000"}, Stdout: io.Discard}},
		{deadline, Cmd{Args: []string{"sleep", "1000"}, Stdin: iotest.HalfReader(bytes.NewReader(nil))}},
	}
	for _, c := range cmds {
		wg.Add(1)
		go func(ctx context.Context, cmd Cmd) {
			defer wg.Done()
			_, _ = shared.Exec(ctx, cmd)
		}(c.ctx, c.cmd)
	}
	time.AfterFunc(200*time.Millisecond, cancel)
	wg.Wait()
}

func TestNoGoroutineLeak(t *testing.T) {
	execBatch() // a warm-up: whatever the runtime starts once is not a leak
	before := runtime.NumGoroutine()
	for i := 0; i < 3; i++ {
		execBatch()
	}
	var after int
	settled := eventually(2*time.Second, func() bool {
		after = runtime.NumGoroutine()
		return after <= before
	})
	if !settled {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before the batches, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}
