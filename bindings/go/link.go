package agentvm

// cgo merges the directives of every file in a package, so the library's
// compile and link flags are stated once, here, for the Go files and for
// trampolines.c alike.

// #cgo pkg-config: agentvm
import "C"
