package agentvm

// #include <stdlib.h>
// #include <agentvm.h>
import "C"

import (
	"io"
	"math"
	"os"
	"runtime/cgo"
	"time"
	"unsafe"
)

// Where New looks for the guest when Config names none: the same defaults as
// the agentvm-exec tool, which guest/kernel/install.sh and the build fill.
const (
	defaultKernel = "/usr/local/share/agentvm/vmlinux"
	defaultInitrd = "/usr/local/share/agentvm/initrd.cpio.gz"
)

// Config describes a VM for New. The zero value boots the default guest
// (see Kernel and Initrd) with the library's defaults: 1 vCPU, 256 MiB, the
// guest agent awaited for up to 60 s, console output discarded.
type Config struct {
	// Kernel is the guest kernel, an x86_64 vmlinux ELF or bzImage. Empty:
	// $AGENTVM_KERNEL, else /usr/local/share/agentvm/vmlinux.
	Kernel string
	// Initrd is the initial ramdisk. Empty: $AGENTVM_INITRD, else
	// /usr/local/share/agentvm/initrd.cpio.gz, the guest agent's.
	Initrd string
	// Cmdline is extra kernel command line, appended to the library's own.
	Cmdline string
	// VCPUs is the number of vCPUs, 1 to 64; 0 for the library's default of 1.
	VCPUs uint32
	// MemoryMiB is guest memory, 16 to 65536 MiB; 0 for the library's default of 256.
	MemoryMiB uint32
	// Disks are raw images attached as /dev/vda, /dev/vdb, ... in this order (at most 8).
	Disks []Disk
	// VsockCID is the guest's vsock address, 3 to 4294967294; 0 for the default of 3.
	VsockCID uint32
	// AgentTimeout is how long New waits for the guest agent to answer; 0
	// for the library's default of 60 s. Negative values are refused.
	AgentTimeout time.Duration
	// NoAgent boots a guest without the agent: New returns as soon as the
	// guest starts, and Exec, WriteFile and ReadFile are not available.
	NoAgent bool
	// Console receives the guest's console output; nil discards it. An
	// *os.File is handed to the library as a descriptor (and put in blocking
	// mode). Any other writer is called on a vCPU thread, one call at a time,
	// while that vCPU waits: it must be quick, and its errors are ignored.
	Console io.Writer
}

// Disk is a raw disk image attached to the guest as a virtio-blk device.
type Disk struct {
	// Path is the image file; the library locks it so that two VMs never write one image.
	Path string
	// ReadOnly lets the guest read the disk, never write it.
	ReadOnly bool
	// Root boots from this disk (root=/dev/vdX on the command line); at most one disk.
	Root bool
}

func (d Disk) flags() C.uint32_t {
	var f C.uint32_t
	if d.ReadOnly {
		f |= C.AGENTVM_DISK_READ_ONLY
	}
	if d.Root {
		f |= C.AGENTVM_DISK_ROOT
	}
	return f
}

// buildConfig turns cfg into a C configuration for agentvm_vm_new() (machine
// true) or agentvm_vm_restore() (machine false: the snapshot fixes kernel,
// initrd, command line, vCPUs and memory). A nil cfg gives a nil
// configuration, the library's defaults. The console handle is 0 or must be
// deleted once the VM is freed.
func buildConfig(op string, cfg *Config, machine bool) (*C.agentvm_config, cgo.Handle, error) {
	if cfg == nil {
		return nil, 0, nil
	}
	var c *C.agentvm_config
	if err := call(op, func() C.int { return C.agentvm_config_new(&c) }); err != nil {
		return nil, 0, err
	}
	var err error
	if machine {
		err = cfg.applyMachine(op, c)
	}
	if err == nil {
		err = cfg.applyRuntime(op, c)
	}
	var console cgo.Handle
	if err == nil {
		console, err = attachConsole(op, c, cfg.Console)
	}
	if err != nil {
		C.agentvm_config_free(c)
		return nil, 0, err
	}
	return c, console, nil
}

// applyMachine sets what only a fresh boot takes: kernel, initrd, command line, vCPUs, memory.
func (cfg *Config) applyMachine(op string, c *C.agentvm_config) error {
	kernel := pathOrDefault(cfg.Kernel, "AGENTVM_KERNEL", defaultKernel)
	if err := setString(op, "kernel path", kernel, func(s *C.char) C.int {
		return C.agentvm_config_set_kernel(c, s)
	}); err != nil {
		return err
	}
	initrd := pathOrDefault(cfg.Initrd, "AGENTVM_INITRD", defaultInitrd)
	if err := setString(op, "initrd path", initrd, func(s *C.char) C.int {
		return C.agentvm_config_set_initrd(c, s)
	}); err != nil {
		return err
	}
	if cfg.Cmdline != "" {
		if err := setString(op, "command line", cfg.Cmdline, func(s *C.char) C.int {
			return C.agentvm_config_set_cmdline(c, s)
		}); err != nil {
			return err
		}
	}
	if cfg.VCPUs != 0 {
		if err := call(op, func() C.int { return C.agentvm_config_set_vcpus(c, C.uint32_t(cfg.VCPUs)) }); err != nil {
			return err
		}
	}
	if cfg.MemoryMiB != 0 {
		return call(op, func() C.int { return C.agentvm_config_set_memory_mib(c, C.uint32_t(cfg.MemoryMiB)) })
	}
	return nil
}

// applyRuntime sets what Restore takes from a Config as well: agent timeout,
// vsock CID and disks (the console is attachConsole's).
func (cfg *Config) applyRuntime(op string, c *C.agentvm_config) error {
	if err := cfg.setAgentTimeout(op, c); err != nil {
		return err
	}
	if cfg.VsockCID != 0 {
		if err := call(op, func() C.int { return C.agentvm_config_set_vsock_cid(c, C.uint32_t(cfg.VsockCID)) }); err != nil {
			return err
		}
	}
	for _, d := range cfg.Disks {
		flags := d.flags()
		if err := setString(op, "disk path", d.Path, func(s *C.char) C.int {
			return C.agentvm_config_add_disk(c, s, flags)
		}); err != nil {
			return err
		}
	}
	return nil
}

// setAgentTimeout tells the library how long to wait for the guest agent.
// The library reads 0 as "no agent", so only NoAgent may lead there.
func (cfg *Config) setAgentTimeout(op string, c *C.agentvm_config) error {
	var ms int64
	switch {
	case cfg.NoAgent:
	case cfg.AgentTimeout == 0:
		return nil // the library's default
	case cfg.AgentTimeout < 0:
		return invalid(op, "AgentTimeout %v is negative; set NoAgent for a guest without the agent",
			cfg.AgentTimeout)
	default:
		if ms = millis(cfg.AgentTimeout); ms > math.MaxInt32 {
			return invalid(op, "AgentTimeout %v is over the limit of %v", cfg.AgentTimeout,
				time.Duration(math.MaxInt32)*time.Millisecond)
		}
	}
	return call(op, func() C.int { return C.agentvm_config_set_agent_timeout_ms(c, C.int32_t(ms)) })
}

// pathOrDefault is path, else the environment variable env, else fallback.
func pathOrDefault(path, env, fallback string) string {
	if path != "" {
		return path
	}
	if p := os.Getenv(env); p != "" {
		return p
	}
	return fallback
}

// setString passes s to a libagentvm setter, which copies it.
func setString(op, what, s string, set func(*C.char) C.int) error {
	cs, err := cString(op, what, s)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cs))
	return call(op, func() C.int { return set(cs) })
}
