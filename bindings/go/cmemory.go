package agentvm

// #include <stdlib.h>
import "C"

import (
	"strings"
	"unsafe"
)

// cString copies s into C memory for a call that copies it in turn; the
// caller frees it with C.free. C would cut s at an embedded NUL byte without
// a word, so such a string is refused instead.
func cString(op, what, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, invalid(op, "%s %q contains a NUL byte", what, s)
	}
	return C.CString(s), nil
}

// cStringArray is a NULL-terminated array of C strings in C memory, as argv
// and envp are.
type cStringArray struct {
	array **C.char
	items []*C.char
}

// newCStringArray copies list into C memory; release frees it.
func newCStringArray(op, what string, list []string) (*cStringArray, error) {
	a := &cStringArray{}
	for _, s := range list {
		cs, err := cString(op, what, s)
		if err != nil {
			a.release()
			return nil, err
		}
		a.items = append(a.items, cs)
	}
	n := len(a.items) + 1
	// cgo's C.malloc never returns NULL: it crashes the program as Go's own allocator does.
	a.array = (**C.char)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	slots := unsafe.Slice(a.array, n)
	copy(slots, a.items)
	slots[n-1] = nil
	return a, nil
}

// release frees the strings and the array; releasing a nil *cStringArray is a no-op.
func (a *cStringArray) release() {
	if a == nil {
		return
	}
	for _, cs := range a.items {
		C.free(unsafe.Pointer(cs))
	}
	C.free(unsafe.Pointer(a.array))
	a.array, a.items = nil, nil
}

// goBytes copies n bytes of C memory; unlike C.GoBytes its length is not an int32.
func goBytes(p unsafe.Pointer, n C.size_t) []byte {
	b := make([]byte, int(n))
	copy(b, unsafe.Slice((*byte)(p), int(n)))
	return b
}
