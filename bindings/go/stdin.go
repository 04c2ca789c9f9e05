package agentvm

// #include <stdlib.h>
import "C"

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"unsafe"
)

// inlineStdinMax is the largest in-memory reader copied whole into
// stdin_data; a larger one streams through a pipe, so that its bytes are not
// held twice. 1 MiB is what the library queues towards the agent at once.
const inlineStdinMax = 1 << 20

// stdinSource is how a command's stdin reaches the library: bytes in C
// memory (stdin_data), the caller's file, or a pipe a goroutine fills from
// any other reader (stdin_fd).
type stdinSource struct {
	data unsafe.Pointer
	len  C.size_t
	fd   C.int
	// file is the caller's *os.File, kept alive while C reads its descriptor.
	file *os.File
	// pipe is the read end of the pipe that feed's goroutine writes;
	// copied delivers that goroutine's result as it ends.
	pipe   *os.File
	copied chan error
}

// openStdin prepares r as a command's stdin; nil means none (/dev/null).
func openStdin(r io.Reader) (*stdinSource, error) {
	s := &stdinSource{fd: -1}
	switch r := r.(type) {
	case nil:
		return s, nil
	case *os.File:
		// Fd puts the file in blocking mode, which the library's read() expects.
		s.file, s.fd = r, C.int(r.Fd())
		return s, nil
	case *bytes.Reader, *bytes.Buffer, *strings.Reader:
		if n := r.(interface{ Len() int }).Len(); n <= inlineStdinMax {
			return s, s.inline(r, n)
		}
	}
	return s, s.feed(r)
}

// inline copies the n unread bytes of an in-memory reader into C memory,
// consuming them as any read would.
func (s *stdinSource) inline(r io.Reader, n int) error {
	if n == 0 {
		return nil // no bytes: the same end of file as no stdin
	}
	s.data, s.len = C.malloc(C.size_t(n)), C.size_t(n)
	if _, err := io.ReadFull(r, unsafe.Slice((*byte)(s.data), n)); err != nil {
		return fmt.Errorf("agentvm: exec: reading stdin: %w", err)
	}
	return nil
}

// feed starts a goroutine that copies r into a pipe whose read end becomes
// stdin_fd. close waits for it, so it never outlives Exec.
func (s *stdinSource) feed(r io.Reader) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("agentvm: exec: the stdin pipe: %w", err)
	}
	s.pipe, s.fd = pr, C.int(pr.Fd())
	s.copied = make(chan error, 1)
	go func() {
		err := copyStdin(pw, r)
		pw.Close() // the command's end of file
		s.copied <- err
	}()
	return nil
}

// copyStdin copies r to w until r ends, and returns r's error. A failed
// write only means the command's side is gone (it ended without reading
// everything, and close closed the pipe): that is no error, as in os/exec.
func copyStdin(w io.Writer, r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("agentvm: exec: reading stdin: %w", err)
		}
	}
}

// close releases stdin once the call is over: it frees the C copy, closes
// the pipe so that a blocked write of the feeding goroutine fails, and waits
// for that goroutine, returning its reader's error. A reader blocked in Read
// holds it up until that Read returns.
func (s *stdinSource) close() error {
	C.free(s.data)
	runtime.KeepAlive(s.file)
	if s.pipe == nil {
		return nil
	}
	s.pipe.Close()
	return <-s.copied
}
