package agentvm

// #include <stdlib.h>
// #include <agentvm.h>
import "C"

import "unsafe"

// SnapshotOptions tunes Snapshot.
type SnapshotOptions struct {
	// Stop ends the VM once saved (Wait then reports ExitKilled); without it the VM goes on.
	Stop bool
	// Compress zlib-compresses guest memory: smaller files for shipping, but
	// a restore must inflate instead of mapping them, so it is slower and
	// its clones share no pages.
	Compress bool
}

// Snapshot saves the running VM's complete state to a file at path, from
// which Restore starts any number of independent clones. The guest stands
// still meanwhile (Execs in flight wait, then go on); the file appears
// complete or not at all. Every disk must be read-only (EBUSY otherwise).
func (vm *VM) Snapshot(path string, opts SnapshotOptions) error {
	cpath, err := cString("snapshot", "snapshot path", path)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cpath))
	var flags C.uint32_t
	if opts.Stop {
		flags |= C.AGENTVM_SNAPSHOT_STOP
	}
	if opts.Compress {
		flags |= C.AGENTVM_SNAPSHOT_COMPRESS
	}
	return vm.use(func(c *C.agentvm_vm) error {
		return call("snapshot", func() C.int { return C.agentvm_vm_snapshot(c, cpath, flags) })
	})
}
