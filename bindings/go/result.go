package agentvm

// #include <agentvm.h>
import "C"

import (
	"syscall"
	"time"
	"unsafe"
)

// Result is how a command ended, what it printed and what it cost.
type Result struct {
	// ExitCode is the exit status, 0 to 255; -1 when a signal ended the
	// command or it timed out; 127 (program not found) or 126 when NotStarted.
	ExitCode int
	// Signal is the signal that ended the command (9 after a Timeout), else 0.
	Signal int
	// Stdout and Stderr hold the captured output, up to Cmd.CaptureLimit bytes each.
	Stdout, Stderr []byte
	// TimedOut says Cmd.Timeout expired and the command's process group was killed.
	TimedOut bool
	// StdoutTruncated and StderrTruncated say a stream went over the capture limit.
	StdoutTruncated, StderrTruncated bool
	// NotStarted says the program could not be executed; ExecErrno says why.
	NotStarted bool
	// ExecErrno is execve's error when NotStarted, else 0.
	ExecErrno syscall.Errno
	// GuestPID is the command's pid in the guest; 0 if it never started.
	GuestPID uint32
	// Wall is the command's run time on the guest's clock.
	Wall time.Duration
	// User and Sys are the guest CPU times of the command and its waited-for children.
	User, Sys time.Duration
	// Host is the time Exec spent in the library, on the host's clock.
	Host time.Duration
	// MaxRSSKiB is the command's peak resident set size in the guest.
	MaxRSSKiB uint64
}

// newResult copies a C result into Go memory; the caller frees r.
func newResult(r *C.agentvm_exec_result) *Result {
	flag := func(bit C.uint32_t) bool { return r.flags&bit != 0 }
	micros := func(us C.uint64_t) time.Duration { return time.Duration(us) * time.Microsecond }
	return &Result{
		ExitCode:        int(r.exit_code),
		Signal:          int(r.signal),
		Stdout:          goBytes(unsafe.Pointer(r.stdout_data), r.stdout_len),
		Stderr:          goBytes(unsafe.Pointer(r.stderr_data), r.stderr_len),
		TimedOut:        flag(C.AGENTVM_EXEC_TIMED_OUT),
		StdoutTruncated: flag(C.AGENTVM_EXEC_STDOUT_TRUNCATED),
		StderrTruncated: flag(C.AGENTVM_EXEC_STDERR_TRUNCATED),
		NotStarted:      flag(C.AGENTVM_EXEC_NOT_STARTED),
		ExecErrno:       syscall.Errno(r.error),
		GuestPID:        uint32(r.guest_pid),
		Wall:            micros(r.wall_us),
		User:            micros(r.user_us),
		Sys:             micros(r.sys_us),
		Host:            micros(r.host_us),
		MaxRSSKiB:       uint64(r.maxrss_kib),
	}
}
