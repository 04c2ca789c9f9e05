package agentvm

// #include <agentvm.h>
import "C"

import (
	"fmt"
	"io"
)

// outputSink hands a command's output to Cmd.Stdout and Cmd.Stderr as it
// arrives. libagentvm calls output_fn only on the thread inside
// agentvm_vm_exec(), so a sink is used by one goroutine, its Exec's, and
// needs no lock.
type outputSink struct {
	stdout, stderr io.Writer
	// err is the first failed write; the output after it is dropped.
	err error
}

func (s *outputSink) write(stream int, p []byte) {
	if s.err != nil {
		return
	}
	w, name := s.stdout, "stdout"
	if stream == C.AGENTVM_STDERR {
		w, name = s.stderr, "stderr"
	}
	if w == nil {
		return
	}
	if _, err := w.Write(p); err != nil {
		s.err = fmt.Errorf("agentvm: exec: writing the command's %s: %w", name, err)
	}
}
