package agentvm

// A file with //export may only declare in its preamble: the C trampolines
// that call these functions live in trampolines.c.

// #include <stddef.h>
// #include <stdint.h>
import "C"

import (
	"io"
	"runtime/cgo"
	"unsafe"
)

// agentvmGoConsole receives guest console output for the io.Writer behind
// handle. The bytes are C memory valid only during the call, which
// io.Writer's contract (never retain p) allows to pass without a copy.
//
//export agentvmGoConsole
func agentvmGoConsole(data *C.char, n C.size_t, handle C.uintptr_t) {
	w := cgo.Handle(handle).Value().(io.Writer)
	// The vCPU that wrote the console can do nothing about a failed write: it is dropped.
	_, _ = w.Write(unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n)))
}

// agentvmGoOutput receives a chunk of a command's stdout or stderr for the
// outputSink behind handle.
//
//export agentvmGoOutput
func agentvmGoOutput(stream C.int, data unsafe.Pointer, n C.size_t, handle C.uintptr_t) {
	sink := cgo.Handle(handle).Value().(*outputSink)
	sink.write(int(stream), unsafe.Slice((*byte)(data), int(n)))
}
