//! A *chunk*: up to [`chunk_samples`] consecutive samples of one series, compressed as in
//! Gorilla (and Prometheus' XOR chunks): timestamps as delta-of-delta in variable-width
//! buckets, values as the XOR with the previous value's bits. Bits are kept exactly, so a
//! real `NaN` and Prometheus' StaleNaN marker (a distinct bit pattern) both survive.

use super::bits::{BitReader, BitWriter, grow_to, room_for};
use super::chunkfile::{ChunkFiles, Loc};

/// Samples per chunk on average before it is sealed (30 minutes at a 15 s interval).
pub(crate) const CHUNK_SAMPLES: u8 = 120;

/// How far a series' chunk length is spread around [`CHUNK_SAMPLES`] (either way).
const CHUNK_JITTER: u8 = 30;

/// Samples a chunk of the series with fingerprint `fp` holds before it is sealed: between
/// 90 and 150 (it fits a byte), 120 on average, fixed per series. Series created together (every series of a
/// target, at its first scrape) would otherwise fill and seal their head chunks in the same
/// scrape, forever: all heads full at once (the process' memory peak, ~120 samples' bytes per
/// series) and 100k chunks written in one append. Spread, the heads are half full on average
/// at any moment and sealing is spread over the scrapes.
pub(crate) fn chunk_samples(fp: u64) -> u8 {
    CHUNK_SAMPLES - CHUNK_JITTER + (fp % (2 * u64::from(CHUNK_JITTER) + 1)) as u8
}

/// The longest time a chunk may span (ms), so its end fits in 32 bits as an offset from its
/// start (~49 days; a series sampled less often than that seals a chunk per sample).
pub(crate) const MAX_SPAN: i64 = u32::MAX as i64;

/// The most bytes a chunk holds before it is sealed: its byte count is 16-bit, and the next
/// sample takes at most 19 bytes (a 64-bit delta-of-delta and a 64-bit XOR with its headers).
pub(crate) const MAX_BYTES: usize = u16::MAX as usize - 64;

/// Prometheus' staleness marker: a NaN with this exact bit pattern.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// True when `v` is the staleness marker (not merely any NaN).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Delta-of-delta buckets: (prefix bits, prefix length, payload bits).
const DOD_BUCKETS: [(u64, u8, u8); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

fn fits(v: i64, bits: u8) -> bool {
    let half = 1i64 << (bits - 1);
    v > -half && v <= half
}

/// Samples between *seek points* of the head chunk.
const SEEK_EVERY: u16 = 16;

/// The decoder state after sample `n - 1` of a chunk (`n == 0`: none), so reading a window at
/// the end of the head chunk — what rule evaluation at the current time does — need not decode
/// the chunk from its start. The head keeps the last two (every 16 samples), so windows up to
/// 16 samples back always start at one. Times are offsets from the chunk's first sample, so a
/// seek point takes [`SEEK_BYTES`]; the two are kept in the last bytes of the head's buffer,
/// after the room it grows into (not behind a pointer of their own in every head). Only the
/// heads of series that are read by windows keep them ([`Chunk::track_seeks`]): a series nobody
/// queries (most of a scrape, without rules) does not pay for them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Seek {
    v: u64,
    /// Time of sample `n - 1`, as an offset from the chunk's first sample.
    t: u32,
    delta: i32,
    /// Bit position of sample `n`.
    pos: u16,
    n: u8,
    leading: u8,
    trailing: u8,
}

/// Bytes of one seek point in a head's buffer.
const SEEK_BYTES: usize = 21;

/// Bytes of a head's buffer its two seek points take, when it keeps them.
const SEEKS_TAIL: usize = 2 * SEEK_BYTES;

impl Seek {
    fn put(&self, b: &mut [u8]) {
        b[0..8].copy_from_slice(&self.v.to_le_bytes());
        b[8..12].copy_from_slice(&self.t.to_le_bytes());
        b[12..16].copy_from_slice(&self.delta.to_le_bytes());
        b[16..18].copy_from_slice(&self.pos.to_le_bytes());
        b[18..21].copy_from_slice(&[self.n, self.leading, self.trailing]);
    }

    fn get(b: &[u8]) -> Seek {
        let word = |r: std::ops::Range<usize>| -> [u8; 4] { b[r].try_into().unwrap_or_default() };
        Seek {
            v: u64::from_le_bytes(b[0..8].try_into().unwrap_or_default()),
            t: u32::from_le_bytes(word(8..12)),
            delta: i32::from_le_bytes(word(12..16)),
            pos: u16::from_le_bytes([b[16], b[17]]),
            n: b[18],
            leading: b[19],
            trailing: b[20],
        }
    }
}

/// A chunk being appended to, or sealed (then only its bytes and bounds are kept). Its first
/// time is not kept beside its bytes: it is their first 8 bytes (the first sample is stored
/// raw); its last time and the last delta are 32-bit offsets (a chunk spans at most
/// [`MAX_SPAN`], and times only grow), the byte count is 16-bit and seek points live at the
/// end of the buffer: a head chunk takes 40 bytes instead of 72.
#[derive(Clone, Debug, Default)]
pub(crate) struct Chunk {
    /// The bytes, `len` of them in use, then zero room to grow into, then (when `seeking`) the
    /// two seek points ([`SEEKS_TAIL`] bytes).
    data: Box<[u8]>,
    len: u16,
    /// Bits used in the last byte in use (see [`BitWriter`]).
    used: u8,
    count: u16,
    /// Time of the last sample as an offset from the first.
    span: u32,
    // Append state.
    /// The last time delta (ms; positive, at most [`MAX_SPAN`]).
    t_delta: u32,
    v_bits: u64,
    leading: u8,
    trailing: u8,
    /// The buffer ends with the last two seek points (once a reader wants them).
    seeking: bool,
}

impl Chunk {
    /// Number of samples.
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }

    /// True when the chunk holds `limit` samples, or a sample at `t` would make it span more
    /// than [`MAX_SPAN`], or it holds [`MAX_BYTES`].
    pub(crate) fn is_full(&self, limit: u16, t: i64) -> bool {
        self.count >= limit
            || (self.count > 0 && t.saturating_sub(self.min_t()) > MAX_SPAN)
            || usize::from(self.len) >= MAX_BYTES
    }

    /// Compressed size in bytes.
    pub(crate) fn byte_len(&self) -> usize {
        self.data.len()
    }

    /// The bytes in use.
    fn bytes(&self) -> &[u8] {
        &self.data[..usize::from(self.len)]
    }

    /// Time of the first sample (ms): the first 8 bytes (0 when empty).
    fn min_t(&self) -> i64 {
        match self.data.get(..8) {
            Some(b) if self.count > 0 => i64::from_be_bytes(b.try_into().unwrap_or_default()),
            _ => 0,
        }
    }

    /// Turns a full chunk into a [`Sealed`] one: its bounds and count, and its bytes handed to
    /// `files` (a segment file, or memory, exact-size, when there is none or it cannot take
    /// them — it logs why).
    pub(crate) fn into_sealed(self, files: &mut ChunkFiles) -> Sealed {
        Sealed { min_t: self.min_t(), span: self.span, count: self.count, loc: files.put(self.bytes()) }
    }

    /// Time of the newest sample and its value's bits; `None` when empty.
    pub(crate) fn last(&self) -> Option<(i64, u64)> {
        (self.count > 0).then(|| (self.max_t(), self.v_bits))
    }

    /// Time of the last sample (ms; 0 when empty).
    fn max_t(&self) -> i64 {
        self.min_t() + i64::from(self.span)
    }

    /// A read-only view.
    pub(crate) fn view(&self) -> ChunkView<'_> {
        let seeks = [self.seek(0), self.seek(1)];
        ChunkView { data: self.bytes(), count: self.count, min_t: self.min_t(), max_t: self.max_t(), seeks }
    }

    /// Bytes at the end of the buffer that are seek points.
    fn tail(&self) -> usize {
        if self.seeking { SEEKS_TAIL } else { 0 }
    }

    /// Seek point `i` (0: the older), or none (`n == 0`).
    fn seek(&self, i: usize) -> Seek {
        if !self.seeking {
            return Seek::default();
        }
        let at = self.data.len() - SEEKS_TAIL + i * SEEK_BYTES;
        Seek::get(&self.data[at..at + SEEK_BYTES])
    }

    /// Appends a sample; the caller guarantees `t` is after the last sample and within
    /// [`MAX_SPAN`] of the first (see [`Chunk::is_full`]).
    pub(crate) fn append(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        let min_t = if self.count == 0 { t } else { self.min_t() };
        debug_assert!(t - min_t <= MAX_SPAN && (self.count == 0 || t > self.max_t()), "append past the chunk's bounds");
        let span = u32::try_from(t - min_t).unwrap_or(u32::MAX);
        match self.count {
            0 => {
                let tail = self.tail();
                if self.data.len() == tail {
                    // The raw first sample and room for ~24 more.
                    grow_to(&mut self.data, 0, room_for(40 + tail) - tail, tail);
                }
                // The first 8 bytes are the chunk's first time (`min_t`).
                self.w().push_bits(t as u64, 64);
                self.w().push_bits(bits, 64);
            }
            _ => {
                // The second sample stores its delta, later ones the change of delta; both in
                // the same variable-width buckets.
                let delta = span - self.span;
                self.push_signed(i64::from(delta) - i64::from(self.t_delta));
                self.t_delta = delta;
                self.push_value(bits);
            }
        }
        if self.count == 0 {
            self.v_bits = bits;
        }
        self.span = span;
        self.count += 1;
        if self.count.is_multiple_of(SEEK_EVERY) && self.count <= u16::from(u8::MAX) && self.seeking {
            let bits = usize::from(self.len) * 8 - if self.used == 0 { 0 } else { 8 - self.used as usize };
            // A seek point is SEEK_BYTES; one whose numbers do not fit (an interval of 24 days,
            // more than 64 Kibit) is skipped: readers then start from
            // an earlier one or the chunk's start.
            if let (Ok(delta), Ok(pos)) = (i32::try_from(self.t_delta), u16::try_from(bits)) {
                let at = self.data.len() - SEEKS_TAIL;
                self.data.copy_within(at + SEEK_BYTES..at + SEEKS_TAIL, at);
                let newest = Seek {
                    v: self.v_bits,
                    t: span,
                    delta,
                    pos,
                    n: self.count as u8,
                    leading: if self.leading == u8::MAX { 0 } else { self.leading },
                    trailing: self.trailing,
                };
                newest.put(&mut self.data[at + SEEK_BYTES..at + SEEKS_TAIL]);
            }
        }
    }

    fn w(&mut self) -> BitWriter<'_> {
        let tail = self.tail();
        BitWriter { data: &mut self.data, len: &mut self.len, used: &mut self.used, tail }
    }

    fn push_signed(&mut self, dod: i64) {
        if dod == 0 {
            self.w().push_bit(false);
        } else if let Some(&(prefix, plen, nbits)) = DOD_BUCKETS.iter().find(|b| fits(dod, b.2)) {
            self.w().push_bits(prefix, plen);
            self.w().push_bits(dod as u64 & ((1u64 << nbits) - 1), nbits);
        } else {
            self.w().push_bits(0b1111, 4);
            self.w().push_bits(dod as u64, 64);
        }
    }

    fn push_value(&mut self, bits: u64) {
        let xor = bits ^ self.v_bits;
        self.v_bits = bits;
        if xor == 0 {
            self.w().push_bit(false);
            return;
        }
        self.w().push_bit(true);
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != u8::MAX && leading >= self.leading && trailing >= self.trailing {
            self.w().push_bit(false);
            let sig = 64 - self.leading - self.trailing;
            let payload = xor >> self.trailing;
            self.w().push_bits(payload, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            let sig = 64 - leading - trailing;
            self.w().push_bit(true);
            self.w().push_bits(leading as u64, 5);
            self.w().push_bits((sig % 64) as u64, 6);
            self.w().push_bits(xor >> trailing, sig);
        }
    }

    /// Decodes every sample in order.
    pub(crate) fn iter(&self) -> ChunkIter<'_> {
        self.view().iter()
    }

    /// The raw bytes and sample count, for the checkpoint.
    pub(crate) fn raw(&self) -> (&[u8], u16) {
        (self.bytes(), self.count)
    }

    /// Rebuilds a chunk from checkpointed bytes by decoding and re-encoding (which also
    /// restores the append state). Returns `None` when the bytes do not decode.
    pub(crate) fn from_raw(bytes: &[u8], count: u16) -> Option<Chunk> {
        let len = u16::try_from(bytes.len()).ok()?;
        let src = Chunk { data: bytes.into(), len, count, ..Default::default() };
        let mut out = Chunk::new();
        let mut n = 0;
        for (t, v) in src.iter() {
            // Damaged bytes could decode to times that go back or span too long.
            if n > 0 && (t <= out.max_t() || out.is_full(u16::MAX, t)) {
                return None;
            }
            out.append(t, v);
            n += 1;
        }
        (n == count as usize).then_some(out)
    }

    /// Starts keeping seek points (from the next multiple of 16 samples on): the buffer grows
    /// by their bytes (zero: none yet).
    pub(crate) fn track_seeks(&mut self) {
        if !self.seeking {
            let room = self.data.len();
            let mut v = std::mem::take(&mut self.data).into_vec();
            v.resize(room_for(room + SEEKS_TAIL), 0);
            self.data = v.into_boxed_slice();
            self.seeking = true;
        }
    }

    /// Whether seek points are kept.
    pub(crate) fn tracks_seeks(&self) -> bool {
        self.seeking
    }

    /// An empty chunk.
    pub(crate) fn new() -> Chunk {
        Chunk { leading: u8::MAX, ..Default::default() }
    }

    /// An empty chunk with room for `bytes` (from the size of the series' previous chunk).
    pub(crate) fn with_capacity(bytes: usize) -> Chunk {
        let mut c = Chunk::new();
        grow_to(&mut c.data, 0, room_for(bytes), 0);
        c
    }
}

/// A full chunk kept for reading only: its bounds and count in memory (so a query that does
/// not need it never touches its bytes) and where its bytes are (a chunk file, or memory),
/// 24 bytes in all.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sealed {
    min_t: i64,
    /// `max_t - min_t` (not an `i64` end, which would take 8 bytes more).
    span: u32,
    count: u16,
    pub(crate) loc: Loc,
}

impl Sealed {
    /// A read-only view; `files` must be the store's chunk files, which hold its bytes.
    pub(crate) fn view<'a>(&'a self, files: &'a ChunkFiles) -> ChunkView<'a> {
        let seeks = [Seek::default(); 2];
        ChunkView { data: files.get(self.loc), count: self.count, min_t: self.min_t, max_t: self.max_t(), seeks }
    }

    /// Number of samples.
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }

    /// Time of the last sample (ms).
    pub(crate) fn max_t(&self) -> i64 {
        self.min_t + i64::from(self.span)
    }

    /// Time of the first sample (ms).
    pub(crate) fn min_t(&self) -> i64 {
        self.min_t
    }

    /// Bytes of the data: (in memory, in a chunk file).
    pub(crate) fn bytes(&self) -> (usize, usize) {
        let len = usize::from(self.loc.len);
        if self.loc.in_memory() { (len, 0) } else { (0, len) }
    }
}

/// What readers need of a chunk, sealed or not.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChunkView<'a> {
    data: &'a [u8],
    count: u16,
    min_t: i64,
    max_t: i64,
    /// A head's seek points (`n == 0`: none).
    seeks: [Seek; 2],
}

impl<'a> ChunkView<'a> {
    /// Number of samples.
    pub(crate) fn len(self) -> usize {
        self.count as usize
    }

    /// Time of the first sample (ms).
    pub(crate) fn min_t(self) -> i64 {
        self.min_t
    }

    /// Time of the last sample (ms).
    pub(crate) fn max_t(self) -> i64 {
        self.max_t
    }

    /// Decodes every sample in order.
    pub(crate) fn iter(self) -> ChunkIter<'a> {
        ChunkIter {
            r: BitReader { bytes: self.data, pos: 0 },
            left: self.count,
            n: 0,
            t: 0,
            delta: 0,
            v: 0,
            leading: 0,
            trailing: 0,
        }
    }
}

impl<'a> ChunkView<'a> {
    /// Decodes the samples from the latest seek point before `start` (or from the first), so
    /// every sample at or after `start` is among those returned.
    pub(crate) fn iter_from(self, start: i64) -> ChunkIter<'a> {
        match self.seeks.iter().rev().find(|s| s.n > 0 && self.min_t + i64::from(s.t) < start) {
            Some(s) => ChunkIter {
                r: BitReader { bytes: self.data, pos: s.pos as usize },
                left: self.count - u16::from(s.n),
                n: u16::from(s.n),
                t: self.min_t + i64::from(s.t),
                delta: i64::from(s.delta),
                v: s.v,
                leading: s.leading,
                trailing: s.trailing,
            },
            None => self.iter(),
        }
    }
}

/// Iterator over a chunk's samples.
pub(crate) struct ChunkIter<'a> {
    r: BitReader<'a>,
    left: u16,
    n: u16,
    t: i64,
    delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
}

impl ChunkIter<'_> {
    fn read_value(&mut self) -> Option<()> {
        if !self.r.bit()? {
            return Some(());
        }
        if self.r.bit()? {
            self.leading = self.r.bits(5)? as u8;
            let mut sig = self.r.bits(6)? as u8;
            if sig == 0 {
                sig = 64;
            }
            self.trailing = 64 - self.leading - sig;
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.r.bits(sig)?;
        self.v ^= bits << self.trailing;
        Some(())
    }

    fn step(&mut self) -> Option<(i64, f64)> {
        match self.n {
            0 => {
                self.t = self.r.bits(64)? as i64;
                self.v = self.r.bits(64)?;
            }
            _ => {
                let mut prefix = 0u8;
                while prefix < 4 && self.r.bit()? {
                    prefix += 1;
                }
                let dod = match prefix {
                    0 => 0,
                    4 => self.r.bits(64)? as i64,
                    p => {
                        let nbits = DOD_BUCKETS[p as usize - 1].2;
                        // Values in [-(2^(n-1)) + 1, 2^(n-1)] as two's complement in n bits.
                        let raw = self.r.bits(nbits)? as i64;
                        if raw > 1 << (nbits - 1) { raw - (1 << nbits) } else { raw }
                    }
                };
                self.delta += dod;
                self.t += self.delta;
                self.read_value()?;
            }
        }
        self.n += 1;
        Some((self.t, f64::from_bits(self.v)))
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let s = self.step();
        if s.is_none() {
            self.left = 0;
        }
        s
    }
}

#[cfg(test)]
#[path = "chunk_tests.rs"]
mod tests;
