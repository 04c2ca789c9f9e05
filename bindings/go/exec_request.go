package agentvm

// #include <stdlib.h>
// #include "trampolines.h"
import "C"

import (
	"context"
	"math"
	"runtime/cgo"
	"unsafe"
)

// execRequest is the C side of one Exec: agentvm_exec_options in C memory
// (cgo forbids handing C a Go struct that holds Go pointers, and its payload
// carries a handle that Go's garbage collector must not mistake for one),
// the C memory it points to, and the goroutines that feed and cancel the call.
type execRequest struct {
	opts         *C.agentvm_exec_options
	argv, envp   *cStringArray
	cwd          *C.char
	stdin        *stdinSource
	output       *outputSink
	outputHandle cgo.Handle
	cancel       *canceller
}

// newExecRequest prepares cmd for agentvm_vm_exec(), cancelled by ctx.
// finish must follow the call; on failure nothing is left behind.
func newExecRequest(ctx context.Context, cmd *Cmd) (req *execRequest, err error) {
	const op = "exec"
	req = &execRequest{}
	defer func() {
		if err != nil {
			req.finish()
		}
	}()
	req.opts = (*C.agentvm_exec_options)(C.malloc(C.sizeof_agentvm_exec_options))
	C.agentvm_exec_options_init(req.opts) // fails only for NULL
	if err = req.setCommand(op, cmd); err != nil {
		return req, err
	}
	if err = req.setLimits(op, cmd); err != nil {
		return req, err
	}
	if req.stdin, err = openStdin(cmd.Stdin); err != nil {
		return req, err
	}
	req.opts.stdin_data, req.opts.stdin_len, req.opts.stdin_fd = req.stdin.data, req.stdin.len, req.stdin.fd
	if cmd.Stdout != nil || cmd.Stderr != nil {
		req.output = &outputSink{stdout: cmd.Stdout, stderr: cmd.Stderr}
		req.outputHandle = cgo.NewHandle(req.output)
		C.agentvm_go_set_output(req.opts, C.uintptr_t(req.outputHandle))
	}
	if req.cancel, err = watchContext(ctx); err != nil {
		return req, err
	}
	req.opts.cancel_fd = req.cancel.fd()
	return req, nil
}

// setCommand sets argv, the environment and the working directory.
func (req *execRequest) setCommand(op string, cmd *Cmd) error {
	var err error
	if req.argv, err = newCStringArray(op, "argument", cmd.Args); err != nil {
		return err
	}
	req.opts.argv = req.argv.array
	if cmd.Env != nil { // an empty, non-nil Env is an empty environment
		if req.envp, err = newCStringArray(op, "environment entry", cmd.Env); err != nil {
			return err
		}
		req.opts.envp = req.envp.array
	}
	if cmd.Dir != "" {
		if req.cwd, err = cString(op, "directory", cmd.Dir); err != nil {
			return err
		}
		req.opts.cwd = req.cwd
	}
	return nil
}

// setLimits sets the timeout and the capture limit.
func (req *execRequest) setLimits(op string, cmd *Cmd) error {
	if cmd.Timeout < 0 {
		return invalid(op, "Timeout %v is negative", cmd.Timeout)
	}
	ms := millis(cmd.Timeout)
	if ms > math.MaxUint32 {
		return invalid(op, "Timeout %v is over the limit of %dms", cmd.Timeout, uint32(math.MaxUint32))
	}
	req.opts.timeout_ms = C.uint32_t(ms)
	switch {
	case cmd.CaptureLimit < 0:
		req.opts.capture_limit = 0
	case cmd.CaptureLimit > 0:
		req.opts.capture_limit = C.size_t(cmd.CaptureLimit)
	}
	return nil
}

// finish runs once the call is over, or instead of it: it ends the
// goroutines, frees the C memory and the handle, and returns what went wrong
// reading stdin or writing the streamed output.
func (req *execRequest) finish() error {
	req.cancel.stop()
	var err error
	if req.stdin != nil {
		err = req.stdin.close()
	}
	if req.output != nil {
		req.outputHandle.Delete()
		if err == nil {
			err = req.output.err
		}
	}
	req.argv.release()
	req.envp.release()
	C.free(unsafe.Pointer(req.cwd))
	C.free(unsafe.Pointer(req.opts))
	return err
}
