package agentvm

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"
)

func TestFileRoundTrip(t *testing.T) {
	data := append([]byte("binary\x00safe\n"), bytes.Repeat([]byte{0xff, 0x00}, 100000)...)
	for _, c := range []struct {
		mode os.FileMode
		want string
	}{{0640, "640\n"}, {0755 | os.ModeSetuid, "4755\n"}} {
		if err := shared.WriteFile("/tmp/roundtrip", data, c.mode); err != nil {
			t.Fatalf("WriteFile %v: %v", c.mode, err)
		}
		got, err := shared.ReadFile("/tmp/roundtrip", 0)
		if err != nil {
			t.Fatalf("ReadFile: %v", err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("read back %d bytes, want the %d written", len(got), len(data))
		}
		if mode := sh(t, "stat -c %a /tmp/roundtrip"); mode != c.want {
			t.Errorf("mode %v became %q in the guest, want %q", c.mode, mode, c.want)
		}
	}
	if got, err := shared.ReadFile("/tmp/roundtrip", 10); !errors.Is(err, syscall.EFBIG) {
		t.Errorf("ReadFile with a 10-byte limit: %d bytes, %v; want EFBIG", len(got), err)
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := shared.ReadFile("/no/such/file", 0)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want fs.ErrNotExist", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Errno != syscall.ENOENT || e.Op != "read file" || e.Message == "" {
		t.Errorf("got %#v, want an *Error for read file with ENOENT and a message", err)
	}
}

func TestWriteFileBadMode(t *testing.T) {
	err := shared.WriteFile("/tmp/dir", nil, os.ModeDir|0755)
	if !errors.Is(err, syscall.EINVAL) {
		t.Errorf("got %v, want EINVAL", err)
	}
}
