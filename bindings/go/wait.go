package agentvm

// #include <agentvm.h>
import "C"

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// ExitReason says why a VM ended.
type ExitReason int

// The reasons Wait reports, agentvm_exit_reason's values.
const (
	// ExitPoweroff: the guest powered off through a platform event (not on x86_64; see ExitReboot).
	ExitPoweroff ExitReason = C.AGENTVM_EXIT_POWEROFF
	// ExitReboot: the guest reset the machine, which is how an x86_64 guest
	// shuts down (`reboot`, or a panic). The VM is not restarted.
	ExitReboot ExitReason = C.AGENTVM_EXIT_REBOOT
	// ExitKilled: Kill, Close or Snapshot with Stop ended it.
	ExitKilled ExitReason = C.AGENTVM_EXIT_KILLED
	// ExitCrash: the guest crashed (triple fault) or the VMM hit an unrecoverable error.
	ExitCrash ExitReason = C.AGENTVM_EXIT_CRASH
)

// String returns "poweroff", "reboot", "killed" or "crash".
func (r ExitReason) String() string {
	switch r {
	case ExitPoweroff:
		return "poweroff"
	case ExitReboot:
		return "reboot"
	case ExitKilled:
		return "killed"
	case ExitCrash:
		return "crash"
	}
	return fmt.Sprintf("ExitReason(%d)", int(r))
}

// waitSlice bounds each agentvm_vm_wait() call, which knows nothing of
// contexts: Wait notices a cancelled ctx, and Close gets its lock, within it.
const waitSlice = 100 * time.Millisecond

// Wait blocks until the VM ends or ctx is done, and returns why it ended.
// An ended VM stays ended, so later Waits return at once. For ExitCrash the
// error is an *Error (Errno 0) holding the library's cause. When ctx ends
// first, the error satisfies errors.Is(err, ctx.Err()).
func (vm *VM) Wait(ctx context.Context) (ExitReason, error) {
	for {
		reason, err := vm.waitFor(waitSlice)
		if !errors.Is(err, syscall.ETIMEDOUT) {
			return reason, err
		}
		if ctx.Err() != nil {
			return 0, contextError("wait", ctx)
		}
	}
}

// waitFor is one agentvm_vm_wait(); its -ETIMEDOUT means "still running".
func (vm *VM) waitFor(d time.Duration) (ExitReason, error) {
	var reason C.agentvm_exit_reason
	var crash string
	err := vm.use(func(c *C.agentvm_vm) error {
		return call("wait", func() C.int {
			rc := C.agentvm_vm_wait(c, C.int(millis(d)), &reason)
			// The cause of a crash is the detail message of this successful call.
			if rc == 0 && reason == C.AGENTVM_EXIT_CRASH {
				crash = C.GoString(C.agentvm_last_error())
			}
			return rc
		})
	})
	if err != nil {
		return 0, err
	}
	if reason == C.AGENTVM_EXIT_CRASH {
		return ExitCrash, &Error{Op: "wait", Message: crash}
	}
	return ExitReason(reason), nil
}
