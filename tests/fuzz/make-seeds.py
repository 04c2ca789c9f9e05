#!/usr/bin/env python3
"""Write the seed inputs in corpus/<harness>/seed-*: well-formed starting
points (a driver's bring-up, valid chains and requests) that the fuzzers
would take long to find on their own. The input formats are described at the
top of each harness. Run from anywhere; rewrites only the seed-* files."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# virtio constants (linux/virtio_ring.h, virtio_mmio.h, virtio_blk.h)
NEXT, WRITE, INDIRECT = 1, 2, 4
STATUS, QUEUE_SEL, QUEUE_NUM_MAX, QUEUE_NUM, QUEUE_READY = 0x70, 0x30, 0x34, 0x38, 0x44
DEVICE_FEATURES, DEVICE_FEATURES_SEL = 0x10, 0x14
DRIVER_FEATURES, DRIVER_FEATURES_SEL = 0x20, 0x24
QUEUE_NOTIFY, INTERRUPT_STATUS, INTERRUPT_ACK = 0x50, 0x60, 0x64
DESC_LOW, DESC_HIGH, AVAIL_LOW, USED_LOW, CONFIG = 0x80, 0x84, 0x90, 0xa0, 0x100
T_IN, T_OUT, T_GET_ID, T_DISCARD = 0, 1, 8, 11

# One queue of 16 in guest RAM: rings at these gpas, an indirect table, buffers further up.
QSIZE, DESC, AVAIL, USED, TABLE = 16, 0x1000, 0x1100, 0x1200, 0x0800


def ram_image():
    """Two chains offered: a direct one (readable, writable) and an indirect one."""
    ram = bytearray(USED + 6 + 8 * QSIZE)

    def desc(at, addr, length, flags, nxt):
        struct.pack_into('<QIHH', ram, at, addr, length, flags, nxt)

    desc(DESC + 0 * 16, 0x4000, 16, NEXT, 1)
    desc(DESC + 1 * 16, 0x4100, 512, WRITE, 0)
    desc(DESC + 2 * 16, TABLE, 3 * 16, INDIRECT, 0)
    desc(TABLE + 0 * 16, 0x6000, 16, NEXT, 1)
    desc(TABLE + 1 * 16, 0x6100, 64, WRITE | NEXT, 2)
    desc(TABLE + 2 * 16, 0x10000, 1, WRITE, 0)  # in the second RAM region
    struct.pack_into('<HHHH', ram, AVAIL, 0, 2, 0, 2)  # flags, idx, ring[0], ring[1]
    return bytes(ram)


def virtqueue_seeds():
    POP, PUSH, NEEDS_INTERRUPT, ENABLE_NOTIFY, GUEST_WRITE = range(5)
    header = struct.pack('<HIIIB', QSIZE, DESC, AVAIL, USED, 3)  # indirect + event_idx
    script = bytes([POP, POP, PUSH]) + struct.pack('<I', 16) + bytes([PUSH]) + \
        struct.pack('<I', 64) + bytes([NEEDS_INTERRUPT, ENABLE_NOTIFY, GUEST_WRITE]) + \
        struct.pack('<HH', AVAIL + 2, 3) + bytes([POP, ENABLE_NOTIFY])
    yield 'seed-chains', header + struct.pack('<H', 0) + ram_image()
    yield 'seed-script', header + struct.pack('<H', len(script)) + script + ram_image()


def buf(data, writable=False):
    """One buffer of a chain as fuzz_build_chain() reads it."""
    return struct.pack('<H', len(data) | (0x8000 if writable else 0)) + data


def blk_request_seeds():
    def hdr(kind, sector):
        return struct.pack('<IIQ', kind, 0, sector)

    yield 'seed-in', buf(hdr(T_IN, 5)) + buf(bytes(512), True) + buf(bytes(1), True)
    yield 'seed-out-split-header', buf(hdr(T_OUT, 7)[:5]) + buf(hdr(T_OUT, 7)[5:] + bytes(512)) + \
        buf(bytes(513), True)
    yield 'seed-get-id', buf(hdr(T_GET_ID, 0)) + buf(bytes(20), True) + buf(bytes(1), True)
    yield 'seed-discard', buf(hdr(T_DISCARD, 0)) + buf(struct.pack('<QII', 8, 8, 0)) + \
        buf(bytes(1), True)


def vsock_packet_seeds():
    def hdr(op, length, flags=0):
        # src_cid 3 (the guest), dst_cid 2 (the host), ports, len, type stream, op, flags,
        # buf_alloc, fwd_cnt (linux/virtio_vsock.h)
        return struct.pack('<QQIIIHHIII', 3, 2, 1024, 5000, length, 1, op, flags, 65536, 0)

    yield 'seed-request', buf(hdr(1, 0))
    yield 'seed-rw-split', buf(hdr(5, 6)[:20]) + buf(hdr(5, 6)[20:] + b'hel') + buf(b'lo\n')
    yield 'seed-shutdown', buf(hdr(4, 0, 3))
    yield 'seed-rx-buffer', buf(bytes(44 + 64), True)


def virtio_mmio_seeds():
    WRITE_OP, READ_OP = 0, 1

    def w(offset, value):
        return bytes([WRITE_OP]) + struct.pack('<HQ', offset, value)

    def r(offset):
        return bytes([READ_OP]) + struct.pack('<H', offset)

    bring_up = (w(STATUS, 1) + w(STATUS, 3) +
                w(DEVICE_FEATURES_SEL, 1) + r(DEVICE_FEATURES) +
                w(DRIVER_FEATURES_SEL, 1) + w(DRIVER_FEATURES, 1) +  # VERSION_1
                w(DRIVER_FEATURES_SEL, 0) + w(DRIVER_FEATURES, 3 << 28) +  # indirect, event_idx
                w(STATUS, 0xb) + r(STATUS) +
                w(QUEUE_SEL, 0) + r(QUEUE_NUM_MAX) + w(QUEUE_NUM, QSIZE) +
                w(DESC_LOW, DESC) + w(DESC_HIGH, 0) + w(AVAIL_LOW, AVAIL) + w(USED_LOW, USED) +
                w(QUEUE_READY, 1) + w(STATUS, 0xf) + r(CONFIG))
    kick_and_reset = (w(QUEUE_NOTIFY, 0) + r(INTERRUPT_STATUS) + w(INTERRUPT_ACK, 1) +
                      w(STATUS, 0) + r(STATUS))
    knobs = 1 | 8 << 2  # two queues, 8 bytes of config space
    for name, script in (('seed-bring-up', bring_up), ('seed-kick-reset', bring_up + kick_and_reset)):
        yield name, struct.pack('<BHH', knobs, 256, len(script)) + script + ram_image()


# Agent protocol (doc/protocol.md): guest-to-host frame types.
G_HELLO, G_STARTED, G_STDOUT, G_STDERR, G_EXITED, G_ERROR, G_OK = 64, 66, 67, 68, 69, 70, 71
G_FILE_INFO, G_FILE_DATA, G_FILE_END, G_EXEC_FAILED = 72, 73, 74, 75


def frame(ftype, payload=b''):
    return struct.pack('<IHH', len(payload), ftype, 0) + payload


def string(text):
    return struct.pack('<I', len(text)) + text


def agent_client_seeds():
    """The byte choosing the request, then a well-formed reply stream for it."""
    hello = frame(G_HELLO, struct.pack('<I', 1) + string(b'agentvm-agent 0.1.0'))
    exited = frame(G_EXITED, struct.pack('<IIQQQQ', 0, 3, 10, 2, 1, 900))
    yield 'seed-exec', b'\0' + hello + frame(G_STARTED, struct.pack('<I', 7)) + \
        frame(G_STDOUT, b'hello') + frame(G_STDERR, b'oops') + exited
    yield 'seed-exec-failed', b'\0' + hello + frame(G_EXEC_FAILED, struct.pack('<I', 2) + string(b'no'))
    yield 'seed-file-read', b'\1' + hello + frame(G_FILE_INFO, struct.pack('<Q', 5)) + \
        frame(G_FILE_DATA, b'hel') + frame(G_FILE_DATA, b'lo') + frame(G_FILE_END)
    yield 'seed-file-write', b'\2' + hello + frame(G_OK)
    yield 'seed-error', b'\2' + hello + frame(G_ERROR, struct.pack('<I', 28) + string(b'full'))
    yield 'seed-sync', b'\3' + hello + frame(G_OK)
    yield 'seed-sync-error', b'\3' + hello + \
        frame(G_ERROR, struct.pack('<I', 1) + string(b'clock_settime: Operation not permitted'))


def main():
    for harness, seeds in (('fuzz-virtqueue', virtqueue_seeds), ('fuzz-blk-request', blk_request_seeds),
                           ('fuzz-virtio-mmio', virtio_mmio_seeds),
                           ('fuzz-vsock-packet', vsock_packet_seeds),
                           ('fuzz-agent-client', agent_client_seeds)):
        directory = os.path.join(HERE, 'corpus', harness)
        os.makedirs(directory, exist_ok=True)
        for name, data in seeds():
            with open(os.path.join(directory, name), 'wb') as f:
                f.write(data)


if __name__ == '__main__':
    main()
