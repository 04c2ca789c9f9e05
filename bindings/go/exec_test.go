package agentvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"
)

func TestExecExitCodeAndOutput(t *testing.T) {
	res := run(t, shared, Cmd{Args: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	if res.ExitCode != 3 || res.Signal != 0 || res.TimedOut || res.NotStarted {
		t.Errorf("got exit %d signal %d timed out %v not started %v, want exit 3 only",
			res.ExitCode, res.Signal, res.TimedOut, res.NotStarted)
	}
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
		t.Errorf("stdout %q stderr %q, want \"out\\n\" and \"err\\n\"", res.Stdout, res.Stderr)
	}
	if res.GuestPID == 0 || res.Host <= 0 {
		t.Errorf("guest pid %d, host time %v: want both set", res.GuestPID, res.Host)
	}
}

func TestExecNotStarted(t *testing.T) {
	res := run(t, shared, Cmd{Args: []string{"/no/such/program"}})
	if !res.NotStarted || res.ExitCode != 127 || res.ExecErrno != syscall.ENOENT {
		t.Errorf("not started %v, exit %d, errno %v; want true, 127, ENOENT",
			res.NotStarted, res.ExitCode, res.ExecErrno)
	}
}

func TestExecEmptyArgs(t *testing.T) {
	_, err := shared.Exec(context.Background(), Cmd{})
	var e *Error
	if !errors.As(err, &e) || e.Errno != syscall.EINVAL || e.Op != "exec" || e.Message == "" {
		t.Fatalf("got %#v, want an *Error for exec with EINVAL and a message", err)
	}
}

// catStdin runs cat with stdin and checks that it echoes want.
func catStdin(t *testing.T, name string, stdin io.Reader, want []byte) {
	t.Helper()
	res := run(t, shared, Cmd{Args: []string{"cat"}, Stdin: stdin})
	if !bytes.Equal(res.Stdout, want) {
		t.Errorf("%s: cat echoed %d bytes, want the %d given", name, len(res.Stdout), len(want))
	}
}

func TestExecStdinInMemory(t *testing.T) {
	small := "hello, stdin\n"
	catStdin(t, "strings.Reader", strings.NewReader(small), []byte(small))
	catStdin(t, "bytes.Reader", bytes.NewReader([]byte(small)), []byte(small))
	catStdin(t, "bytes.Buffer", bytes.NewBufferString(small), []byte(small))
	catStdin(t, "empty bytes.Reader", bytes.NewReader(nil), []byte{})
	// Over inlineStdinMax: streamed through the pipe instead.
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16)
	catStdin(t, "3 MiB bytes.Reader", bytes.NewReader(big), big)
}

func TestExecStdinReader(t *testing.T) {
	text := strings.Repeat("a plain reader, read in halves\n", 5000)
	catStdin(t, "io.Reader", iotest.HalfReader(strings.NewReader(text)), []byte(text))

	f, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	catStdin(t, "*os.File", f, []byte(text))
}

// A command that never reads its stdin must not leave Exec waiting for the reader.
func TestExecStdinUnread(t *testing.T) {
	endless := iotest.HalfReader(bytes.NewReader(make([]byte, 64<<20)))
	start := time.Now()
	res := run(t, shared, Cmd{Args: []string{"true"}, Stdin: endless})
	if res.ExitCode != 0 || time.Since(start) > 20*time.Second {
		t.Errorf("exit %d after %v, want 0 at once", res.ExitCode, time.Since(start))
	}
}

func TestExecStdinReaderError(t *testing.T) {
	broken := io.MultiReader(strings.NewReader("part"), iotest.ErrReader(io.ErrUnexpectedEOF))
	res, err := shared.Exec(context.Background(), Cmd{Args: []string{"cat"}, Stdin: broken})
	if !errors.Is(err, io.ErrUnexpectedEOF) || res == nil {
		t.Fatalf("got %v, %v: want a result and the reader's error", res, err)
	}
}

func TestExecEnvAndDir(t *testing.T) {
	res := run(t, shared, Cmd{
		Args: []string{"sh", "-c", `echo "$GREETING"; pwd; echo "${HOME-unset}"`},
		Env:  []string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin", "GREETING=hi there"},
		Dir:  "/proc",
	})
	if want := "hi there\n/proc\nunset\n"; string(res.Stdout) != want {
		t.Errorf("stdout %q, want %q", res.Stdout, want)
	}
	// nil Env is the library's default, which sets HOME.
	if home := sh(t, `echo "$HOME"`); home != "/root\n" {
		t.Errorf("default HOME %q, want /root", home)
	}
}

func TestExecMissingDir(t *testing.T) {
	_, err := shared.Exec(context.Background(), Cmd{Args: []string{"true"}, Dir: "/no/such/dir"})
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("got %v, want ENOENT", err)
	}
}

func TestExecStreaming(t *testing.T) {
	var out, errs bytes.Buffer
	var wantOut, wantErr strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&wantOut, "out %d\n", i)
		fmt.Fprintf(&wantErr, "err %d\n", i)
	}
	res := run(t, shared, Cmd{
		Args:   []string{"sh", "-c", `i=0; while [ $i -lt 200 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done`},
		Stdout: &out,
		Stderr: &errs,
	})
	if out.String() != wantOut.String() || errs.String() != wantErr.String() {
		t.Errorf("streamed %d/%d bytes of stdout/stderr, want %d/%d in order",
			out.Len(), errs.Len(), wantOut.Len(), wantErr.Len())
	}
	if string(res.Stdout) != wantOut.String() || string(res.Stderr) != wantErr.String() {
		t.Errorf("the result captured %d/%d bytes, want the streamed ones too", len(res.Stdout), len(res.Stderr))
	}
}

func TestExecCaptureNone(t *testing.T) {
	var out bytes.Buffer
	res := run(t, shared, Cmd{Args: []string{"echo", "streamed only"}, Stdout: &out, CaptureLimit: CaptureNone})
	if out.String() != "streamed only\n" || len(res.Stdout) != 0 {
		t.Errorf("streamed %q, captured %q: want the line streamed and nothing captured", out.String(), res.Stdout)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

func TestExecWriterError(t *testing.T) {
	res, err := shared.Exec(context.Background(), Cmd{Args: []string{"echo", "x"}, Stdout: failingWriter{}})
	if !errors.Is(err, io.ErrShortWrite) || res == nil || res.ExitCode != 0 {
		t.Fatalf("got %v, %v: want the result and the writer's error", res, err)
	}
}

func TestExecTimeout(t *testing.T) {
	start := time.Now()
	res := run(t, shared, Cmd{Args: []string{"sleep", "30"}, Timeout: 500 * time.Millisecond})
	if !res.TimedOut || res.Signal != 9 || res.ExitCode != -1 {
		t.Errorf("timed out %v, signal %d, exit %d; want true, 9, -1", res.TimedOut, res.Signal, res.ExitCode)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("took %v", elapsed)
	}
}

// sleepGone reports whether no `sleep 1000` runs in the shared guest any more, polling for a few seconds.
func sleepGone(t *testing.T) bool {
	return eventually(5*time.Second, func() bool {
		res := run(t, shared, Cmd{Args: []string{"sh", "-c", "ps | grep '[s]leep 1000'"}})
		return res.ExitCode == 1
	})
}

func TestExecCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel after ~300 ms, once a probe has seen the sleep run: a probe that
	// never matches would make sleepGone below prove nothing.
	seen := make(chan bool, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		res, err := shared.Exec(context.Background(), Cmd{Args: []string{"sh", "-c", "ps | grep '[s]leep 1000'"}})
		seen <- err == nil && res.ExitCode == 0
		cancel()
	}()
	start := time.Now()
	res, err := shared.Exec(ctx, Cmd{Args: []string{"sleep", "1000"}})
	elapsed := time.Since(start)
	if !<-seen {
		t.Error("the probe did not see the running sleep 1000")
	}
	if !errors.Is(err, context.Canceled) || res != nil {
		t.Fatalf("got %v, %v; want context.Canceled", res, err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("cancellation took %v", elapsed)
	}
	if !sleepGone(t) {
		t.Error("the guest's sleep 1000 still runs after the cancellation")
	}
}

func TestExecDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := shared.Exec(ctx, Cmd{Args: []string{"sleep", "1000"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if !sleepGone(t) {
		t.Error("the guest's sleep 1000 still runs after the deadline")
	}
}

func TestExecAlreadyCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := shared.Exec(ctx, Cmd{Args: []string{"touch", "/tmp/ran-despite-cancel"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if res := run(t, shared, Cmd{Args: []string{"test", "-e", "/tmp/ran-despite-cancel"}}); res.ExitCode != 1 {
		t.Error("the command ran although its context was cancelled before")
	}
}

// Console output from the boot and from a command reaches a Go writer, called on a vCPU thread.
func TestConsoleWriter(t *testing.T) {
	sh(t, "echo console-marker > /dev/console")
	if !eventually(5*time.Second, func() bool { return sharedConsole.contains("console-marker") }) {
		t.Error("the console writer never saw the marker")
	}
	if !sharedConsole.contains("agentvm-agent: ready") {
		t.Error("the console writer missed the agent's boot message")
	}
}
