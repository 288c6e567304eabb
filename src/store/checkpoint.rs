//! The *checkpoint*: the whole store written to one file (periodically and at shutdown) and
//! read back at start, so range rules have their history right after a restart. A crash loses
//! at most one checkpoint interval. The file is written to a temporary name, synced and renamed,
//! so a crash mid-write leaves the previous checkpoint intact.
//!
//! Format (little-endian): `SWSTORE1`, u64 series count; per series u16 label count, labels as
//! (u32 length, bytes) name/value pairs, u32 chunk count; per chunk u16 samples, u32 length,
//! the chunk's compressed bytes.

use super::Store;
use super::chunk::Chunk;
use std::io::{self, Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"SWSTORE1";

/// What a checkpoint held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Series written or restored.
    pub series: usize,
    /// Samples written or restored.
    pub samples: usize,
    /// Size of the file in bytes.
    pub bytes: usize,
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
    buf.extend_from_slice(b);
}

/// Reads a checkpoint as a stream (a restore holds one series at a time, not the file).
struct Input<R> {
    r: R,
    read: usize,
}

impl<R: io::Read> Input<R> {
    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut b = [0; N];
        self.r.read_exact(&mut b).map_err(truncated)?;
        self.read += N;
        Ok(b)
    }
    fn u16(&mut self) -> io::Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    /// Appends a length-prefixed byte string to `out`; returns where it starts and ends there.
    /// Memory grows only with bytes actually read, whatever length a damaged file claims.
    fn append(&mut self, out: &mut Vec<u8>) -> io::Result<(usize, usize)> {
        let n = self.u32()? as usize;
        let start = out.len();
        let got = (&mut self.r).take(n as u64).read_to_end(out)?;
        if got != n {
            return Err(bad("truncated"));
        }
        self.read += n;
        Ok((start, start + n))
    }
}

fn truncated(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof { bad("truncated") } else { e }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("corrupt store checkpoint: {what}"))
}

impl Store {
    /// Writes every series to `path` (atomically), streaming through a buffered file: the read
    /// lock is held while the series are written (to the page cache), and the whole store is
    /// never copied into memory at once.
    pub fn checkpoint_to(&self, path: &Path) -> io::Result<CheckpointStats> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        let mut out = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
        let mut buf = Vec::with_capacity(4096);
        let mut stats = CheckpointStats::default();
        out.write_all(MAGIC)?;
        {
            let inner = self.read();
            out.write_all(&(inner.series.len() as u64).to_le_bytes())?;
            stats.bytes = MAGIC.len() + 8;
            for s in inner.series.values() {
                buf.clear();
                let pairs = inner.label_sets.get(s.labels);
                buf.extend_from_slice(&(pairs.clone().count() as u16).to_le_bytes());
                for (k, v) in pairs {
                    put_bytes(&mut buf, inner.interner.get(k).as_bytes());
                    put_bytes(&mut buf, inner.interner.get(v).as_bytes());
                }
                let at = buf.len();
                buf.extend_from_slice(&0u32.to_le_bytes());
                let mut n = 0u32;
                s.each_raw(&inner.files, |bytes, count| {
                    buf.extend_from_slice(&count.to_le_bytes());
                    put_bytes(&mut buf, bytes);
                    stats.samples += count as usize;
                    n += 1;
                })?;
                buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
                out.write_all(&buf)?;
                stats.bytes += buf.len();
                stats.series += 1;
            }
        }
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(stats)
    }

    /// Loads a checkpoint written by [`Store::checkpoint_to`] into this (empty) store. A missing
    /// file restores nothing; a corrupt one is an error and restores what came before the damage.
    pub fn restore_from(&self, path: &Path) -> io::Result<CheckpointStats> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(CheckpointStats::default()),
            Err(e) => return Err(e),
        };
        let mut r = Input { r: io::BufReader::with_capacity(1 << 16, file), read: 0 };
        if &r.array::<8>()? != MAGIC {
            return Err(bad("not a sidewatch store checkpoint"));
        }
        let mut stats = CheckpointStats::default();
        let n = r.u64()?;
        let (mut text, mut spans, mut raw) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let nl = r.u16()? as usize;
            text.clear();
            spans.clear();
            for _ in 0..2 * nl {
                spans.push(r.append(&mut text)?);
            }
            let text = std::str::from_utf8(&text).map_err(|_| bad("label is not UTF-8"))?;
            let label = |i: usize| text.get(spans[i].0..spans[i].1).ok_or_else(|| bad("label is not UTF-8"));
            let pairs = (0..nl).map(|i| Ok((label(2 * i)?, label(2 * i + 1)?))).collect::<io::Result<Vec<_>>>()?;
            let nc = r.u32()?;
            let mut chunks = Vec::new();
            for _ in 0..nc {
                let count = r.u16()?;
                raw.clear();
                r.append(&mut raw)?;
                chunks.push(Chunk::from_raw(&raw, count).ok_or_else(|| bad("chunk does not decode"))?);
            }
            let Ok(id) = self.get_or_create(pairs.iter().copied()) else { continue };
            let mut inner = self.write();
            let super::Inner { series, files, .. } = &mut *inner;
            if let Some(s) = series.get_mut(id) {
                if s.sample_count(files) > 0 {
                    continue;
                }
                for c in chunks {
                    stats.samples += c.len();
                    s.push_restored(c, files);
                }
                stats.series += 1;
            }
        }
        stats.bytes = r.read;
        Ok(stats)
    }
}
