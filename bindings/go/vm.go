package agentvm

// #include <stdlib.h>
// #include <agentvm.h>
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// VM is a running microVM. Its methods may be called from many goroutines
// at once (several Execs run side by side, each on its own connection to the
// guest agent). Close it when done: a VM holds a KVM VM, guest memory and
// threads; a forgotten VM is closed when the garbage collector finds it, but
// only then.
type VM struct {
	// mu is held shared by every call into the library and exclusively by
	// Close, so that agentvm_vm_free() never races another call on the VM,
	// which agentvm.h forbids.
	mu sync.RWMutex
	c  *C.agentvm_vm
	// console is the handle of a Go console writer, 0 without one; vCPU
	// threads use it until agentvm_vm_free() has joined them.
	console cgo.Handle
}

// New boots a VM from cfg and waits until its guest agent answers (unless
// cfg.NoAgent), so that Exec works as soon as it returns. On failure nothing
// is left behind.
func New(cfg Config) (*VM, error) {
	return boot("new", &cfg, true, func(c *C.agentvm_config, out **C.agentvm_vm) C.int {
		return C.agentvm_vm_new(c, out)
	})
}

// Restore starts a VM that resumes exactly where the snapshot at path was
// taken (see Snapshot) and waits for its agent, which then gets the host's
// wall clock and a fresh random seed. Of cfg only Console, AgentTimeout,
// NoAgent, VsockCID and Disks are used (Disks: none to reuse the snapshot's
// paths, else as many as it had, with the same flags and sizes); the rest
// comes from the snapshot. A nil cfg uses the library's defaults.
func Restore(path string, cfg *Config) (*VM, error) {
	cpath, err := cString("restore", "snapshot path", path)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cpath))
	return boot("restore", cfg, false, func(c *C.agentvm_config, out **C.agentvm_vm) C.int {
		return C.agentvm_vm_restore(cpath, c, out)
	})
}

// boot builds the configuration, creates the VM with create and starts it,
// releasing everything made so far on any failure.
func boot(op string, cfg *Config, machine bool, create func(*C.agentvm_config, **C.agentvm_vm) C.int) (*VM, error) {
	c, console, err := buildConfig(op, cfg, machine)
	if err != nil {
		return nil, err
	}
	defer C.agentvm_config_free(c)
	vm := &VM{console: console}
	var vmc *C.agentvm_vm
	err = call(op, func() C.int { return create(c, &vmc) })
	// A console *os.File is only a descriptor to C until create has duplicated it.
	runtime.KeepAlive(cfg)
	if err == nil {
		vm.c = vmc
		err = call(op, func() C.int { return C.agentvm_vm_start(vmc) })
	}
	if err != nil {
		vm.release()
		return nil, err
	}
	runtime.SetFinalizer(vm, (*VM).Close)
	return vm, nil
}

// use runs f on the C VM while holding mu shared, or returns ErrClosed.
func (vm *VM) use(f func(c *C.agentvm_vm) error) error {
	vm.mu.RLock()
	defer vm.mu.RUnlock()
	if vm.c == nil {
		return ErrClosed
	}
	return f(vm.c)
}

// Kill stops the guest at once, without waiting; Wait then reports
// ExitKilled, and calls in flight return an error. Safe at any time.
func (vm *VM) Kill() error {
	return vm.use(func(c *C.agentvm_vm) error {
		return call("kill", func() C.int { return C.agentvm_vm_kill(c) })
	})
}

// Close stops the VM if it still runs and releases it. Calls in flight on
// other goroutines (a long Exec) return an error right away and Close waits
// for them to; later calls return ErrClosed. Closing again is a no-op, and
// the error is always nil.
func (vm *VM) Close() error {
	// Kill first: otherwise Close would wait for the lock as long as the
	// longest command in flight runs.
	_ = vm.Kill()
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.release()
	runtime.SetFinalizer(vm, nil)
	return nil
}

// release frees the C VM, which joins the vCPU threads, and only then the
// console handle they used.
func (vm *VM) release() {
	C.agentvm_vm_free(vm.c)
	vm.c = nil
	if vm.console != 0 {
		vm.console.Delete()
		vm.console = 0
	}
}
