package agentvm

// #include <agentvm.h>
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"syscall"
)

// Error is a failed libagentvm call: the negative errno it returned and the
// detail message agentvm_last_error() gave for it.
//
// Error unwraps to its Errno, so errors.Is(err, syscall.ENOENT) and
// errors.Is(err, fs.ErrNotExist) both hold for a missing file.
type Error struct {
	// Op names the operation of this package that failed ("new", "exec", "read file", ...).
	Op string
	// Errno is the error number; 0 only for a guest crash reported by Wait.
	Errno syscall.Errno
	// Message is the library's one-sentence cause (the path, the value, the limit).
	Message string
}

// Error returns "agentvm: <op>: <message>", with the errno's text when the library gave no message.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Errno.Error()
	}
	return "agentvm: " + e.Op + ": " + msg
}

// Unwrap returns the Errno, or nil when there is none.
func (e *Error) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// ErrClosed is returned by every method of a VM that Close has released.
var ErrClosed = errors.New("agentvm: the VM is closed")

// call runs f, one or more libagentvm calls, and turns a negative return into
// an *Error. The detail message is thread-local in C, so f and the read of
// agentvm_last_error() must run on one OS thread: the goroutine is pinned to
// its thread for both.
func call(op string, f func() C.int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if rc := f(); rc < 0 {
		return &Error{Op: op, Errno: syscall.Errno(-rc), Message: C.GoString(C.agentvm_last_error())}
	}
	return nil
}

// invalid is an *Error for bad input this package refuses before calling C.
func invalid(op, format string, args ...interface{}) error {
	return &Error{Op: op, Errno: syscall.EINVAL, Message: fmt.Sprintf(format, args...)}
}

// contextError wraps ctx's error so that errors.Is(err, context.Canceled) and
// errors.Is(err, context.DeadlineExceeded) hold.
func contextError(op string, ctx context.Context) error {
	return fmt.Errorf("agentvm: %s: %w", op, ctx.Err())
}
