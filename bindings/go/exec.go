package agentvm

// #include <agentvm.h>
import "C"

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"
)

// Cmd is a command to run in the guest with Exec.
type Cmd struct {
	// Args is the command and its arguments; Args[0] is looked up in PATH.
	Args []string
	// Env is the whole environment as "NAME=value" entries. nil gives the
	// library's default, PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	// and HOME=/root; an empty, non-nil slice gives an empty environment.
	Env []string
	// Dir is the working directory in the guest; empty for "/".
	Dir string
	// Stdin is read until EOF as the command's stdin; nil gives /dev/null.
	// An *os.File is read by the library directly. A *bytes.Reader,
	// *bytes.Buffer or *strings.Reader of up to 1 MiB is copied in one go;
	// any other reader is copied by a goroutine, which Exec waits for: a
	// Read that blocks forever blocks Exec too, as in os/exec.
	Stdin io.Reader
	// Stdout and Stderr, if set, receive the output as it arrives, in order,
	// on the goroutine that called Exec, while the output is still captured
	// into the Result as well. If a write fails, the rest of the output is
	// not written and Exec returns that error (with the Result).
	Stdout, Stderr io.Writer
	// Timeout is how long the command may run; 0 for no limit. On expiry its
	// process group is killed (SIGKILL) and Result.TimedOut is set.
	Timeout time.Duration
	// CaptureLimit is how many bytes of each stream the Result keeps: 0 for
	// the library's default of 64 MiB, CaptureNone for none (when streaming).
	CaptureLimit int
}

// CaptureNone as Cmd.CaptureLimit keeps no output in the Result.
const CaptureNone = -1

// Exec runs cmd in the guest and waits for it to end. The error is nil
// whenever the command ran, whatever its exit status, also when it timed out
// or could not be executed (Result.NotStarted); it is an *Error when the
// library refused or lost the call.
//
// When ctx is done first, the guest kills the command's process group and
// Exec returns an error for which errors.Is(err, ctx.Err()) holds; a ctx
// done before the call runs nothing. Exec starts no goroutine that outlives it.
func (vm *VM) Exec(ctx context.Context, cmd Cmd) (*Result, error) {
	if ctx.Err() != nil {
		return nil, contextError("exec", ctx)
	}
	req, err := newExecRequest(ctx, &cmd)
	if err != nil {
		return nil, err
	}
	var res *C.agentvm_exec_result
	err = vm.use(func(c *C.agentvm_vm) error {
		return call("exec", func() C.int { return C.agentvm_vm_exec(c, req.opts, &res) })
	})
	ioErr := req.finish()
	if err != nil {
		// Only the canceller writes the cancel pipe, and only once ctx is done.
		if errors.Is(err, syscall.ECANCELED) && ctx.Err() != nil {
			return nil, contextError("exec", ctx)
		}
		return nil, err
	}
	defer C.agentvm_exec_result_free(res)
	return newResult(res), ioErr
}
