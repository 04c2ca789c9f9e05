"""Hold one idle KVM VM in L1 for as long as L1 runs, then return: started before every command.

Creating and destroying VMs flips static keys in L1's KVM (the local APIC's "disabled" keys go
from 0 to 1 and back), and each flip patches L1's kernel text through int3 breakpoints. Under
QEMU's multi-threaded TCG such patching has locked L1 up: both of its CPUs were found looping in
exc_int3 (tests/vmhost/README.md). A VM that exists the whole time keeps those counts above zero,
so the command's VMs never flip them. Standard library only; runs in L1 under /usr/bin/python3.
"""
import fcntl
import os
import sys

KVM_CREATE_VM = 0xAE01
KVM_CREATE_VCPU = 0xAE41
KVM_CREATE_IRQCHIP = 0xAE60


def main():
    kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
    # With the in-kernel irqchip the vCPU gets a local APIC, created disabled: that holds the keys.
    fcntl.ioctl(vm, KVM_CREATE_IRQCHIP, 0)
    fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
    if os.fork():
        return 0  # the VM is held: the command may start
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    while True:
        os.pause()


if __name__ == "__main__":
    sys.exit(main())
