"""Keep one KVM vCPU halted in L1 for as long as L1 runs: started before every command.

L1's kernel enables a static key in __schedule (preempt_notifier_key) while a KVM vCPU is in
use and disables it when none is, patching its own text through int3 breakpoints each time.
Tests that create and destroy VMs one after another flip it at nearly every VM, and QEMU's
multi-threaded TCG has locked L1 up in that patching: both CPUs looping in exc_int3 at
__schedule+0x2ab (tests/vmhost/README.md). A vCPU that stays in KVM_RUN the whole time keeps
the key on, so the command's VMs flip nothing. A VM that merely exists is not enough (checked by
reading the site through /proc/kcore: NOP with an idle VM, JMP with this one).

usage: kvm-key-holder.py READY_FILE   (creates READY_FILE once the vCPU is about to run, then
blocks in KVM_RUN until L1 powers off). Standard library only; runs under /usr/bin/python3.
"""
import ctypes
import fcntl
import mmap
import os
import struct
import sys

KVM_CREATE_VM = 0xAE01
KVM_CREATE_VCPU = 0xAE41
KVM_CREATE_IRQCHIP = 0xAE60
KVM_RUN = 0xAE80
KVM_SET_USER_MEMORY_REGION = 0x4020AE46
HLT = b"\xf4"
# The reset vector, 0xfffffff0, lies in this 64 KiB of guest memory: filled with hlt, the vCPU
# halts on its first instruction; with the in-kernel irqchip and no interrupt it never wakes.
ROM_BASE, ROM_SIZE = 0xFFFF0000, 0x10000


def main():
    kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
    fcntl.ioctl(vm, KVM_CREATE_IRQCHIP, 0)
    rom = mmap.mmap(-1, ROM_SIZE)
    rom.write(HLT * ROM_SIZE)
    address = ctypes.addressof(ctypes.c_char.from_buffer(rom))
    fcntl.ioctl(vm, KVM_SET_USER_MEMORY_REGION,
                struct.pack("<IIQQQ", 0, 0, ROM_BASE, ROM_SIZE, address))
    vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
    open(sys.argv[1], "w").close()
    fcntl.ioctl(vcpu, KVM_RUN, 0)
    return 1  # a halted vCPU with no interrupt source never returns


if __name__ == "__main__":
    sys.exit(main())
