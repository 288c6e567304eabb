//! *Bit I/O* for chunks: a writer that appends bit fields to a byte vector (growing it by half)
//! and a reader that takes up to 64 bits at a time through a 128-bit window.

/// Appends bits to a byte vector; `used` is the number of bits used in its last byte (0 when
/// that byte is full or there is none), kept by the caller (so a chunk packs it with its other
/// small fields).
pub(super) struct BitWriter<'a> {
    pub(super) bytes: &'a mut Vec<u8>,
    pub(super) used: &'a mut u8,
}

impl BitWriter<'_> {
    /// Appends a zero byte, growing by half (not doubling, as `Vec::push` would) when full: a
    /// series' first chunk, which has no predecessor to size it from, then ends within ~1/3 of
    /// its size instead of up to 2×.
    fn push_byte(&mut self) {
        if self.bytes.len() == self.bytes.capacity() {
            let grow = (self.bytes.len() / 2).max(16);
            self.bytes.reserve_exact(grow);
        }
        self.bytes.push(0);
    }

    pub(super) fn push_bit(&mut self, bit: bool) {
        if *self.used == 0 {
            self.push_byte();
        }
        if bit {
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 0x80 >> *self.used;
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
            let last = self.bytes.len() - 1;
            self.bytes[last] |= chunk << (free - take);
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
