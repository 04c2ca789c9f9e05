#!/usr/bin/env python3
"""Write the seed inputs in corpus/fuzz-snapshot/seed-*: well-formed snapshot
files (doc/snapshot-format.md) that the fuzzer would not find on its own, for
the input modes described at the top of fuzz-snapshot.c. Run from anywhere;
rewrites only the seed-* files."""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = 4096
HEADER_SIZE = 4096
X86_64 = 1
COMPRESSED = 1
# fuzz-snapshot.c's mode bits
RAW_FILE, VALID_IDENTITY, MODE_COMPRESSED, WRITER_LAYOUT, FIX_BITMAP_CRC = 0x01, 0x02, 0x04, 0x08, 0x20


def record(tag, index, payload):
    return struct.pack('<IIQ', tag, index, len(payload)) + payload + bytes(-len(payload) % 8)


STATE = record(1, 0, struct.pack('<6I', 1, 1, 0, 1, 3, 0)) + record(257, 0, struct.pack('<I', 2500000)) + \
    record(261, 0, bytes(range(13))) + record(3, 0, b'')


def ram(pages):
    """Every other page holds a pattern; the rest are zero."""
    return b''.join(bytes([(p * 7 + i) % 251 + 1 for i in range(PAGE)]) if p % 2 == 0 else bytes(PAGE)
                    for p in range(pages))


def compressed_section(memory):
    pages = len(memory) // PAGE
    bitmap = bytearray((pages + 7) // 8)
    stored = b''
    for p in range(pages):
        page = memory[p * PAGE:(p + 1) * PAGE]
        if any(page):
            bitmap[p // 8] |= 1 << (p % 8)
            stored += page
    head = struct.pack('<Q', pages) + bytes(bitmap) + struct.pack('<I', zlib.crc32(bytes(bitmap)))
    return head + bytes(-len(head) % 8) + zlib.compress(stored, 1)


def header(flags, state_size, state_crc, memory_offset, memory_size, memory_stored):
    fields = struct.pack('<8sIIIIQQQQQI16I', b'AGVMSNAP', 1, HEADER_SIZE, X86_64, flags, HEADER_SIZE,
                         state_size, memory_offset, memory_size, memory_stored, state_crc,
                         *range(16))
    fields += struct.pack('<I', zlib.crc32(fields))
    return fields + bytes(HEADER_SIZE - len(fields))


def snapshot_file(memory, compress):
    memory_offset = (HEADER_SIZE + len(STATE) + PAGE - 1) // PAGE * PAGE
    section = compressed_section(memory) if compress else memory
    page0 = header(COMPRESSED if compress else 0, len(STATE), zlib.crc32(STATE), memory_offset,
                   len(memory), len(section))
    body = STATE + bytes(memory_offset - HEADER_SIZE - len(STATE))
    return page0 + body + section


def snapshot_seeds():
    memory = ram(4)
    yield 'seed-file-compressed', bytes([RAW_FILE]) + snapshot_file(memory, True)
    yield 'seed-file-raw', bytes([RAW_FILE]) + snapshot_file(ram(2), False)
    mode = VALID_IDENTITY | MODE_COMPRESSED | WRITER_LAYOUT | FIX_BITMAP_CRC
    yield 'seed-layout-compressed', bytes([mode]) + struct.pack('<HB', len(STATE), 3) + STATE + \
        compressed_section(memory)
    # Every field from the input: a raw-memory file of one page right after the state.
    fields = struct.pack('<III', 1, X86_64, 0) + struct.pack('<5Q', HEADER_SIZE, len(STATE), 2 * PAGE, PAGE, PAGE)
    yield 'seed-fields', bytes([0]) + fields + STATE + bytes(PAGE - len(STATE)) + ram(1)


def main():
    directory = os.path.join(HERE, 'corpus', 'fuzz-snapshot')
    os.makedirs(directory, exist_ok=True)
    for name, data in snapshot_seeds():
        with open(os.path.join(directory, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
