package agentvm

// #include <agentvm.h>
import "C"

import (
	"context"
	"fmt"
	"os"
)

// canceller turns a context's cancellation into a readable descriptor for
// agentvm_exec_options.cancel_fd: the library polls descriptors and knows
// nothing of channels, so a goroutine bridges ctx.Done() to a pipe.
type canceller struct {
	r, w *os.File
	// done tells the goroutine the call is over; exited says it has ended.
	done, exited chan struct{}
}

// watchContext starts a canceller for ctx, or returns nil when ctx can never
// be cancelled: then there is neither a pipe nor a goroutine.
func watchContext(ctx context.Context) (*canceller, error) {
	if ctx.Done() == nil {
		return nil, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("agentvm: exec: the cancel pipe: %w", err)
	}
	c := &canceller{r: r, w: w, done: make(chan struct{}), exited: make(chan struct{})}
	go c.watch(ctx)
	return c, nil
}

func (c *canceller) watch(ctx context.Context) {
	defer close(c.exited)
	select {
	case <-ctx.Done():
		// One byte in an empty pipe never blocks, and the library never reads it:
		// the descriptor stays readable, as it must.
		_, _ = c.w.Write([]byte{0})
	case <-c.done:
	}
}

// fd is the descriptor for cancel_fd, -1 for none.
func (c *canceller) fd() C.int {
	if c == nil {
		return -1
	}
	return C.int(c.r.Fd())
}

// stop ends the goroutine and closes the pipe; the call must be over.
func (c *canceller) stop() {
	if c == nil {
		return
	}
	close(c.done)
	<-c.exited
	c.r.Close()
	c.w.Close()
}
