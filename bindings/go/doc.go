// Package agentvm runs commands in disposable KVM microVMs through
// libagentvm: boot a guest whose init is the agentvm agent, run commands in
// it, move files in and out, snapshot it and restore clones.
//
//	vm, err := agentvm.New(agentvm.Config{MemoryMiB: 512})
//	if err != nil {
//		return err
//	}
//	defer vm.Close()
//	res, err := vm.Exec(ctx, agentvm.Cmd{Args: []string{"uname", "-a"}, Timeout: 10 * time.Second})
//	if err != nil {
//		return err
//	}
//	fmt.Printf("exit %d: %s", res.ExitCode, res.Stdout)
//
// Failed library calls return an *Error, which unwraps to its syscall.Errno:
// errors.Is(err, fs.ErrNotExist) holds for a missing guest file. Exec stops
// the guest command when its context is done, and then returns an error for
// which errors.Is(err, context.Canceled) or context.DeadlineExceeded holds.
// Cmd.Stdout and Cmd.Stderr receive output as it arrives.
//
// The package links libagentvm through pkg-config (package "agentvm"); the
// library must find /dev/kvm at run time.
package agentvm
