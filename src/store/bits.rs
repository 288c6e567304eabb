//! *Bit I/O* for chunks: a writer that appends bit fields to a byte vector (growing it in the
//! allocator's own steps, [`room_for`]) and a reader that takes up to 64 bits at a time through
//! a 128-bit window.

/// Appends bits to a byte buffer: a boxed slice whose length is the capacity (its unused tail
/// zero) and a 16-bit count of the bytes in use, both kept by the caller with `used`, the bits
/// used in the last byte (0 when that byte is full or there is none), so a head chunk packs
/// them with its other small fields (a `Vec` would take 24 bytes for the buffer alone).
pub(super) struct BitWriter<'a> {
    pub(super) data: &'a mut Box<[u8]>,
    pub(super) len: &'a mut u16,
    pub(super) used: &'a mut u8,
    /// Bytes at the buffer's end that are not room to write into (a head chunk's seek points).
    pub(super) tail: usize,
}

/// The buffer size to ask for when at least `want` bytes are needed: rounded up to what glibc's
/// allocator hands out whole (blocks of a multiple of 16 bytes, at least 32, of which it keeps 8
/// for its header), so no byte is paid for and left out of reach. A head chunk's buffer is the
/// store's largest allocation per series; asking for 64 bytes took an 80-byte block.
pub(super) fn room_for(want: usize) -> usize {
    (want + 8).div_ceil(16).max(2) * 16 - 8
}

/// Grows `data` to `room` bytes of room (at most `u16::MAX`) followed by its last `tail` bytes,
/// keeping its first `len` bytes (the room after them is zero, see [`BitWriter`]) and the tail
/// (moved to the new end); the new room is zero. Reallocates in place when the allocator can.
pub(super) fn grow_to(data: &mut Box<[u8]>, len: u16, room: usize, tail: usize) {
    let room = room.min(usize::from(u16::MAX));
    let old_room = data.len() - tail;
    if room <= old_room {
        return;
    }
    debug_assert!(data[usize::from(len)..old_room].iter().all(|&b| b == 0), "a buffer's unused room is zero");
    let mut v = std::mem::take(data).into_vec();
    v.reserve_exact(room - old_room);
    v.resize(room + tail, 0);
    v.copy_within(old_room..old_room + tail, room);
    v[old_room..room].fill(0);
    *data = v.into_boxed_slice();
}

impl BitWriter<'_> {
    /// Takes the next (zero) byte, growing when full by 16 bytes or an eighth, whichever is
    /// more, to a size the allocator hands out whole ([`room_for`]; not doubling, as `Vec::push`
    /// would, nor by half, as before): a head chunk then has at most ~16 bytes of room it does not
    /// use, where growing by half left a sixth of it unused on average (heaptrack, 100k series
    /// from the 1 h checkpoint: 9.3 MiB of head buffers asked for before, 8.0 MiB after, and no
    /// rounding up by the allocator). The cost is a reallocation every ~16 samples of a series,
    /// often in place. Chunks seal long before 64 KiB ([`super::chunk::MAX_BYTES`]).
    fn push_byte(&mut self) {
        let len = usize::from(*self.len);
        if len + self.tail == self.data.len() {
            let room = room_for(len + (len / 8).max(16) + self.tail) - self.tail;
            grow_to(self.data, *self.len, room, self.tail);
        }
        *self.len += 1;
    }

    fn last_mut(&mut self) -> &mut u8 {
        &mut self.data[usize::from(*self.len) - 1]
    }

    pub(super) fn push_bit(&mut self, bit: bool) {
        if *self.used == 0 {
            self.push_byte();
        }
        if bit {
            *self.last_mut() |= 0x80 >> *self.used;
        }
        *self.used = (*self.used + 1) % 8;
    }

    pub(super) fn push_bits(&mut self, value: u64, n: u8) {
        let mut left = n;
        while left > 0 {
            if *self.used == 0 {
                self.push_byte();
            }
            let free = 8 - *self.used;
            let take = free.min(left);
            let shift = left - take;
            let chunk = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            *self.last_mut() |= chunk << (free - take);
            *self.used = (*self.used + take) % 8;
            left -= take;
        }
    }
}

/// Reads bits written by [`BitWriter`].
pub(super) struct BitReader<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
}

impl BitReader<'_> {
    pub(super) fn bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let b = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(b)
    }

    /// The next `n` (≤ 64) bits, read through one 128-bit big-endian window.
    pub(super) fn bits(&mut self, n: u8) -> Option<u64> {
        let n = n as usize;
        let end = self.pos + n;
        if end > self.bytes.len() * 8 {
            return None;
        }
        if n == 0 {
            return Some(0);
        }
        let byte = self.pos >> 3;
        let off = self.pos & 7;
        let word = match self.bytes.get(byte..byte + 16) {
            Some(b) => u128::from_be_bytes(b.try_into().ok()?),
            None => {
                let mut buf = [0u8; 16];
                let tail = &self.bytes[byte..];
                buf[..tail.len()].copy_from_slice(tail);
                u128::from_be_bytes(buf)
            }
        };
        self.pos = end;
        Some(((word << off) >> (128 - n)) as u64)
    }
}
