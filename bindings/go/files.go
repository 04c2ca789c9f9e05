package agentvm

// #include <stdlib.h>
// #include <stdint.h>
// #include <agentvm.h>
import "C"

import (
	"math"
	"os"
	"unsafe"
)

// WriteFile creates or replaces the guest file at path with data. mode sets
// the permission bits exactly (the guest's umask does not apply), including
// os.ModeSetuid, os.ModeSetgid and os.ModeSticky; any other type bit is
// refused. Parent directories must exist.
func (vm *VM) WriteFile(path string, data []byte, mode os.FileMode) error {
	const op = "write file"
	bits, err := unixMode(op, mode)
	if err != nil {
		return err
	}
	cpath, err := cString(op, "guest path", path)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cpath))
	var p unsafe.Pointer // NULL for no bytes, which the library accepts
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return vm.use(func(c *C.agentvm_vm) error {
		return call(op, func() C.int {
			return C.agentvm_vm_write_file(c, cpath, p, C.size_t(len(data)), bits)
		})
	})
}

// unixMode maps Go's portable mode bits to the st_mode permission bits the guest uses.
func unixMode(op string, mode os.FileMode) (C.uint32_t, error) {
	if mode&^(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
		return 0, invalid(op, "mode %v is not a regular file's permission bits", mode)
	}
	bits := C.uint32_t(mode.Perm())
	if mode&os.ModeSetuid != 0 {
		bits |= 04000
	}
	if mode&os.ModeSetgid != 0 {
		bits |= 02000
	}
	if mode&os.ModeSticky != 0 {
		bits |= 01000
	}
	return bits, nil
}

// ReadFile returns the contents of the regular guest file at path. A file
// larger than maxSize bytes gives EFBIG; maxSize <= 0 sets no limit.
func (vm *VM) ReadFile(path string, maxSize int) ([]byte, error) {
	const op = "read file"
	cpath, err := cString(op, "guest path", path)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cpath))
	limit := C.size_t(math.MaxUint64)
	if maxSize > 0 {
		limit = C.size_t(maxSize)
	}
	var data []byte
	err = vm.use(func(c *C.agentvm_vm) error {
		var buf unsafe.Pointer
		var n C.size_t
		if err := call(op, func() C.int { return C.agentvm_vm_read_file(c, cpath, limit, &buf, &n) }); err != nil {
			return err
		}
		defer C.agentvm_buffer_free(buf)
		data = goBytes(buf, n)
		return nil
	})
	return data, err
}
