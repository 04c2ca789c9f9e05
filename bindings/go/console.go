package agentvm

// #include "trampolines.h"
import "C"

import (
	"io"
	"os"
	"runtime/cgo"
)

// attachConsole routes the guest console to w. An *os.File is handed to the
// library as a descriptor, which agentvm_vm_new() duplicates, so the caller
// must keep the file open until then. Any other writer goes through the
// console callback; the returned handle must live until agentvm_vm_free(),
// since the vCPUs call it for the VM's whole life. It is 0 for no callback.
func attachConsole(op string, c *C.agentvm_config, w io.Writer) (cgo.Handle, error) {
	switch w := w.(type) {
	case nil:
		return 0, nil // the library discards console output by default
	case *os.File:
		// Fd puts the file in blocking mode, which the library's console writes expect.
		fd := C.int(w.Fd())
		return 0, call(op, func() C.int { return C.agentvm_config_set_console_fd(c, fd) })
	default:
		h := cgo.NewHandle(w)
		if err := call(op, func() C.int { return C.agentvm_go_set_console(c, C.uintptr_t(h)) }); err != nil {
			h.Delete()
			return 0, err
		}
		return h, nil
	}
}
